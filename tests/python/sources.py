"""sources.py - sources for the Python workers the tests start
(python3 -m braid.worker NAME=sources:FUNCTION).

synth is braid-worker's synthetic source in Python, byte for byte, so that
C and Python workers can serve one source side by side. Its settings come
from the worker's environment: SYNTH_PARTS, SYNTH_SIZE, SYNTH_DELAY_MSEC
(as synthetic:parts=,size=,delay_msec=). With SYNTH_COUNT set it records,
before each yield, how many items it has made, in
$BRAID_TEST_DIR/count-QUERY: the tests read how far the worker advanced
the generator. sleepy and the others record what happened to them in
$BRAID_TEST_DIR/mark-WHAT-QUERY files.
"""

import asyncio
import os

import braid


def _env(name, default):
    return int(os.environ.get(name, default))


def _mark(what, query):
    d = os.environ.get("BRAID_TEST_DIR")
    if d:
        with open(os.path.join(d, "mark-%s-%s" % (what, query)), "w") as f:
            f.write("%d\n" % os.getpid())


def payload(query, seq, size):
    body = size - 1
    data = (query[:body] + b" %d" % seq)[:body]
    return data + b"." * (body - len(data)) + b"\n"


async def synth(query):
    parts = _env("SYNTH_PARTS", 1)
    size = max(2, _env("SYNTH_SIZE", 64))
    delay = _env("SYNTH_DELAY_MSEC", 0) / 1000
    count = os.environ.get("SYNTH_COUNT") and os.path.join(os.environ["BRAID_TEST_DIR"],
                                                           "count-" + query)
    q = query.encode("utf-8", "surrogateescape")
    for seq in range(parts):
        if delay:
            await asyncio.sleep(delay)
        if count:
            with open(count, "w") as f:
                f.write("%d\n" % (seq + 1))
        yield payload(q, seq, size)


async def sleepy(query):
    """One partial, then a sleep that only a cancel ends."""
    _mark("started", query)
    try:
        yield ("%s first\n" % query).encode()
        await asyncio.sleep(3600)
        yield b"never\n"
    except (asyncio.CancelledError, GeneratorExit):
        _mark("cancelled", query)
        raise


async def failing(query):
    """One partial, then an error: Transient for queries starting with t."""
    yield ("%s before\n" % query).encode()
    if query.startswith("t"):
        raise braid.Transient("flaky %s" % query)
    raise RuntimeError("no luck with %s" % query)


async def stubborn(query):
    """Ignores the first cancel (a coroutine that cleans up slowly)."""
    yield b"x\n"
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        _mark("cancelled", query)
        await asyncio.sleep(0.05)
        _mark("cleaned", query)
        raise


async def blob(query):
    """SYNTH_PARTS partials of SYNTH_SIZE bytes, as fast as taken."""
    parts = _env("SYNTH_PARTS", 1)
    size = _env("SYNTH_SIZE", 65536)
    chunk = (query.encode() * (size // max(1, len(query)) + 1))[:size]
    for _ in range(parts):
        yield chunk


def not_async(query):
    """A plain generator: a mistake the worker reports as the task's error."""
    yield b"x\n"
