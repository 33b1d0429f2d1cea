#!/usr/bin/python3
"""http_source.py - braid sources written with aiohttp: a braid worker in Python.

Each source is a URL template; a task GETs it with the query URL-escaped
into {query} and streams the response back one line per partial (NDJSON
stays NDJSON). One aiohttp session serves every task of the worker, so
connections are reused, as the seed's executor did. 429 and 5xx are
transient: the broker retries them (with backoff, within the source's
retry limit); other non-200 statuses fail the task. A cancel or a timeout
from the broker cancels the coroutine, which closes the response.

    PYTHONPATH=python python3 examples/python/http_source.py \\
        -b tcp://127.0.0.1:5556 -k tcp://127.0.0.1:5557 -n 16 \\
        -s 'web=http://127.0.0.1:8080/ranked?q={query}&source=web&n=5'

The same fetch code, without the worker around it, also runs as
`python3 -m braid.worker web=MODULE:FUNCTION` (see braid/worker.py).
"""

import argparse
import asyncio
import signal
import urllib.parse

import aiohttp

import braid


def serve(worker, session, name, template):
    @worker.source(name)
    async def fetch(query):
        url = template.replace("{query}", urllib.parse.quote(query, safe=""))
        async with session.get(url) as resp:
            if resp.status == 429 or resp.status >= 500:
                raise braid.Transient("HTTP %d from %s" % (resp.status, url))
            if resp.status != 200:
                raise RuntimeError("HTTP %d from %s" % (resp.status, url))
            async for line in resp.content:         # one partial per line
                yield line


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-b", "--backend", default="tcp://127.0.0.1:5556")
    ap.add_argument("-k", "--sink", default="tcp://127.0.0.1:5557")
    ap.add_argument("-n", "--slots", type=int, default=16)
    ap.add_argument("-N", "--name")
    ap.add_argument("-s", "--source", action="append", required=True, metavar="NAME=URL")
    args = ap.parse_args()
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        worker = braid.Worker(args.backend, args.sink, name=args.name, slots=args.slots)
        for spec in args.source:
            name, _, template = spec.partition("=")
            serve(worker, session, name, template)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stop)
        await worker.run()


if __name__ == "__main__":
    braid.log_to_stderr("http_source")
    asyncio.run(main())
