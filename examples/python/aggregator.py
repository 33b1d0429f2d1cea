#!/usr/bin/python3
"""aggregator.py - the seed's search aggregator, on braid.

Fans each query out to several sources at once, prints every result as
it streams in, keeps a failing source from sinking the others, and ends
each query with its results merged by score. The sources run on braid's
workers (e.g. http_source.py); the broker holds the concurrency limits,
retries and timeouts that the seed kept in semaphores.

    PYTHONPATH=python python3 examples/python/aggregator.py \\
        -b tcp://127.0.0.1:5555 -s web -s news "cats" "dogs"

Exit status 0 if every source answered every query, 1 if some did not.
"""

import argparse
import asyncio
import json
import sys

import braid


async def aggregate(broker, queries, sources, timeout, top):
    ranked = {q: [] for q in range(len(queries))}
    pending = {q: len(sources) for q in range(len(queries))}
    failures = 0
    async with braid.Client(broker) as client:
        async for ev in client.submit(queries, sources, order="arrival", timeout=timeout):
            if isinstance(ev, braid.Partial):
                try:
                    hit = json.loads(ev.data)
                    ranked[ev.query].append((hit["score"], hit["url"], ev.source))
                except (ValueError, KeyError, TypeError):
                    print("%s: %s: not a result: %r" % (queries[ev.query], ev.source, ev.data[:80]),
                          file=sys.stderr)
                    continue
                print("%s: %s %s %s" % (queries[ev.query], ev.source, hit["score"], hit["url"]))
            elif isinstance(ev, braid.End):
                if ev.status != "ok":           # this source only: the rest go on
                    failures += 1
                    print("%s: %s %s: %s" % (queries[ev.query], ev.source, ev.status, ev.error),
                          file=sys.stderr)
                pending[ev.query] -= 1
                if pending[ev.query] == 0:      # every source of this query is in
                    best = sorted(ranked.pop(ev.query), reverse=True)[:top]
                    print("%s: top %s" % (queries[ev.query],
                                          " ".join("%s(%s)" % (u, s) for _sc, u, s in best)))
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-b", "--broker", default="tcp://127.0.0.1:5555")
    ap.add_argument("-s", "--source", action="append", required=True)
    ap.add_argument("-t", "--timeout", type=float, default=10.0, help="seconds per source")
    ap.add_argument("--top", type=int, default=3)
    ap.add_argument("queries", nargs="+")
    args = ap.parse_args()
    failures = asyncio.run(aggregate(args.broker, args.queries, args.source, args.timeout,
                                     args.top))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
