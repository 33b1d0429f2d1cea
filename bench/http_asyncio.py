#!/usr/bin/python3
"""http_asyncio.py - the seed's executor, as a baseline for braid's http source.

What the Python asyncio "parallel executor" did: fetch N URLs with aiohttp,
at most C at once (an asyncio.Semaphore), one shared session (connection
reuse), each result read whole. Prints one line:

    asyncio queries=N concurrency=C wall_s=W qps=Q ok=K cpu_s=S

(cpu_s: this process's CPU time over the same span as wall_s.)

Usage: http_asyncio.py URL_TEMPLATE N C   (URL_TEMPLATE holds {query}; the
queries are 0..N-1, URL-escaped).
"""

import asyncio
import sys
import time
import urllib.parse

import aiohttp


async def run(template, n, conc):
    sem = asyncio.Semaphore(conc)
    ok = 0
    connector = aiohttp.TCPConnector(limit=conc)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i):
            nonlocal ok
            url = template.replace("{query}", urllib.parse.quote(str(i), safe=""))
            async with sem:
                async with session.get(url) as resp:
                    await resp.read()
                    ok += resp.status == 200

        start, cpu = time.monotonic(), time.process_time()
        await asyncio.gather(*(one(i) for i in range(n)))
        wall, cpu = time.monotonic() - start, time.process_time() - cpu
    return wall, ok, cpu


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    template, n, conc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    wall, ok, cpu = asyncio.run(run(template, n, conc))
    print("asyncio queries=%d concurrency=%d wall_s=%.4f qps=%.1f ok=%d cpu_s=%.3f"
          % (n, conc, wall, n / wall if wall else 0.0, ok, cpu))
    return 0 if ok == n else 1


if __name__ == "__main__":
    sys.exit(main())
