"""test_proto.py - braid._proto against the C protocol's own sources.

The Python codec must not drift from the C one, so this test reads the C
side rather than restating it:
  - proto/braid_msgs.def: the message table, entry for entry;
  - proto/braid_msg.c s_fields and proto/braid_msg.h: the field letters,
    their attributes, kinds and bounds, and the protocol's constants;
  - tests/unit/test_proto.c: every golden vector (Python's encoding of the
    same values equals the C golden bytes, and decodes back) and every
    malformed vector (Python refuses it for the same reason; the few
    built by C functions are rebuilt here, and a new builder there fails
    this test until it is rebuilt here too);
then round-trips every message type at its fields' minimum and maximum.
"""

import os
import re

import msgpack
import pytest

from braid import _proto as P

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def _strip_comments(text):
    return re.sub(r"/\*.*?\*/", " ", text, flags=re.S)


# ---------------------------------------------------------------------------
# C constants

def _c_constants():
    """The #defines and enum values of braid_msg.h, evaluated."""
    text = _strip_comments(_read("proto/braid_msg.h"))
    consts = {"UINT64_MAX": P.U64, "UINT32_MAX": (1 << 32) - 1}
    for name, expr in re.findall(r"^#define (BRAID_[A-Z0-9_]+)[ \t]+([^\n]+)$", text, re.M):
        expr = re.sub(r"(\d+)u\b", r"\1", expr.strip())
        if re.fullmatch(r"[0-9A-Za-z_ ()<>*+\-]+", expr):
            try:
                consts[name] = eval(expr, {"__builtins__": {}}, dict(consts))
            except (NameError, SyntaxError):
                pass
    for body in re.findall(r"typedef enum \{(.*?)\}", text, re.S):
        if "#" in body:
            continue            # braid_msg_type_t: from braid_msgs.def
        value = -1
        for item in body.split(","):
            item = item.strip()
            if not item:
                continue
            name, _eq, expr = item.partition("=")
            value = eval(expr, {"__builtins__": {}}, dict(consts)) if _eq else value + 1
            consts[name.strip()] = value
    return consts


C = _c_constants()


def _c_eval(expr):
    expr = re.sub(r"(\d+)u\b", r"\1", expr.strip())
    return eval(expr, {"__builtins__": {}}, dict(C))


def test_constants_match_braid_msg_h():
    pairs = {"MAX_BATCH": "BRAID_MAX_BATCH", "MAX_SOURCES": "BRAID_MAX_SOURCES",
             "MAX_NAME": "BRAID_MAX_NAME", "MAX_TEXT": "BRAID_MAX_TEXT",
             "MAX_QUERIES": "BRAID_MAX_QUERIES", "MAX_QUERY_LEN": "BRAID_MAX_QUERY_LEN",
             "MAX_INFLIGHT": "BRAID_MAX_INFLIGHT", "MAX_SLOTS": "BRAID_MAX_SLOTS",
             "MAX_ATTEMPTS": "BRAID_MAX_ATTEMPTS", "MAX_HEADER": "BRAID_MAX_HEADER",
             "MAX_FRAME": "BRAID_MAX_FRAME", "MAX_DEPTH": "BRAID_MAX_DEPTH",
             "MAX_RETRIES": "BRAID_MAX_RETRIES", "MAX_MSEC": "BRAID_MAX_MSEC",
             "HEARTBEAT_ENTRY": "BRAID_HEARTBEAT_ENTRY", "VERSION": "BRAID_PROTO_VERSION",
             "MAX_DEDUP": "BRAID_MAX_DEDUP", "MAX_FRAMES": "BRAID_MAX_FRAMES",
             "MAX_PARTS": "BRAID_MAX_PARTS", "MAX_QUERIES_FRAME": "BRAID_MAX_QUERIES_FRAME",
             "FLAG_FAIL_FAST": "BRAID_FLAG_FAIL_FAST", "FLAG_RETRIES": "BRAID_FLAG_RETRIES",
             "FLAG_RESUME": "BRAID_FLAG_RESUME", "RESUME_RANGE": "BRAID_RESUME_RANGE",
             "MAX_RESUME_RANGES": "BRAID_MAX_RESUME_RANGES",
             "CH_CLIENT": "BRAID_CH_CLIENT", "CH_TO_CLIENT": "BRAID_CH_TO_CLIENT",
             "CH_WORKER": "BRAID_CH_WORKER", "CH_TO_WORKER": "BRAID_CH_TO_WORKER",
             "CH_SINK": "BRAID_CH_SINK", "ORDER_SUBMIT": "BRAID_ORDER_SUBMIT",
             "ORDER_ARRIVAL": "BRAID_ORDER_ARRIVAL", "ORDER_KEY": "BRAID_ORDER_KEY",
             "STATUS_OK": "BRAID_STATUS_OK", "STATUS_FAILED": "BRAID_STATUS_FAILED",
             "STATUS_TIMEOUT": "BRAID_STATUS_TIMEOUT",
             "STATUS_CANCELLED": "BRAID_STATUS_CANCELLED",
             "ERR_BAD_REQUEST": "BRAID_ERR_CODE_BAD_REQUEST",
             "ERR_UNKNOWN_JOB": "BRAID_ERR_CODE_UNKNOWN_JOB",
             "ERR_CONFLICT": "BRAID_ERR_CODE_CONFLICT", "ERR_TOO_MANY": "BRAID_ERR_CODE_TOO_MANY",
             "ERR_UNAVAILABLE": "BRAID_ERR_CODE_UNAVAILABLE"}
    for py, c in pairs.items():
        assert getattr(P, py) == C[c], (py, c)
    assert len(P.STATUS_NAMES) == C["BRAID_STATUS_COUNT"]
    assert len(P.ERR_NAMES) == C["BRAID_ERR_COUNT"]
    # braid_worker_capacity(slots) is 2 x slots.
    assert re.search(r"braid_worker_capacity\(uint32_t slots\)\s*\{\s*return 2 \* slots;",
                     _read("proto/braid_msg.h"))
    assert P.worker_capacity(7) == 14


def test_err_names_match_braid_err_name():
    body = re.search(r"braid_err_name\(braid_err_t err\)\s*\{(.*?)\};", _read("proto/braid_msg.c"),
                     re.S).group(1)
    assert tuple(re.findall(r'"([a-z-]+)"', body)) == P.ERR_NAMES


# ---------------------------------------------------------------------------
# The message table and the field letters

def test_messages_equal_braid_msgs_def():
    text = _strip_comments(_read("proto/braid_msgs.def"))
    entries = re.findall(
        r'BRAID_MSG\(\s*(\d+),\s*(\w+),\s*"([^"]*)",\s*(\w+),\s*(\w+),\s*(\w+)\s*\)', text)
    assert len(entries) == text.count("BRAID_MSG(") > 20
    table = {}
    for mid, name, fields, minf, maxf, ch in entries:
        table[int(mid)] = (name, fields, _c_eval(minf), _c_eval(maxf), P.CHANNELS[ch])
    assert table == P.MESSAGES
    assert P.TYPES == {name: mid for mid, (name, *_r) in table.items()}
    for mid, (name, *_r) in table.items():
        assert getattr(P, "MSG_" + name) == mid


def test_fields_equal_braid_msg_c():
    body = re.search(r"s_fields\[\] = \{(.*?)\};", _read("proto/braid_msg.c"), re.S).group(1)
    rows = [[x.strip() for x in line.split(",")]
            for line in re.findall(r"^\s*F_\((.*)\),\s*$", body, re.M)]
    assert len(rows) == body.count("F_(")
    kinds = {"K_BIN16": "bin16", "K_U32": "u", "K_U64": "u", "K_TEXT": "text", "K_NAME": "name",
             "K_NAMES": "names", "K_SUMMARY": "summary", "K_FLAGS": "flags"}
    fields = {}
    for letter, kind, member, lo, hi in rows:
        letter = letter.strip("'")
        fields[letter] = (member, kinds[kind], _c_eval(lo), _c_eval(hi))
    assert fields == P.FIELDS
    # Every letter the table uses is defined.
    used = set("".join(f for _n, f, *_r in P.MESSAGES.values()))
    assert used <= set(P.FIELDS)


# ---------------------------------------------------------------------------
# Reading test_proto.c's vector tables

def _tokens(text):
    return re.findall(r'"(?:[^"\\]|\\.)*"|[A-Za-z_]\w*|\d+|[{}(),]', _strip_comments(text))


def _hex_macros(text):
    macros = {}
    for name, rest in re.findall(r'^#define (\w+) ((?:"[^"]*"|\w+)(?:\s+(?:"[^"]*"|\w+))*)\s*$',
                                 text, re.M):
        parts = re.findall(r'"([^"]*)"|(\w+)', rest)
        if all(lit or ident in macros for lit, ident in parts):
            macros[name] = "".join(lit if not ident else macros[ident] for lit, ident in parts)
    return macros


def _entries(text, array):
    """The initialiser entries of `array` as lists of items, each item a
    list of tokens."""
    start = text.index(array)
    body = text[text.index("{", start) + 1:]
    toks = _tokens(body)
    entries, depth, item, items = [], 0, [], []
    for t in toks:
        if t == "{":
            depth += 1
            if depth == 1:
                items, item = [], []
                continue
        elif t == "}":
            depth -= 1
            if depth == 0:
                items.append(item)
                entries.append(items)
                continue
            if depth < 0:
                break
        elif t == "," and depth == 1:
            items.append(item)
            item = []
            continue
        if depth >= 1:
            item.append(t)
    return entries


def _hex_of(item, macros):
    """A C string expression (literals and macros) as bytes, or None (NULL)."""
    if item == ["NULL"]:
        return None
    out = []
    for t in item:
        out.append(t[1:-1] if t.startswith('"') else macros[t])
    return bytes.fromhex("".join(out).replace(" ", ""))


_CH = {"CL": P.CH_CLIENT, "TC": P.CH_TO_CLIENT, "WK": P.CH_WORKER, "TW": P.CH_TO_WORKER,
       "SK": P.CH_SINK}
_CH.update(P.CHANNELS)


def _channel(item):
    if item[0] == "(":                      # (braid_channel_t) 0
        return int(item[-1])
    return _CH[item[0]]


def _reason(ident):
    return None if ident == "BRAID_OK" else ident[len("BRAID_ERR_"):].lower().replace("_", "-")


TEST_PROTO_C = _read("tests/unit/test_proto.c")
MACROS = _hex_macros(TEST_PROTO_C)


# The values of V_GOLD in test_proto.c's s_fill_letter.
GOLD = {"job_id": bytes(range(16)), "order": 1, "max_inflight": 1000, "timeout_msec": 30000,
        "flags": 3, "deadline_msec": 86400000, "retries": 300, "transient": 1, "count": 200,
        "credit": 64, "first": 128, "out_seq": 70000, "query": 7, "source": 31, "seq": 1 << 32,
        "status": 2, "parts": 65535, "attempts": 3, "code": 503, "task_id": 0x0102030405060708,
        "slots": 8, "window": 0, "resume": 255, "window_bytes": 1048576, "text": "oops",
        "name": "web-1.x_Y",
        "sources": ["a", "b2"], "summary": [[1, 0, 0, 0], [0, 1, 2, 3]],
        "exit_value": 143, "retry_after_msec": 1000, "started_msec": 1764504000000,
        "queue_msec": 12, "run_msec": 300, "worker": "w1", "keyed": 1, "pid": 4242,
        "host": "node-7", "version": "0.1.0", "source_flags": [0, 1],
        "token": 0x1122334455667788, "duplicates": 5}


def _gold_msg(mtype):
    letters = P.MESSAGES[mtype][1]
    return P.Msg(mtype, **{P.FIELDS[c][0]: GOLD[P.FIELDS[c][0]] for c in letters})


GOLDEN = _entries(TEST_PROTO_C, "static const t_golden_t s_golden[]")


def test_golden_table_read():
    assert len(GOLDEN) == len(P.MESSAGES)
    assert {int(e[0][0]) for e in GOLDEN} == set(P.MESSAGES)


@pytest.mark.parametrize("entry", GOLDEN, ids=lambda e: P.MESSAGES[int(e[0][0])][0])
def test_golden(entry):
    mtype = int(entry[0][0])
    channel = _channel(entry[1])
    minf, maxf = _c_eval(" ".join(entry[2])), _c_eval(" ".join(entry[3]))
    want = _hex_of(entry[4], MACROS)
    name, _letters, tminf, tmaxf, tch = P.MESSAGES[mtype]
    assert (channel, minf, maxf) == (tch, tminf, tmaxf)
    msg = _gold_msg(mtype)
    assert P.encode(msg).hex(" ") == want.hex(" ")
    got = P.decode(want, minf + msg.keyed, channel)     # a keyed one: its keys frame too
    assert got == msg
    assert got.fields() == msg.fields()


# ---------------------------------------------------------------------------
# Malformed vectors

def _pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


def _error_text(n):
    return _pack([1, P.MSG_ERROR, b"\0" * 16, 404, "x" * n])


def _hello(namelen, nsources, srclen=1, host=""):
    """A HELLO: K one 0 per source, H host, P 0, V "" after N l S."""
    return _pack([1, P.MSG_HELLO, "w" * namelen, 1, ["s" * srclen] * nsources, [0] * nsources,
                  host, 0, ""])


# The C builders (b_*), rebuilt: same bytes where it matters (sizes and
# the structure the expected reason depends on).
BUILDERS = {
    "b_header_8193": lambda: bytes.fromhex("93010eda") + (8193 - 6).to_bytes(2, "big")
    + b"x" * (8193 - 6),
    "b_header_8192": lambda: _error_text(8192 - 27),
    "b_text_1024": lambda: _error_text(1024),
    "b_text_1025": lambda: _error_text(1025),
    "b_name_65": lambda: _hello(65, 1),
    "b_sources_33": lambda: _hello(1, 33),
    "b_sources_32": lambda: _hello(64, 32, srclen=64),
    "b_source_name_65": lambda: _hello(1, 1, srclen=65),
    "b_host_256": lambda: _hello(1, 1, host="h" * (P.MAX_HOST + 1)),
    "b_rows_33": lambda: _pack([1, P.MSG_JOB_END, b"\0" * 16, 0, 0, [[0, 0, 0, 0]] * 33]),
    "b_deep_100": lambda: b"\x91" * 100 + b"\x01",
    "b_wide_8000": lambda: b"\xdc" + (8000).to_bytes(2, "big") + b"\xc0" * 8000,
    "b_map32_padded": lambda: bytes([0x93, 0x01, 0x04, 0xdf, 0xff, 0xff, 0xff, 0xff])
    + b"\0" * (8192 - 8),
}


def test_builders_rebuilt_exactly():
    assert len(BUILDERS["b_header_8193"]()) == 8193
    assert len(BUILDERS["b_header_8192"]()) == 8192
    assert len(BUILDERS["b_map32_padded"]()) == 8192


BAD = _entries(TEST_PROTO_C, "static const t_bad_t s_bad[]")


def test_bad_table_read():
    assert len(BAD) > 150
    builders = {e[2][0] for e in BAD if e[2] != ["NULL"]}
    assert builders <= set(BUILDERS), "rebuild these C builders here: %s" % (
        builders - set(BUILDERS))


@pytest.mark.parametrize("entry", BAD, ids=lambda e: e[0][0][1:-1])
def test_malformed(entry):
    header = _hex_of(entry[1], MACROS)
    if header is None:
        header = BUILDERS[entry[2][0]]()
    nframes = int(entry[3][0])
    channel = _channel(entry[4])
    want = _reason(entry[5][0])
    try:
        P.decode(header, nframes, channel)
        got = None
    except P.DecodeError as e:
        got = e.reason
    assert got == want


# ---------------------------------------------------------------------------
# The keys frame (tests/unit/test_keys.c's table of frames)

KEYS_BAD = _entries(_read("tests/unit/test_keys.c"), "static const t_keys_bad_t s_keys_bad[]")


def test_keys_table_read():
    assert len(KEYS_BAD) > 30


@pytest.mark.parametrize("entry", KEYS_BAD, ids=lambda e: e[0][0][1:-1])
def test_keys_frame(entry):
    frame = _hex_of(entry[1], MACROS)
    n = int(entry[2][0])
    want = _reason(entry[3][0])
    try:
        P.check_keys(frame, n)
        got = None
    except P.DecodeError as e:
        got = e.reason
    assert got == want


def test_keyed_frames_checked():
    # decode_frames checks a keyed DATA's keys frame: one entry per partial
    # of its parts frame, at most a batch of them.
    data = P.encode(P.Msg(P.MSG_DATA, task_id=1, attempts=1, seq=0, keyed=1))
    keys = _pack([[i, b"u"] for i in range(P.MAX_BATCH)])
    msg, payload = P.decode_frames([data, P.pack_parts([b"x"] * P.MAX_BATCH), keys], P.CH_SINK)
    assert msg.keyed == 1 and len(payload) == P.MAX_BATCH + 1
    over = _pack([[i, b"u"] for i in range(P.MAX_BATCH + 1)])
    one = P.pack_parts([b"x"])
    for bad in ([data, one, _pack([[1, b"u"], [2, b"v"]])], [data, one, _pack([[1, "u"]])],
                [data, P.pack_parts([b"x"] * (P.MAX_BATCH + 1)), over],
                [data, b"x", _pack([[1, b"u"]])], [data, one, one, keys]):
        with pytest.raises(P.DecodeError) as e:
            P.decode_frames(bad, P.CH_SINK)
        assert e.value.reason == "frames"


# ---------------------------------------------------------------------------
# Round trips

def _values(mtype, variant):
    out = {}
    for c in P.MESSAGES[mtype][1]:
        attr, kind, lo, hi = P.FIELDS[c]
        top = variant == "max"
        if kind == "u":
            out[attr] = hi if top else lo
        elif kind == "bin16":
            out[attr] = b"\xff" * 16 if top else b"\0" * 16
        elif kind == "text":
            out[attr] = "".join(chr(i % 127 + 1) for i in range(hi)) if top else ""
        elif kind == "name":
            out[attr] = "N" * hi if top else "n" * max(lo, 0)
        elif kind == "names":
            out[attr] = ["s%02d" % i + "x" * 61 for i in range(hi)] if top else ["a"]
        elif kind == "flags":
            # One per source of S (HELLO is the only message with K).
            out[attr] = [P.SOURCE_FLAGS_MAX] * P.MAX_SOURCES if top else [0]
        else:
            out[attr] = [[P.U64, P.U64 - 1, 0, 5]] * hi if top else [[0, 0, 0, 0]]
    return out


@pytest.mark.parametrize("variant", ["min", "max"])
@pytest.mark.parametrize("mtype", sorted(P.MESSAGES), ids=lambda t: P.MESSAGES[t][0])
def test_round_trip(mtype, variant):
    msg = P.Msg(mtype, **_values(mtype, variant))
    data = P.encode(msg)
    assert len(data) <= P.MAX_HEADER
    minf, maxf = P.MESSAGES[mtype][2] + msg.keyed, P.MESSAGES[mtype][3] + msg.keyed
    assert P.decode(data, minf, P.MESSAGES[mtype][4]) == msg
    got = P.decode(data, maxf, P.MESSAGES[mtype][4])
    assert got == msg
    for outside in ([minf - 1] if minf else []) + [maxf + 1]:
        with pytest.raises(P.DecodeError) as e:
            P.decode(data, outside, P.MESSAGES[mtype][4])
        assert e.value.reason == "frames"
    # On any other channel it is refused as such.
    for ch in P.CHANNELS.values():
        if ch != P.MESSAGES[mtype][4]:
            with pytest.raises(P.DecodeError) as e:
                P.decode(data, P.MESSAGES[mtype][2], ch)
            assert e.value.reason == "channel"


def test_encode_refuses_what_decode_refuses():
    bad = [P.Msg(P.MSG_CREDIT, job_id=b"x" * 15, credit=1),
           P.Msg(P.MSG_CREDIT, job_id=b"x" * 16, credit=-1),
           P.Msg(P.MSG_CREDIT, job_id=b"x" * 16, credit=1 << 64),
           P.Msg(P.MSG_HELLO, name="a b", slots=1, sources=["x"]),
           P.Msg(P.MSG_HELLO, name="a", slots=0, sources=["x"]),
           P.Msg(P.MSG_HELLO, name="a", slots=1, sources=[]),
           P.Msg(P.MSG_ERROR, job_id=b"x" * 16, code=400, text="a\0b"),
           P.Msg(P.MSG_ERROR, job_id=b"x" * 16, code=400, text="x" * 1025),
           P.Msg(P.MSG_DONE, task_id=1, attempts=1, status=4, parts=0, transient=0, text=""),
           P.Msg(P.MSG_DONE, task_id=1, attempts=1, status=0, parts=0, transient=True, text="")]
    for m in bad:
        with pytest.raises(ValueError):
            P.encode(m)


def test_text_is_bytes_on_the_wire():
    # Non-UTF-8 bytes travel as they are (msgpack-c does not check str).
    raw = b"\xff\xfe ok"
    header = _pack([1, P.MSG_ERROR, b"\0" * 16, 400, "placeholder"])
    header = header.replace(b"\xabplaceholder", bytes([0xa0 | len(raw)]) + raw)
    msg = P.decode(header, 0, P.CH_TO_CLIENT)
    assert msg.text.encode("utf-8", "surrogateescape") == raw
    assert P.encode(msg) == header


def test_clip_text():
    assert P.clip_text("a\0b") == "ab"
    long = "é" * 1000                       # 2000 bytes
    clipped = P.clip_text(long)
    assert len(clipped.encode()) <= P.MAX_TEXT
    P.encode(P.Msg(P.MSG_ERROR, job_id=b"\0" * 16, code=400, text=clipped))


def test_frames_and_payload_bounds():
    ping = P.encode(P.Msg(P.MSG_PING))
    msg, payload = P.decode_frames([ping], P.CH_CLIENT)
    assert msg.type == P.MSG_PING and payload == []
    with pytest.raises(P.DecodeError) as e:
        P.decode_frames([], P.CH_CLIENT)
    assert e.value.reason == "empty"
    q = P.encode(P.Msg(P.MSG_QUERIES, job_id=b"\0" * 16, first=0))
    msg, payload = P.decode_frames([q, P.pack_parts([b"x" * 8192] * 3)], P.CH_CLIENT)
    assert [bytes(p) for p in payload] == [b"x" * 8192] * 3
    with pytest.raises(P.DecodeError) as e:
        P.decode_frames([q, P.pack_parts([b"x" * 8193])], P.CH_CLIENT)
    assert e.value.reason == "frame-size"
    for bad in ([q] + [b""] * 2, [q, P.pack_parts([b""] * 1025)], [q, b""], [q, b"\x01\x02a"],
                [q, b"\x01\x01ab"], [q, b"\x81\x00\x00"]):
        with pytest.raises(P.DecodeError) as e:
            P.decode_frames(bad, P.CH_CLIENT)
        assert e.value.reason == "frames"
    hb = P.encode(P.Msg(P.MSG_WHEARTBEAT))
    P.decode_frames([hb, b""], P.CH_WORKER)
    P.decode_frames([hb, b"\0" * 40], P.CH_WORKER)
    for size in (19, 21, P.MAX_SLOTS * 20 + 20):
        with pytest.raises(P.DecodeError) as e:
            P.decode_frames([hb, b"\0" * size], P.CH_WORKER)
        assert e.value.reason == "frame-size"
    rs = P.encode(P.Msg(P.MSG_RESUME, job_id=b"\0" * 16, query=0, source=0, seq=0))
    P.decode_frames([rs, b""], P.CH_CLIENT)
    P.decode_frames([rs, b"\0" * 32], P.CH_CLIENT)
    for size in (15, 17, P.MAX_RESUME_RANGES * 16 + 16):
        with pytest.raises(P.DecodeError) as e:
            P.decode_frames([rs, b"\0" * size], P.CH_CLIENT)
        assert e.value.reason == "frame-size"


def test_heartbeat_entries():
    frame = P.hb_entry_put(0x0102030405060708, 3, 255) + P.hb_entry_put(P.U64, 1000, 0)
    assert frame[:20].hex() == "0102030405060708" + "00000003" + "00000000000000ff"
    assert P.hb_entries(frame) == [(0x0102030405060708, 3, 255), (P.U64, 1000, 0)]


# Cases where msgpack's own unpacker and the C decoder part ways (the first
# _proto.py unpacked with msgpack: it gave the first four and the summary
# row of 3 another reason than the C decoder does).
MORE = [
    ("ext -1 of one byte", "94 01 03" + " c4 10" + " 00" * 16 + " d4 ff 00", 0, "CLIENT",
     "field-type"),
    ("map with an array key", "94 01 03" + " c4 10" + " 00" * 16 + " 81 91 01 01", 0, "CLIENT",
     "field-type"),
    ("SUBMIT with a map of array keys", "93 01 01 81 91 01 01", 0, "CLIENT", "field-count"),
    ("8000 nested arrays", "91" * 8000 + "01", 0, "CLIENT", "depth"),
    ("an array at depth 3 claiming a child not there", "93 01 01 91 91 91", 0, "CLIENT",
     "msgpack"),
    ("summary row of 3", "96 01 0d" + " c4 10" + " 00" * 16 + " 00 00 91 93 00 00 00", 0,
     "TO_CLIENT", "range"),
    ("str with invalid UTF-8 as text is fine", "95 01 0e" + " c4 10" + " 00" * 16
     + " cd 01 90 a2 ff fe", 0, "TO_CLIENT", None),
]


@pytest.mark.parametrize("name,hexs,nframes,channel,want", MORE, ids=[m[0] for m in MORE])
def test_more_malformed(name, hexs, nframes, channel, want):
    try:
        P.decode(bytes.fromhex(hexs.replace(" ", "")), nframes, P.CHANNELS["BRAID_CH_" + channel])
        got = None
    except P.DecodeError as e:
        got = e.reason
    assert got == want
