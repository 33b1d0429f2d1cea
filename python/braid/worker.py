"""python -m braid.worker - run a braid worker whose sources are Python
async generators, as braid-worker runs exec and synthetic sources.

    python -m braid.worker [-b EP] [-k EP] [-n SLOTS] [-N NAME]
                           [--heartbeat MSEC] [--liveness MSEC] [-v]
                           [NAME=]MODULE:FUNCTION ...

Each MODULE:FUNCTION is an async generator function fn(query) (query a
str) that yields bytes, one partial each; the source is named after the
function unless NAME= says otherwise. Logs go to stderr with syslog
priority prefixes (<5>braid-worker: ready name=... slots=... sources=...).
Exit: 0 after SIGTERM or SIGINT (running tasks handed back, BYE sent), 1 on
a fatal runtime error, 2 on a usage error.
"""

import argparse
import asyncio
import importlib
import signal
import sys

from braid._worker import Worker
from braid._wire import log, log_to_stderr

DEFAULT_BACKEND = "tcp://127.0.0.1:5556"
DEFAULT_SINK = "tcp://127.0.0.1:5557"


class _Usage(Exception):
    pass


def _uint(text, lo, hi, what):
    try:
        v = int(text, 10)
    except ValueError:
        v = -1
    if not lo <= v <= hi:
        raise _Usage("%s: %r is not in %d..%d" % (what, text, lo, hi))
    return v


def _load(spec):
    """[NAME=]MODULE:FUNCTION -> (name, function)."""
    name, eq, target = spec.rpartition("=")
    module, colon, attr = target.partition(":")
    if not colon or not module or not attr:
        raise _Usage("source %r: expected [NAME=]MODULE:FUNCTION" % spec)
    try:
        obj = importlib.import_module(module)
    except ImportError as e:
        raise _Usage("source %r: cannot import %s: %s" % (spec, module, e)) from None
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise _Usage("source %r: %s has no %s" % (spec, module, attr))
    if not callable(obj):
        raise _Usage("source %r: %s.%s is not callable" % (spec, module, attr))
    return (name if eq else attr.rsplit(".", 1)[-1]), obj


def _parser():
    p = argparse.ArgumentParser(prog="python -m braid.worker", add_help=True,
                                description="a braid worker serving Python async generators")
    p.add_argument("-b", "--backend", default=DEFAULT_BACKEND,
                   help="broker control endpoint (default %s)" % DEFAULT_BACKEND)
    p.add_argument("-k", "--sink", default=DEFAULT_SINK,
                   help="broker results endpoint (default %s)" % DEFAULT_SINK)
    p.add_argument("-n", "--slots", default="4", help="concurrent tasks, 1..65535 (default 4)")
    p.add_argument("-N", "--name", help="worker name (default: hostname-pid)")
    p.add_argument("--heartbeat", default="1000", help="heartbeat interval, 10..60000 msec")
    p.add_argument("--liveness", default="3000",
                   help="broker silent this long: reconnect, more than the heartbeat, "
                        "up to 3600000 msec (default 3000)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("sources", nargs="+", metavar="[NAME=]MODULE:FUNCTION")
    return p


async def _serve(worker):
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    await worker.run()


def main(argv=None):
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:
        return 0 if e.code == 0 else 2
    log_to_stderr("braid-worker", args.verbose)
    try:
        slots = _uint(args.slots, 1, 65535, "slots")
        heartbeat = _uint(args.heartbeat, 10, 60000, "--heartbeat")
        liveness = _uint(args.liveness, heartbeat + 1, 3600000, "--liveness")
        worker = Worker(args.backend, args.sink, name=args.name, slots=slots,
                        heartbeat=heartbeat / 1000, liveness=liveness / 1000)
        for spec in args.sources:
            name, fn = _load(spec)
            worker.add_source(name, fn)
    except (_Usage, ValueError, TypeError) as e:
        print("braid-worker: %s" % e, file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(worker))
    except Exception as e:      # a socket failed: fatal, as in braid-worker
        log.error("%s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
