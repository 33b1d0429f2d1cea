"""braid._proto - the braid wire protocol (proto/PROTOCOL.md, version 1).

The message table and the field letters mirror proto/braid_msgs.def and
proto/braid_msg.c (tests/python/test_proto.py checks the table against the
.def file, so the two cannot drift). Decoding is total, with the C
decoder's bounds: a header over 8192 bytes, nested deeper than 3, not
exactly one msgpack object, or with any field out of its bounds is refused
with a reason (DecodeError.reason, the names braid_err_name() uses), and
msgpack is never asked to size anything from a claimed count larger than
the header.
"""

import msgpack

VERSION = 1

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
SOURCE_KEYED = 0x1
SOURCE_SCORE_ASC = 0x2
SOURCE_FLAGS_MAX = 0x3
HEARTBEAT_ENTRY = 20
U64 = (1 << 64) - 1

# Channels (braid_channel_t).
CH_CLIENT, CH_TO_CLIENT, CH_WORKER, CH_TO_WORKER, CH_SINK = 1, 2, 3, 4, 5

STATUS_NAMES = ("ok", "failed", "timeout", "cancelled")
STATUS_OK, STATUS_FAILED, STATUS_TIMEOUT, STATUS_CANCELLED = 0, 1, 2, 3
ORDER_SUBMIT, ORDER_ARRIVAL, ORDER_KEY = 0, 1, 2
FLAG_FAIL_FAST = 0x1
FLAG_RETRIES = 0x2

# id: (name, fields, min payload frames, max payload frames, channel)
MESSAGES = {
    1: ("SUBMIT", "jomtfdyncS", 0, 0, CH_CLIENT),
    2: ("QUERIES", "jF", 1, MAX_BATCH, CH_CLIENT),
    3: ("CREDIT", "jc", 0, 0, CH_CLIENT),
    4: ("CANCEL", "j", 0, 0, CH_CLIENT),
    5: ("PING", "", 0, 0, CH_CLIENT),
    6: ("STATS", "", 0, 0, CH_CLIENT),
    10: ("ACCEPT", "j", 0, 0, CH_TO_CLIENT),
    11: ("PARTIAL", "jOqse", 1, MAX_BATCH, CH_TO_CLIENT),
    12: ("END", "jOqsxpaEWBQUX", 0, MAX_BATCH, CH_TO_CLIENT),
    13: ("JOB_END", "jOxR", 0, 0, CH_TO_CLIENT),
    14: ("ERROR", "jCE", 0, 0, CH_TO_CLIENT),
    15: ("PONG", "", 0, 0, CH_TO_CLIENT),
    16: ("STATS_REPLY", "", 1, 1, CH_TO_CLIENT),
    17: ("RESTART", "jOqsa", 0, 0, CH_TO_CLIENT),
    20: ("HELLO", "NlSKHPV", 0, 0, CH_WORKER),
    21: ("WHEARTBEAT", "", 1, 1, CH_WORKER),
    22: ("BYE", "", 0, 0, CH_WORKER),
    23: ("TASK_ACK", "ka", 0, 0, CH_WORKER),
    30: ("TASK", "kaNrwt", 1, 1, CH_TO_WORKER),
    31: ("TASK_CREDIT", "kaw", 0, 0, CH_TO_WORKER),
    32: ("TASK_CANCEL", "ka", 0, 0, CH_TO_WORKER),
    33: ("BHEARTBEAT", "", 0, 0, CH_TO_WORKER),
    34: ("RESET", "", 0, 0, CH_TO_WORKER),
    40: ("DATA", "kaeh", 1, MAX_BATCH, CH_SINK),
    41: ("DONE", "kaxpgEXAh", 0, MAX_BATCH, CH_SINK),
}
TYPES = {name: mid for mid, (name, *_rest) in MESSAGES.items()}

# letter: (attribute, kind, min, max). Kinds: u (unsigned int), bin16,
# text (str, no NUL), name (str of [A-Za-z0-9_.-]; may be empty when min is
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
}

_NAME_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


class DecodeError(Exception):
    """A refused message; .reason is the C decoder's name for why."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class Msg:
    """A header: .type, .type_name, and one attribute per field letter
    (.name is the N field: a worker's or source's name)."""

    __slots__ = ("type", "type_name") + tuple(f[0] for f in FIELDS.values())

    def __init__(self, mtype, **values):
        self.type = mtype
        self.type_name = MESSAGES[mtype][0]
        for attr, kind, _lo, _hi in FIELDS.values():
            default = b"\0" * 16 if kind == "bin16" else "" if kind in ("text", "name") else \
                [] if kind in ("names", "summary", "flags") else 0
            setattr(self, attr, values.pop(attr, default))
        if values:
            raise TypeError("unknown fields: %s" % ", ".join(sorted(values)))

    def __repr__(self):
        letters = MESSAGES[self.type][1]
        parts = ["%s=%r" % (FIELDS[c][0], getattr(self, FIELDS[c][0])) for c in letters]
        return "Msg(%s%s)" % (self.type_name, ", " + ", ".join(parts) if parts else "")


def name_valid(name):
    data = name.encode("utf-8") if isinstance(name, str) else name
    return 1 <= len(data) <= MAX_NAME and all(b in _NAME_CHARS for b in data)


def _check_field(letter, value):
    attr, kind, lo, hi = FIELDS[letter]
    if kind == "u":
        if type(value) is not int or value < 0:
            raise DecodeError("field-type")
        if not lo <= value <= hi:
            raise DecodeError("range")
        return value
    if kind == "bin16":
        if not isinstance(value, (bytes, bytearray)):
            raise DecodeError("field-type")
        if len(value) != 16:
            raise DecodeError("range")
        return bytes(value)
    if kind == "text":
        if not isinstance(value, str):
            raise DecodeError("field-type")
        data = value.encode("utf-8", "surrogateescape")
        if len(data) > hi or b"\0" in data:
            raise DecodeError("range")
        return value
    if kind == "name":
        if not isinstance(value, str):
            raise DecodeError("field-type")
        if value == "" and lo == 0:
            return value        # W: empty for a task that never ran
        if not name_valid(value.encode("utf-8", "surrogateescape")):
            raise DecodeError("range")
        return value
    if kind == "names":
        if not isinstance(value, (list, tuple)):
            raise DecodeError("field-type")
        if not lo <= len(value) <= hi:
            raise DecodeError("range")
        return [_check_field("N", v) for v in value]
    if kind == "flags":
        if not isinstance(value, (list, tuple)):
            raise DecodeError("field-type")
        if not lo <= len(value) <= hi:
            raise DecodeError("range")
        for v in value:
            if type(v) is not int or v < 0:
                raise DecodeError("field-type")
            if v > SOURCE_FLAGS_MAX:
                raise DecodeError("range")
        return list(value)
    if kind == "summary":
        if not isinstance(value, (list, tuple)):
            raise DecodeError("field-type")
        if not lo <= len(value) <= hi:
            raise DecodeError("range")
        out = []
        for row in value:
            if not isinstance(row, (list, tuple)) or len(row) != len(STATUS_NAMES):
                raise DecodeError("field-type")
            for v in row:
                if type(v) is not int or v < 0:
                    raise DecodeError("field-type")
                if v > U64:
                    raise DecodeError("range")
            out.append(list(row))
        return out
    raise AssertionError(kind)


def _depth(obj, depth=1):
    if depth > MAX_DEPTH + 1:
        return depth
    if isinstance(obj, (list, tuple)):
        return max([depth] + [_depth(v, depth + 1) for v in obj])
    if isinstance(obj, dict):
        return max([depth] + [_depth(v, depth + 1) for kv in obj.items() for v in kv])
    return depth


def encode(msg):
    """The header frame (bytes) of msg; ValueError if a field is invalid."""
    name, letters, _mn, _mx, _ch = MESSAGES[msg.type]
    arr = [VERSION, msg.type]
    for c in letters:
        try:
            arr.append(_check_field(c, getattr(msg, FIELDS[c][0])))
        except DecodeError as e:
            raise ValueError("%s: field %s: %s" % (name, FIELDS[c][0], e.reason)) from None
    data = msgpack.packb(arr, use_bin_type=True)
    if len(data) > MAX_HEADER:
        raise ValueError("%s: header over %d bytes" % (name, MAX_HEADER))
    return data


def decode(header, nframes, channel):
    """Decode one header frame of a message with nframes payload frames that
    travelled on channel. Returns a Msg or raises DecodeError."""
    if not header:
        raise DecodeError("empty")
    if len(header) > MAX_HEADER:
        raise DecodeError("too-big")
    # Every claimed length is bounded by the header's own size, so msgpack
    # never reserves more than the bytes present could hold.
    n = len(header)
    try:
        obj = msgpack.unpackb(bytes(header), raw=False, strict_map_key=False,
                              unicode_errors="surrogateescape", use_list=True,
                              max_str_len=n, max_bin_len=n, max_array_len=n, max_map_len=n,
                              max_ext_len=n)
    except msgpack.ExtraData:
        raise DecodeError("msgpack") from None
    except (ValueError, msgpack.UnpackException, TypeError, RecursionError):
        raise DecodeError("msgpack") from None
    if _depth(obj) > MAX_DEPTH + 1:
        raise DecodeError("depth")
    if not isinstance(obj, list) or len(obj) < 2:
        raise DecodeError("not-array")
    version, mtype = obj[0], obj[1]
    if type(version) is not int or version != VERSION:
        raise DecodeError("version")
    if type(mtype) is not int or mtype not in MESSAGES:
        raise DecodeError("unknown-type")
    name, letters, minf, maxf, ch = MESSAGES[mtype]
    if ch != channel:
        raise DecodeError("channel")
    if len(obj) != 2 + len(letters):
        raise DecodeError("field-count")
    msg = Msg(mtype)
    for c, value in zip(letters, obj[2:]):
        setattr(msg, FIELDS[c][0], _check_field(c, value))
    if "K" in letters and "S" in letters and len(msg.source_flags) != len(msg.sources):
        raise DecodeError("range")      # K describes S, one entry each
    if not minf <= nframes <= maxf:
        raise DecodeError("frames")
    return msg


def payload_fits(mtype, size):
    """True if a payload frame of size bytes fits a message of this type."""
    if mtype in (TYPES["QUERIES"], TYPES["TASK"]):
        cap = MAX_QUERY_LEN
    elif mtype == TYPES["WHEARTBEAT"]:
        cap = MAX_SLOTS * HEARTBEAT_ENTRY
    else:
        cap = MAX_FRAME
    if size > cap:
        return False
    return mtype != TYPES["WHEARTBEAT"] or size % HEARTBEAT_ENTRY == 0


def decode_frames(frames, channel):
    """Decode [header, payload...] (bytes-like frames): the header, then
    every payload frame's size. Returns (Msg, payload list)."""
    if not frames:
        raise DecodeError("empty")
    if len(frames) > 1 + MAX_BATCH:
        raise DecodeError("frames")
    msg = decode(frames[0], len(frames) - 1, channel)
    payload = frames[1:]
    for f in payload:
        if not payload_fits(msg.type, len(f)):
            raise DecodeError("frame-size")
    return msg, payload


def hb_entry_put(task_id, attempt, next_seq):
    """One WHEARTBEAT entry: big-endian id (8), attempt (4), next seq (8)."""
    return task_id.to_bytes(8, "big") + attempt.to_bytes(4, "big") + next_seq.to_bytes(8, "big")


def hb_entries(frame):
    """The (task_id, attempt, next_seq) entries of a WHEARTBEAT frame."""
    for i in range(0, len(frame) - len(frame) % HEARTBEAT_ENTRY, HEARTBEAT_ENTRY):
        yield (int.from_bytes(frame[i:i + 8], "big"), int.from_bytes(frame[i + 8:i + 12], "big"),
               int.from_bytes(frame[i + 12:i + 20], "big"))
