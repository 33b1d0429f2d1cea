"""braid._proto - the braid wire protocol (proto/PROTOCOL.md, version 1).

The message table and the field letters mirror proto/braid_msgs.def and
proto/braid_msg.c (tests/python/test_proto.py checks the table against the
.def file and replays the C unit test's golden and malformed vectors, so
the two cannot drift).

Decoding is total and refuses exactly what the C decoder refuses, for the
same reason (DecodeError.reason, the names braid_err_name() uses). The
header is read by a walk that is the C pre-scan (s_prescan) itself: every
claimed length and count is checked against the bytes present before
anything is built, nesting is capped at MAX_DEPTH, and only a walk that
ends exactly at the end of the frame is accepted. The walk builds the
values as it goes (msgpack's own unpacker would accept things the C side
refuses, such as odd timestamp extensions, and refuse others for other
reasons); encoding uses msgpack's packer, whose bytes equal msgpack-c's.
"""

import struct

import msgpack

VERSION = 1
# The package's version (braid.__version__), as workers report it in HELLO.
VERSION_STRING = "0.1.0"

MAX_BATCH = 1024
MAX_SOURCES = 32
MAX_NAME = 64
MAX_TEXT = 1024
MAX_QUERIES = 10000000
MAX_QUERY_LEN = 8192
MAX_INFLIGHT = 1000000
MAX_SLOTS = 65535
MAX_ATTEMPTS = 1000
MAX_HEADER = 8192
MAX_FRAME = 16 << 20
MAX_DEPTH = 3
MAX_RETRIES = 1000
MAX_MSEC = 604800000
MAX_EXIT_VALUE = 999
MAX_HOST = 255
MAX_VERSION = 64
MAX_DEDUP = 1024
# Partials in one DATA, DONE, PARTIAL or END (one parts frame).
MAX_PARTS = 65536
# Bytes of a QUERIES' parts frame (the frontend's ZMQ_MAXMSGSIZE).
MAX_QUERIES_FRAME = 65536
# Payload frames one message may carry: its parts frame, and a keyed DATA or
# DONE its keys frame after it.
MAX_FRAMES = 2
# The longest varint of a parts frame (values below 2^28).
VARINT_MAX = 4
HEARTBEAT_ENTRY = 20
RESUME_RANGE = 16
MAX_RESUME_RANGES = 65536
U64 = (1 << 64) - 1

# Channels (braid_channel_t).
CH_CLIENT, CH_TO_CLIENT, CH_WORKER, CH_TO_WORKER, CH_SINK = 1, 2, 3, 4, 5
CHANNELS = {"BRAID_CH_CLIENT": CH_CLIENT, "BRAID_CH_TO_CLIENT": CH_TO_CLIENT,
            "BRAID_CH_WORKER": CH_WORKER, "BRAID_CH_TO_WORKER": CH_TO_WORKER,
            "BRAID_CH_SINK": CH_SINK}

STATUS_NAMES = ("ok", "failed", "timeout", "cancelled")
STATUS_OK, STATUS_FAILED, STATUS_TIMEOUT, STATUS_CANCELLED = 0, 1, 2, 3
ORDER_SUBMIT, ORDER_ARRIVAL, ORDER_KEY = 0, 1, 2
FLAG_FAIL_FAST = 0x1
FLAG_RETRIES = 0x2
FLAG_RESUME = 0x4
# HELLO K: per source, what its partials carry.
SOURCE_KEYED = 0x1
SOURCE_SCORE_ASC = 0x2
SOURCE_FLAGS_MAX = 0x3

# ERROR codes (braid_err_code_t).
ERR_BAD_REQUEST, ERR_UNKNOWN_JOB, ERR_CONFLICT, ERR_TOO_MANY, ERR_UNAVAILABLE = \
    400, 404, 409, 429, 503
ERR_FULL = 507


def worker_capacity(slots):
    """Tasks a worker with this many slots holds at once: slots running and
    as many queued (braid_worker_capacity)."""
    return 2 * slots


# id: (name, fields, min payload frames, max payload frames, channel)
MESSAGES = {
    1: ("SUBMIT", "jomtfdyncS", 0, 0, CH_CLIENT),
    2: ("QUERIES", "jF", 1, 1, CH_CLIENT),
    3: ("CREDIT", "jc", 0, 0, CH_CLIENT),
    4: ("CANCEL", "j", 0, 0, CH_CLIENT),
    5: ("PING", "", 0, 0, CH_CLIENT),
    6: ("STATS", "", 0, 0, CH_CLIENT),
    8: ("RESUME", "jqse", 1, 1, CH_CLIENT),
    10: ("ACCEPT", "j", 0, 0, CH_TO_CLIENT),
    11: ("PARTIAL", "jOqse", 1, 1, CH_TO_CLIENT),
    12: ("END", "jOqsxpaEWBQUXD", 0, 1, CH_TO_CLIENT),
    13: ("JOB_END", "jOxR", 0, 0, CH_TO_CLIENT),
    14: ("ERROR", "jCE", 0, 0, CH_TO_CLIENT),
    15: ("PONG", "", 0, 0, CH_TO_CLIENT),
    16: ("STATS_REPLY", "", 1, 1, CH_TO_CLIENT),
    17: ("RESTART", "jOqsa", 0, 0, CH_TO_CLIENT),
    20: ("HELLO", "NlSKHPV", 0, 0, CH_WORKER),
    21: ("WHEARTBEAT", "", 1, 1, CH_WORKER),
    22: ("BYE", "", 0, 0, CH_WORKER),
    23: ("TASK_ACK", "ka", 0, 0, CH_WORKER),
    30: ("TASK", "kaNrwtbz", 1, 1, CH_TO_WORKER),
    31: ("TASK_CREDIT", "kawb", 0, 0, CH_TO_WORKER),
    32: ("TASK_CANCEL", "ka", 0, 0, CH_TO_WORKER),
    33: ("BHEARTBEAT", "", 0, 0, CH_TO_WORKER),
    34: ("RESET", "", 0, 0, CH_TO_WORKER),
    40: ("DATA", "kaehz", 1, 1, CH_SINK),
    41: ("DONE", "kaxpgEXAhz", 0, 1, CH_SINK),
}
TYPES = {name: mid for mid, (name, *_rest) in MESSAGES.items()}
MSG_SUBMIT = 1
MSG_QUERIES = 2
MSG_CREDIT = 3
MSG_CANCEL = 4
MSG_PING = 5
MSG_STATS = 6
MSG_RESUME = 8
MSG_ACCEPT = 10
MSG_PARTIAL = 11
MSG_END = 12
MSG_JOB_END = 13
MSG_ERROR = 14
MSG_PONG = 15
MSG_STATS_REPLY = 16
MSG_RESTART = 17
MSG_HELLO = 20
MSG_WHEARTBEAT = 21
MSG_BYE = 22
MSG_TASK_ACK = 23
MSG_TASK = 30
MSG_TASK_CREDIT = 31
MSG_TASK_CANCEL = 32
MSG_BHEARTBEAT = 33
MSG_RESET = 34
MSG_DATA = 40
MSG_DONE = 41

# letter: (attribute, kind, min, max). Kinds: u (unsigned int), bin16,
# text (str, no NUL), name (str of [A-Za-z0-9_.-]; empty allowed when min is
# 0), names (array of name), flags (array of 0..SOURCE_FLAGS_MAX), summary
# (array of [ok, failed, timeout, cancelled]).
FIELDS = {
    "j": ("job_id", "bin16", 0, 0),
    "o": ("order", "u", 0, ORDER_KEY),
    "m": ("max_inflight", "u", 0, MAX_INFLIGHT),
    "t": ("timeout_msec", "u", 0, MAX_MSEC),
    "f": ("flags", "u", 0, 0xFFFF),
    "d": ("deadline_msec", "u", 0, MAX_MSEC),
    "y": ("retries", "u", 0, MAX_RETRIES),
    "g": ("transient", "u", 0, 1),
    "n": ("count", "u", 1, MAX_QUERIES),
    "c": ("credit", "u", 0, U64),
    "F": ("first", "u", 0, MAX_QUERIES - 1),
    "O": ("out_seq", "u", 0, U64),
    "q": ("query", "u", 0, MAX_QUERIES - 1),
    "s": ("source", "u", 0, MAX_SOURCES - 1),
    "e": ("seq", "u", 0, U64),
    "x": ("status", "u", 0, len(STATUS_NAMES) - 1),
    "p": ("parts", "u", 0, U64),
    "a": ("attempts", "u", 0, MAX_ATTEMPTS),
    "C": ("code", "u", 0, 999),
    "k": ("task_id", "u", 0, U64),
    "l": ("slots", "u", 1, MAX_SLOTS),
    "w": ("window", "u", 0, U64),
    "r": ("resume", "u", 0, U64),
    "b": ("window_bytes", "u", 0, U64),
    "E": ("text", "text", 0, MAX_TEXT),
    "N": ("name", "name", 1, MAX_NAME),
    "S": ("sources", "names", 1, MAX_SOURCES),
    "R": ("summary", "summary", 1, MAX_SOURCES),
    "X": ("exit_value", "u", 0, MAX_EXIT_VALUE),
    "A": ("retry_after_msec", "u", 0, MAX_MSEC),
    "B": ("started_msec", "u", 0, U64),
    "Q": ("queue_msec", "u", 0, U64),
    "U": ("run_msec", "u", 0, U64),
    "W": ("worker", "name", 0, MAX_NAME),
    "h": ("keyed", "u", 0, 1),
    "P": ("pid", "u", 0, (1 << 32) - 1),
    "H": ("host", "text", 0, MAX_HOST),
    "V": ("version", "text", 0, MAX_VERSION),
    "K": ("source_flags", "flags", 0, MAX_SOURCES),
    "z": ("token", "u", 0, U64),
    "D": ("duplicates", "u", 0, U64),
}

# Refusal reasons, in braid_err_t order (braid_err_name()).
ERR_NAMES = ("ok", "empty", "too-big", "msgpack", "depth", "not-array", "version", "unknown-type",
             "channel", "field-count", "field-type", "range", "frames", "frame-size", "routing")

_NAME_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


class DecodeError(Exception):
    """A refused message; .reason is the C decoder's name for why."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class Msg:
    """A header: .type, .type_name, and one attribute per field letter
    (.name is the N field: a worker's or source's name). Fields a message
    type does not carry read as their zero value, as in braid_msg_t."""

    job_id = b"\0" * 16
    order = max_inflight = timeout_msec = flags = deadline_msec = retries = transient = 0
    count = credit = first = out_seq = query = source = seq = status = parts = attempts = 0
    code = task_id = slots = window = resume = window_bytes = 0
    exit_value = retry_after_msec = started_msec = queue_msec = run_msec = keyed = pid = token = 0
    duplicates = 0
    text = ""
    name = ""
    worker = host = version = ""
    sources = ()
    summary = ()
    source_flags = ()

    def __init__(self, mtype, **values):
        if mtype not in MESSAGES:
            raise ValueError("unknown message type %r" % (mtype,))
        self.type = mtype
        for attr, value in values.items():
            if attr not in _ATTRS:
                raise TypeError("unknown field %s" % attr)
            setattr(self, attr, value)

    @property
    def type_name(self):
        return MESSAGES[self.type][0]

    def fields(self):
        """{attribute: value} of the fields this message type carries."""
        return {FIELDS[c][0]: getattr(self, FIELDS[c][0]) for c in MESSAGES[self.type][1]}

    def __eq__(self, other):
        return isinstance(other, Msg) and self.type == other.type and \
            self.fields() == other.fields()

    def __repr__(self):
        parts = ["%s=%r" % kv for kv in self.fields().items()]
        return "Msg(%s%s)" % (self.type_name, ", " + ", ".join(parts) if parts else "")


_ATTRS = frozenset(f[0] for f in FIELDS.values())


def name_valid(name):
    """True if name (str or bytes) is 1..64 bytes of [A-Za-z0-9_.-]."""
    data = name.encode("utf-8", "surrogateescape") if isinstance(name, str) else bytes(name)
    return 1 <= len(data) <= MAX_NAME and all(b in _NAME_CHARS for b in data)


def status_name(status):
    return STATUS_NAMES[status] if 0 <= status < len(STATUS_NAMES) else "unknown"


# ---------------------------------------------------------------------------
# Decoding: the walk.
#
# Values: a positive integer (any msgpack int format holding a value >= 0,
# as msgpack-c reports it) is an int; a str is _Str (its raw bytes); a bin
# is bytes; an array is a list; a map is _Map; anything else (nil, bool,
# float, ext, negative int) is _OTHER.

class _Str(bytes):
    """A msgpack str: its raw bytes (no UTF-8 check, as msgpack-c)."""


class _Map(list):
    """A msgpack map: its keys and values, flat (never a field's type)."""


_OTHER = object()
_U8, _U16, _U32, _U64 = struct.Struct(">B"), struct.Struct(">H"), struct.Struct(">I"), \
    struct.Struct(">Q")
_S8, _S16, _S32, _S64 = struct.Struct(">b"), struct.Struct(">h"), struct.Struct(">i"), \
    struct.Struct(">q")
# Format byte: (length-field struct, raw bytes that follow, kind) for the
# formats with a length field or a fixed body. kind: "bin", "str", "ext",
# "array", "map", or a struct for the numbers.
_LENGTHS = {0xc4: (_U8, "bin"), 0xc5: (_U16, "bin"), 0xc6: (_U32, "bin"),
            0xd9: (_U8, "str"), 0xda: (_U16, "str"), 0xdb: (_U32, "str"),
            0xc7: (_U8, "ext"), 0xc8: (_U16, "ext"), 0xc9: (_U32, "ext"),
            0xdc: (_U16, "array"), 0xdd: (_U32, "array"),
            0xde: (_U16, "map"), 0xdf: (_U32, "map")}
_NUMBERS = {0xcc: _U8, 0xcd: _U16, 0xce: _U32, 0xcf: _U64,
            0xd0: _S8, 0xd1: _S16, 0xd2: _S32, 0xd3: _S64,
            0xca: 4, 0xcb: 8, 0xd4: 2, 0xd5: 3, 0xd6: 5, 0xd7: 9, 0xd8: 17}


def _walk(p, size, pos, depth):
    """The object at pos: (value, position after it). Raises DecodeError
    (depth, msgpack) exactly where s_prescan() returns them."""
    if depth > MAX_DEPTH:
        raise DecodeError("depth")
    if pos >= size:
        raise DecodeError("msgpack")
    b = p[pos]
    pos += 1
    if b <= 0x7f:
        return b, pos
    if b >= 0xe0:
        return _OTHER, pos      # negative fixint
    if b in (0xc0, 0xc2, 0xc3):
        return _OTHER, pos
    avail = size - pos
    hi = b & 0xf0
    if hi == 0x80 or hi == 0x90:
        kind, n = ("map" if hi == 0x80 else "array"), b & 0x0f
    elif (b & 0xe0) == 0xa0:
        kind, n = "str", b & 0x1f
    elif b in _NUMBERS:
        form = _NUMBERS[b]
        width = form if isinstance(form, int) else form.size
        if width > avail:
            raise DecodeError("msgpack")
        if isinstance(form, int):
            return _OTHER, pos + width          # float, fixext
        v = form.unpack_from(p, pos)[0]
        return (v if v >= 0 else _OTHER), pos + width
    elif b in _LENGTHS:
        lenfmt, kind = _LENGTHS[b]
        if lenfmt.size > avail:
            raise DecodeError("msgpack")
        n = lenfmt.unpack_from(p, pos)[0]
        pos += lenfmt.size
        avail -= lenfmt.size
        if kind == "ext":
            n += 1                              # the ext type byte
    else:
        raise DecodeError("msgpack")            # 0xc1: never used
    if kind == "array" or kind == "map":
        children = n * 2 if kind == "map" else n
        # Every child takes at least one byte: a count beyond the bytes
        # left is a lie, refused before anything is built for it.
        if children > avail:
            raise DecodeError("msgpack")
        out = _Map() if kind == "map" else []
        for _ in range(children):
            v, pos = _walk(p, size, pos, depth + 1)
            out.append(v)
        return out, pos
    if n > avail:
        raise DecodeError("msgpack")
    end = pos + n
    if kind == "str":
        return _Str(p[pos:end]), end
    if kind == "bin":
        return bytes(p[pos:end]), end
    return _OTHER, end                          # ext


def _decode_name(v, lo=1):
    if type(v) is not _Str:
        raise DecodeError("field-type")
    if lo == 0 and len(v) == 0:
        return ""                       # W: a task that never ran
    if not (1 <= len(v) <= MAX_NAME and all(c in _NAME_CHARS for c in v)):
        raise DecodeError("range")
    return v.decode("ascii")


def _decode_field(letter, v):
    attr, kind, lo, hi = FIELDS[letter]
    if kind == "u":
        if type(v) is not int:
            raise DecodeError("field-type")
        if v < lo or v > hi:
            raise DecodeError("range")
        return v
    if kind == "bin16":
        if type(v) is not bytes:
            raise DecodeError("field-type")
        if len(v) != 16:
            raise DecodeError("range")
        return v
    if kind == "text":
        if type(v) is not _Str:
            raise DecodeError("field-type")
        if len(v) > hi or b"\0" in v:
            raise DecodeError("range")
        return v.decode("utf-8", "surrogateescape")
    if kind == "name":
        return _decode_name(v, lo)
    if type(v) is not list:
        raise DecodeError("field-type")
    if not lo <= len(v) <= hi:
        raise DecodeError("range")
    if kind == "names":
        return [_decode_name(x) for x in v]
    if kind == "flags":
        for x in v:
            if type(x) is not int:
                raise DecodeError("field-type")
            if x < 0 or x > SOURCE_FLAGS_MAX:
                raise DecodeError("range")
        return list(v)
    # summary
    rows = []
    for row in v:
        if type(row) is not list:
            raise DecodeError("field-type")
        if len(row) != len(STATUS_NAMES):
            raise DecodeError("range")
        for cell in row:
            if type(cell) is not int:
                raise DecodeError("field-type")
        rows.append(row)
    return rows


def decode(header, nframes, channel):
    """Decode one header frame of a message with nframes payload frames that
    travelled on channel. Returns a Msg or raises DecodeError."""
    if not header:
        raise DecodeError("empty")
    size = len(header)
    if size > MAX_HEADER:
        raise DecodeError("too-big")
    top, pos = _walk(header, size, 0, 0)
    if pos != size:
        raise DecodeError("msgpack")            # trailing bytes
    if type(top) is not list or len(top) < 2:
        raise DecodeError("not-array")
    version, mtype = top[0], top[1]
    if type(version) is not int or version != VERSION:
        raise DecodeError("version")
    if type(mtype) is not int or mtype not in MESSAGES:
        raise DecodeError("unknown-type")
    _name, letters, minf, maxf, ch = MESSAGES[mtype]
    if ch != channel:
        raise DecodeError("channel")
    if len(top) != 2 + len(letters):
        raise DecodeError("field-count")
    msg = Msg.__new__(Msg)
    msg.type = mtype
    for c, v in zip(letters, top[2:]):
        setattr(msg, FIELDS[c][0], _decode_field(c, v))
    if "K" in letters and "S" in letters and len(msg.source_flags) != len(msg.sources):
        raise DecodeError("range")              # K describes S, one entry each
    keys = 1 if msg.keyed else 0                # a keyed DATA or DONE's keys frame
    if not minf + keys <= nframes <= maxf + keys:
        raise DecodeError("frames")
    return msg


def queries_batch_end(queries, first):
    """The index after the last query the QUERIES starting at first carries:
    at most MAX_BATCH queries in a parts frame of at most MAX_QUERIES_FRAME
    bytes, at least one (braid_request_batch)."""
    n, frame = 0, 2
    while first + n < len(queries) and n < MAX_BATCH:
        size = len(queries[first + n])
        if n and frame + 2 + size > MAX_QUERIES_FRAME:
            break
        frame += 2 + size
        n += 1
    return first + n


def payload_fits(mtype, size):
    """True if a payload frame of size bytes fits a message of this type
    (braid_msg_payload_fits)."""
    if mtype == MSG_QUERIES:
        cap = MAX_QUERIES_FRAME
    elif mtype == MSG_TASK:
        cap = MAX_QUERY_LEN
    elif mtype == MSG_WHEARTBEAT:
        cap = MAX_SLOTS * HEARTBEAT_ENTRY
    elif mtype == MSG_RESUME:
        cap = MAX_RESUME_RANGES * RESUME_RANGE
    else:
        cap = MAX_FRAME
    if size > cap:
        return False
    if mtype == MSG_RESUME:
        return size % RESUME_RANGE == 0
    return mtype != MSG_WHEARTBEAT or size % HEARTBEAT_ENTRY == 0


def check_keys(frame, n):
    """Raise DecodeError("frames") unless frame is a keys frame of exactly n
    entries [score, dedup] (braid_keys_decode: score an integer within
    int64 or a float64 that is not NaN, dedup a bin of 0..MAX_DEDUP bytes,
    the whole frame consumed)."""
    data = bytes(frame)
    size = len(data)
    pos = 0

    def take(k):
        nonlocal pos
        if size - pos < k:
            raise DecodeError("frames")
        pos += k
        return int.from_bytes(data[pos - k:pos], "big")

    def array():
        b = take(1)
        if b & 0xF0 == 0x90:
            return b & 0x0F
        if b in (0xDC, 0xDD):
            return take(2 if b == 0xDC else 4)
        raise DecodeError("frames")

    if n > MAX_BATCH or array() != n:
        raise DecodeError("frames")
    for _i in range(n):
        if array() != 2:
            raise DecodeError("frames")
        b = take(1)
        if 0xCC <= b <= 0xCF:
            if take(1 << (b - 0xCC)) > (1 << 63) - 1:
                raise DecodeError("frames")
        elif 0xD0 <= b <= 0xD3:
            take(1 << (b - 0xD0))
        elif b == 0xCB:
            take(8)
            value = struct.unpack(">d", data[pos - 8:pos])[0]
            if value != value:
                raise DecodeError("frames")     # NaN is not a score
        elif not (b <= 0x7F or b >= 0xE0):
            raise DecodeError("frames")
        b = take(1)
        if not 0xC4 <= b <= 0xC6:
            raise DecodeError("frames")
        length = take(1 << (b - 0xC4))
        if length > MAX_DEDUP:
            raise DecodeError("frames")
        take(length)
    if pos != size:
        raise DecodeError("frames")


# ---------------------------------------------------------------------------
# The parts frame (braid_parts.h): count, one length per entry, the bytes

def _varint(data, pos):
    """The LEB128 varint at pos: (value, next pos); DecodeError("frames")
    when it is cut short, longer than VARINT_MAX bytes or not minimal."""
    value = 0
    for i in range(VARINT_MAX):
        if pos >= len(data):
            raise DecodeError("frames")
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            if i and b == 0:
                raise DecodeError("frames")     # not minimal
            return value, pos
    raise DecodeError("frames")


def _varint_bytes(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return out


def check_parts(frame, max_count, max_len):
    """The entries (bytes) of a parts frame of 1..max_count entries of
    at most max_len bytes (braid_parts_check); DecodeError "frames" or
    "frame-size" otherwise."""
    data = memoryview(frame).cast("B") if not isinstance(frame, bytes) else frame
    n, pos = _varint(data, 0)
    if n == 0 or n > max_count or n > len(data) - pos:
        raise DecodeError("frames")
    lens = []
    total = 0
    for _i in range(n):
        length, pos = _varint(data, pos)
        lens.append(length)
        total += length
        if total > len(data) - pos:
            raise DecodeError("frames")
    if total != len(data) - pos:
        raise DecodeError("frames")             # bytes left over
    if max(lens) > max_len:
        raise DecodeError("frame-size")
    data = bytes(frame)
    entries = []
    for length in lens:
        entries.append(data[pos:pos + length])
        pos += length
    return entries


def pack_parts(entries):
    """One parts frame (bytes) of the entries (bytes-like, at least one)."""
    head = _varint_bytes(len(entries))
    for e in entries:
        head += _varint_bytes(len(e))
    return bytes(head) + b"".join(bytes(e) for e in entries)


HAS_PARTS = frozenset((MSG_QUERIES, MSG_PARTIAL, MSG_END, MSG_DATA, MSG_DONE))


def wire_payload(msg, payload):
    """The payload frames of msg as they travel: the partials or queries of
    a message that carries them packed into one parts frame (none when
    there are none), a keyed message's keys frame (payload's last) after
    it; other payloads as they are."""
    if msg.type not in HAS_PARTS:
        return list(payload)
    payload = list(payload)
    keys = [payload.pop()] if getattr(msg, "keyed", 0) else []
    return ([pack_parts(payload)] if payload else []) + keys


def decode_frames(frames, channel):
    """Decode [header, payload...] (bytes-like frames) as
    braid_msg_decode_frames() does: the header, then every payload frame's
    size, the parts frame and a keyed DATA or DONE's keys frame. Returns
    (Msg, payload list): for a message with a parts frame, its entries one
    by one (and a keyed message's keys frame last), as if each partial or
    query were a frame of its own."""
    if not frames:
        raise DecodeError("empty")
    if len(frames) > 1 + MAX_FRAMES:
        raise DecodeError("frames")
    msg = decode(frames[0], len(frames) - 1, channel)
    payload = frames[1:]
    for f in payload:
        if not payload_fits(msg.type, len(f)):
            raise DecodeError("frame-size")
    if msg.type not in HAS_PARTS:
        return msg, payload
    keys = payload[-1:] if msg.keyed else []
    entries = []
    if len(payload) > len(keys):
        query = msg.type == MSG_QUERIES
        entries = check_parts(payload[0], MAX_BATCH if query or msg.keyed else MAX_PARTS,
                              MAX_QUERY_LEN if query else MAX_FRAME)
    if msg.keyed:
        check_keys(keys[0], len(entries))
    return msg, entries + keys


# ---------------------------------------------------------------------------
# Encoding

def _check_field(letter, value):
    """value as it goes on the wire; ValueError if it breaks its bounds."""
    attr, kind, lo, hi = FIELDS[letter]
    if kind == "u":
        if type(value) is not int:
            raise ValueError("%s: not an unsigned integer: %r" % (attr, value))
        if not lo <= value <= hi:
            raise ValueError("%s: %d out of %d..%d" % (attr, value, lo, hi))
        return value
    if kind == "bin16":
        if not isinstance(value, (bytes, bytearray)) or len(value) != 16:
            raise ValueError("%s: not 16 bytes" % attr)
        return bytes(value)
    if kind == "text":
        data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else None
        if data is None or len(data) > hi or b"\0" in data:
            raise ValueError("%s: not a str of at most %d bytes without NUL" % (attr, hi))
        return value
    if kind == "name":
        if lo == 0 and value == "":
            return value
        if not isinstance(value, str) or not name_valid(value):
            raise ValueError("%s: not a valid name: %r" % (attr, value))
        return value
    if not isinstance(value, (list, tuple)) or not lo <= len(value) <= hi:
        raise ValueError("%s: not a list of %d..%d entries" % (attr, lo, hi))
    if kind == "names":
        return [_check_field("N", v) for v in value]
    if kind == "flags":
        if any(type(v) is not int or not 0 <= v <= SOURCE_FLAGS_MAX for v in value):
            raise ValueError("%s: a flag word out of 0..%d" % (attr, SOURCE_FLAGS_MAX))
        return list(value)
    rows = []
    for row in value:
        if not isinstance(row, (list, tuple)) or len(row) != len(STATUS_NAMES) or \
                any(type(v) is not int or not 0 <= v <= U64 for v in row):
            raise ValueError("%s: a row is not %d counts" % (attr, len(STATUS_NAMES)))
        rows.append(list(row))
    return rows


_PACKER = msgpack.Packer(use_bin_type=True, unicode_errors="surrogateescape")


def encode(msg):
    """The header frame (bytes) of msg; ValueError if a field is invalid
    (as braid_msg_encode() refuses it)."""
    name, letters, _mn, _mx, _ch = MESSAGES[msg.type]
    arr = [VERSION, msg.type]
    for c in letters:
        try:
            arr.append(_check_field(c, getattr(msg, FIELDS[c][0])))
        except ValueError as e:
            raise ValueError("%s: %s" % (name, e)) from None
    data = _PACKER.pack(arr)
    if len(data) > MAX_HEADER:
        raise ValueError("%s: header over %d bytes" % (name, MAX_HEADER))
    return data


def clip_text(text):
    """text made fit for an E field: NULs dropped, cut to MAX_TEXT bytes on
    a character boundary."""
    data = text.replace("\0", "").encode("utf-8", "surrogateescape")
    if len(data) <= MAX_TEXT:
        return text.replace("\0", "")
    return data[:MAX_TEXT].decode("utf-8", "ignore")


# ---------------------------------------------------------------------------
# WHEARTBEAT entries

_HB = struct.Struct(">QIQ")
assert _HB.size == HEARTBEAT_ENTRY


def hb_entry_put(task_id, attempt, next_seq):
    """One WHEARTBEAT entry: big-endian id (8), attempt (4), next seq (8)."""
    return _HB.pack(task_id, attempt, next_seq)


def hb_entries(frame):
    """The (task_id, attempt, next_seq) entries of a WHEARTBEAT frame."""
    return [_HB.unpack_from(frame, i)
            for i in range(0, len(frame) - len(frame) % HEARTBEAT_ENTRY, HEARTBEAT_ENTRY)]
