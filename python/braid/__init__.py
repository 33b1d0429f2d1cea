"""braid - a Python asyncio client and worker for braid.

    import braid

    async with braid.Client("tcp://127.0.0.1:5555") as client:
        async for ev in client.submit(["cats", "dogs"], sources=["web"]):
            if isinstance(ev, braid.Partial):
                ...                     # ev.query, ev.source, ev.seq, ev.data
            elif isinstance(ev, braid.End):
                ...                     # ev.status, ev.parts, ev.attempts, ev.error
            elif isinstance(ev, braid.JobEnd):
                ...                     # ev.status, ev.sources

    worker = braid.Worker("tcp://127.0.0.1:5556", "tcp://127.0.0.1:5557", slots=8)

    @worker.source("web")
    async def fetch(query):
        yield b"..."                    # one partial per yielded bytes

    await worker.run()                  # or: python -m braid.worker module:fetch

Pure Python on pyzmq (zmq.asyncio) and msgpack; it speaks the protocol of
proto/PROTOCOL.md with the C decoder's bounds.
"""

from ._proto import VERSION_STRING as __version__
from ._wire import log_to_stderr
from ._worker import Transient, Worker
from .client import (GAP, LOST, PROTOCOL, Client, End, Error, JobEnd, Partial, Refused,
                     Restart, Result, StreamError, Unavailable)

__all__ = ["Client", "Worker", "Transient", "Partial", "End", "JobEnd", "Restart", "Result",
           "Error", "Unavailable", "Refused", "StreamError", "GAP", "LOST", "PROTOCOL",
           "log_to_stderr", "__version__"]
