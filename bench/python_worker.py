#!/usr/bin/python3
"""python_worker.py - the Python worker's benchmark: a source that is an
async generator sleeping DELAY ms before each of its ITEMS items, QUERIES
queries, at most INFLIGHT of them in flight (the job's max_inflight), one
Python worker with INFLIGHT slots, the Python client consuming.

The ideal wall time is ceil(QUERIES / INFLIGHT) x ITEMS x DELAY: every
task sleeps in lockstep and nothing else costs anything. The figure is the
measured wall (SUBMIT to JOB_END) over that ideal; the target is <= 1.15.
As a baseline, the same job runs on braid-worker's synthetic source with
the same delays, interleaved with the Python runs.

    bench/python_worker.py [--build DIR] [--runs N] [--queries 500] [--inflight 50]
                           [--items 10] [--delay-ms 20] [--no-baseline] [--strict]

Prints one line per run and a summary:

    python_worker queries=500 inflight=50 items=10 delay_ms=20 ideal_s=2.000
        wall_s=2.089 [2.071..2.120] ratio=1.045 target=1.15 ok
    c_worker ... wall_s=... ratio=...

Exit 0 once measured (1 with --strict if the median misses the target),
2 on a usage or setup error. Every process runs in its own process group
and is killed when the benchmark ends.
"""

import argparse
import asyncio
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
TARGET = 1.15


async def sleeping(query):
    """The benchmark's source (run in the worker: BENCH_ITEMS, BENCH_DELAY_MS)."""
    items = int(os.environ.get("BENCH_ITEMS", "10"))
    delay = int(os.environ.get("BENCH_DELAY_MS", "20")) / 1000
    for i in range(items):
        await asyncio.sleep(delay)
        yield b"%s %d\n" % (query.encode(), i)


class Procs:
    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []

    def spawn(self, name, argv, env=None):
        err = open(os.path.join(self.tmp, name + ".err"), "wb")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=err, env=dict(os.environ, **(env or {})),
                             start_new_session=True)
        err.close()
        p.name = name
        self.procs.append(p)
        return p

    def wait_line(self, p, pattern, timeout=10):
        rx = re.compile(pattern)
        path = os.path.join(self.tmp, p.name + ".err")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(path, "rb") as f:
                for line in f.read().decode("utf-8", "replace").splitlines():
                    m = rx.search(line)
                    if m:
                        return m
            if p.poll() is not None:
                break
            time.sleep(0.02)
        with open(path, "rb") as f:
            sys.stderr.write(f.read().decode("utf-8", "replace")[-2000:])
        raise SystemExit("python_worker: %s: no %r within %d s" % (p.name, pattern, timeout))

    def stop(self, p):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()

    def stop_all(self):
        for p in reversed(self.procs):
            self.stop(p)
        self.procs = []


async def one_run(braid, frontend, source, args):
    queries = ["b%04d" % i for i in range(args.queries)]
    parts = 0
    async with braid.Client(frontend) as client:
        start = time.monotonic()
        async for ev in client.submit(queries, source, max_inflight=args.inflight,
                                      order="arrival"):
            if isinstance(ev, braid.Partial):
                parts += 1
            elif isinstance(ev, braid.End) and ev.status != "ok":
                raise SystemExit("python_worker: query %d: %s %s" % (ev.query, ev.status,
                                                                     ev.error))
        wall = time.monotonic() - start
    if parts != args.queries * args.items:
        raise SystemExit("python_worker: %d partials, %d expected" % (parts,
                                                                      args.queries * args.items))
    return wall


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summary(name, walls, ideal, args):
    med = statistics.median(walls)
    ratio = med / ideal
    print("%s queries=%d inflight=%d items=%d delay_ms=%d ideal_s=%.3f wall_s=%.3f [%.3f..%.3f] "
          "ratio=%.3f target=%.2f %s" % (name, args.queries, args.inflight, args.items,
                                         args.delay_ms, ideal, med, min(walls), max(walls), ratio,
                                         TARGET, "ok" if ratio <= TARGET else "MISSED"),
          flush=True)
    return ratio


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=None, help="CMake build (default build-bench, else build)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--inflight", type=int, default=50)
    ap.add_argument("--items", type=int, default=10)
    ap.add_argument("--delay-ms", type=int, default=20)
    ap.add_argument("--no-baseline", action="store_true", help="skip the braid-worker runs")
    ap.add_argument("--strict", action="store_true", help="exit 1 if the median misses 1.15")
    args = ap.parse_args()
    if args.runs < 1 or args.queries < 1 or args.inflight < 1 or args.items < 1 \
            or args.delay_ms < 1:
        ap.error("counts and the delay must be positive")
    build = args.build or next((os.path.join(ROOT, b) for b in ("build-bench", "build")
                                if os.path.isdir(os.path.join(ROOT, b))), None)
    if not build:
        ap.error("no build: give --build DIR")
    braidd = os.path.join(build, "broker", "braidd")
    cworker = os.path.join(build, "workers", "braid-worker")
    for p in (braidd, cworker):
        if not os.access(p, os.X_OK):
            ap.error("%s missing: build first" % p)
    sys.path.insert(0, os.path.join(ROOT, "python"))
    import braid

    ideal = math.ceil(args.queries / args.inflight) * args.items * args.delay_ms / 1000
    tmp = tempfile.mkdtemp(prefix="braid-bench-py.")
    procs = Procs(tmp)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    try:
        broker = procs.spawn("braidd", [braidd, "-f", "tcp://127.0.0.1:*",
                                        "-w", "tcp://127.0.0.1:*", "-k", "tcp://127.0.0.1:*"])
        m = procs.wait_line(broker, r"ready frontend=(\S+) backend=(\S+) sink=(\S+)")
        frontend, backend, sink = m.groups()
        env = {"PYTHONPATH": os.pathsep.join([os.path.join(ROOT, "python"),
                                              os.path.dirname(os.path.abspath(__file__))]),
               "BENCH_ITEMS": str(args.items), "BENCH_DELAY_MS": str(args.delay_ms)}
        py = procs.spawn("pyworker", [sys.executable, "-m", "braid.worker", "-b", backend,
                                      "-k", sink, "-n", str(args.inflight), "-N", "py1",
                                      "sleeping=python_worker:sleeping"], env=env)
        procs.wait_line(broker, r"worker joined name=py1 ")
        if not args.no_baseline:
            spec = "synth=synthetic:parts=%d,size=16,delay_msec=%d" % (args.items, args.delay_ms)
            procs.spawn("cworker", [cworker, "-b", backend, "-k", sink, "-n", str(args.inflight),
                                    "-N", "c1", "-s", spec])
            procs.wait_line(broker, r"worker joined name=c1 ")
        walls = {"python_worker": [], "c_worker": []}
        pids = {"python_worker": py.pid}
        if not args.no_baseline:
            pids["c_worker"] = procs.procs[-1].pid
        for i in range(args.runs):
            for name, source in (("python_worker", "sleeping"), ("c_worker", "synth")):
                if name not in pids:
                    continue
                cpu = cpu_seconds(pids[name])
                wall = asyncio.run(one_run(braid, frontend, source, args))
                cpu = cpu_seconds(pids[name]) - cpu
                walls[name].append(wall)
                print("run %d %s wall_s=%.3f ratio=%.3f worker_cpu_s=%.2f"
                      % (i + 1, name, wall, wall / ideal, cpu), flush=True)
        ratio = summary("python_worker", walls["python_worker"], ideal, args)
        if walls["c_worker"]:
            summary("c_worker", walls["c_worker"], ideal, args)
    finally:
        procs.stop_all()
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)
    return 1 if args.strict and ratio > TARGET else 0


if __name__ == "__main__":
    sys.exit(main())
