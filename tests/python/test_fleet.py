"""test_fleet.py - Python workers in a real cluster, alone and beside C ones.

Python workers serve sources.synth, braid-worker's synthetic source in
Python, so every output has one reference: the sequential run computed
here. A fleet of Python workers, and a mixed fleet of C and Python
workers serving one source, give that reference byte for byte; a Python
worker killed mid-stream loses nothing (its tasks run again elsewhere, no
gap, no duplicate); breaking out of the loop cancels the tasks' coroutines
on the Python workers; a SIGTERM hands tasks back.
"""

import asyncio
import os
import re
import signal

import braid
from conftest import FAST_CONF, FAST_WORKER, run, synth_payload, wait_for


def _env(parts, size, delay_msec=0):
    return {"SYNTH_PARTS": str(parts), "SYNTH_SIZE": str(size),
            "SYNTH_DELAY_MSEC": str(delay_msec)}


def _reference(queries, parts, size):
    return b"".join(synth_payload(q.encode(), s, size) for q in queries for s in range(parts))


async def _stream(frontend, queries, source, **kw):
    data = []
    ends = []
    async with braid.Client(frontend) as c:
        async for ev in c.submit(queries, source, **kw):
            if isinstance(ev, braid.Partial):
                data.append(ev.data)
            elif isinstance(ev, braid.End):
                ends.append(ev)
            elif isinstance(ev, braid.JobEnd):
                job = ev
    return b"".join(data), ends, job


def _tasks_done(proc):
    m = re.search(r"stopped name=\S+ tasks_done=(\d+)", proc.stderr())
    assert m, proc.stderr()[-2000:]
    return int(m.group(1))


def test_python_fleet_in_submit_order(cluster):
    env = _env(3, 24, 1)
    cluster.add_py_worker("p1", ["load=sources:synth"], slots=8, env=env)
    cluster.add_py_worker("p2", ["load=sources:synth"], slots=8, env=env)
    queries = ["q%04d" % i for i in range(1000)]
    data, ends, job = run(_stream(cluster.frontend, queries, "load", max_inflight=16))
    assert data == _reference(queries, 3, 24)
    assert [(e.query, e.status, e.parts) for e in ends] == [(i, "ok", 3) for i in range(1000)]
    assert job.status == "ok"
    # The CLI sees the same bytes from the same fleet.
    stdin = "".join(q + "\n" for q in queries).encode()
    rc, out = cluster.cli(["submit", "-s", "load"], input=stdin)
    assert rc == 0 and out == data


def test_mixed_fleet_serves_one_source(cluster):
    cluster.add_c_worker("c1", ["load=synthetic:parts=4,size=32,delay_msec=2"], slots=4)
    cluster.add_py_worker("p1", ["load=sources:synth"], slots=4, env=_env(4, 32, 2))
    queries = ["m%03d" % i for i in range(400)]
    data, ends, job = run(_stream(cluster.frontend, queries, "load", order="submit"))
    assert data == _reference(queries, 4, 32)
    assert job.status == "ok" and len(ends) == 400
    arrival, ends, job = run(_stream(cluster.frontend, queries, "load", order="arrival"))
    assert sorted(arrival[i:i + 32] for i in range(0, len(arrival), 32)) == \
        sorted(data[i:i + 32] for i in range(0, len(data), 32))
    # Both kinds served: each says how many tasks it did as it stops.
    c1 = cluster.stop_worker("c1")
    p1 = cluster.stop_worker("p1")
    assert _tasks_done(c1) > 0 and _tasks_done(p1) > 0
    assert _tasks_done(c1) + _tasks_done(p1) >= 800


def test_python_worker_killed_mid_stream(cluster_factory):
    cluster = cluster_factory(FAST_CONF)
    env = _env(200, 32, 2)         # a task streams for about 0.4 s
    for name in ("p1", "p2", "p3"):
        cluster.add_py_worker(name, ["load=sources:synth"], slots=4, extra=FAST_WORKER, env=env)
    queries = ["k%02d" % i for i in range(30)]
    want = _reference(queries, 200, 32)

    async def go():
        out = []
        killed = False
        async with braid.Client(cluster.frontend) as c:
            async for ev in c.submit(queries, "load"):
                if isinstance(ev, braid.Partial):
                    out.append(ev.data)
                    if not killed and len(out) * 32 >= len(want) // 5:
                        cluster.workers["p2"].signal(signal.SIGKILL)
                        killed = True
                elif isinstance(ev, braid.End):
                    assert ev.status == "ok", ev
                elif isinstance(ev, braid.JobEnd):
                    assert ev.status == "ok"
        return b"".join(out)
    got = run(go(), timeout=120)
    victim = cluster.workers.pop("p2")
    assert victim.wait(5) == -signal.SIGKILL
    cluster.broker.wait_line(r"worker expired name=p2 ")
    assert got == want
    s = cluster.stats()
    assert s["tasks_dispatched"] > 30 or s["retries"] > 0


def test_break_cancels_python_tasks(cluster):
    cluster.add_py_worker("p1", ["slow=sources:sleepy"], slots=4)
    queries = ["s%d" % i for i in range(8)]

    async def go():
        async with braid.Client(cluster.frontend) as c:
            async for ev in c.submit(queries, "slow"):
                assert isinstance(ev, braid.Partial)
                break
            await asyncio.get_running_loop().run_in_executor(None, cluster.wait_idle)
    run(go())
    started = [q for q in queries if os.path.exists(os.path.join(cluster.dir, "mark-started-" + q))]
    assert started
    for q in started:
        wait_for(lambda: os.path.exists(os.path.join(cluster.dir, "mark-cancelled-" + q)), 5,
                 "the coroutine of %s cancelled" % q)


def test_python_timeouts_and_failures(cluster):
    cluster.add_py_worker("p1", ["slow=sources:sleepy", "bad=sources:failing"], slots=4)

    async def go():
        async with braid.Client(cluster.frontend) as c:
            slow = await c.gather(["t1", "t2"], "slow", timeout=0.2)
            events = [ev async for ev in c.submit(["x", "tflaky"], "bad", retries=2)]
            return slow, events
    slow, events = run(go())
    assert [(r.status, r.data) for r in slow] == [("timeout", b"t1 first\n"),
                                                 ("timeout", b"t2 first\n")]
    for q in ("t1", "t2"):
        assert os.path.exists(os.path.join(cluster.dir, "mark-cancelled-" + q))
    ends = [e for e in events if isinstance(e, braid.End)]
    assert (ends[0].status, ends[0].attempts, ends[0].error) == ("failed", 1,
                                                                 "RuntimeError: no luck with x")
    assert (ends[1].status, ends[1].attempts, ends[1].error) == ("failed", 3, "flaky tflaky")
    # Each partial once, though the transient one ran three times (resume).
    partials = [e.data for e in events if isinstance(e, braid.Partial)]
    assert partials == [b"x before\n", b"tflaky before\n"]


def test_sigterm_hands_tasks_to_another_worker(cluster_factory):
    cluster = cluster_factory(FAST_CONF)
    env = _env(100, 16, 5)         # 0.5 s per task
    cluster.add_py_worker("p1", ["load=sources:synth"], slots=4, extra=FAST_WORKER, env=env)
    queries = ["h%d" % i for i in range(12)]

    async def go():
        out = []
        async with braid.Client(cluster.frontend) as c:
            async for ev in c.submit(queries, "load"):
                if isinstance(ev, braid.Partial):
                    out.append(ev.data)
                    if len(out) == 20:
                        # A second worker, then the first one leaves.
                        loop = asyncio.get_running_loop()
                        await loop.run_in_executor(None, lambda: cluster.add_py_worker(
                            "p2", ["load=sources:synth"], slots=4, extra=FAST_WORKER, env=env))
                        await loop.run_in_executor(None, cluster.stop_worker, "p1")
                elif isinstance(ev, braid.End):
                    assert ev.status == "ok", ev
        return b"".join(out)
    assert run(go(), timeout=120) == _reference(queries, 100, 16)
