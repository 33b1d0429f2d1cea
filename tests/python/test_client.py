"""test_client.py - braid.Client against the real broker and C workers.

Ordering (1,000 queries equal to the C client's output byte for byte;
arrival order the same multiset), credit (a paused consumer bounds the
broker's memory), cancel (breaking out of the loop, or cancelling the
task, leaves no job on the broker), several jobs on one client, the
errors (Unavailable, Refused, StreamError), gather and stats.
"""

import asyncio
import collections
import contextlib
import json
import os
import signal
import socket
import time

import pytest

import braid
from conftest import FAST_CONF, FAST_WORKER, SCALE, run, synth_payload

LOAD = "load=synthetic:parts=3,size=24,delay_msec=1"
ONE = "one=synthetic:parts=1,size=10"


def _queries(n):
    # Spaces, UTF-8, a query longer than a synthetic part: all travel as bytes.
    return ["q%04d" % i if i % 7 else "é %d long query text" % i for i in range(n)]


async def _collect(client, queries, sources, **kw):
    events = []
    async for ev in client.submit(queries, sources, **kw):
        events.append(ev)
    return events


def _check_stream(events, nqueries, sources):
    """One End per (query, source) after its partials, in seq order; the
    JobEnd last."""
    assert isinstance(events[-1], braid.JobEnd)
    seen = collections.defaultdict(list)
    ends = {}
    for ev in events[:-1]:
        key = (ev.query, ev.source)
        assert key not in ends, "an event after the End of %r" % (key,)
        if isinstance(ev, braid.Partial):
            assert ev.seq == len(seen[key])
            seen[key].append(ev.data)
        else:
            assert isinstance(ev, braid.End)
            assert ev.parts == len(seen[key])
            ends[key] = ev
    assert set(ends) == {(q, s) for q in range(nqueries) for s in sources}
    return seen, ends


def test_submit_order_equals_the_c_client(cluster):
    cluster.add_c_worker("w1", [LOAD, ONE], slots=4)
    cluster.add_c_worker("w2", [LOAD, ONE], slots=4)
    queries = _queries(1000)
    stdin = "".join(q + "\n" for q in queries).encode()
    rc, cli_out = cluster.cli(["submit", "-s", "load", "-s", "one", "-j", "8"], input=stdin)
    assert rc == 0
    rc, cli_json = cluster.cli(["submit", "-s", "load", "-s", "one", "-j", "8", "--json"],
                               input=stdin)
    assert rc == 0

    async def go():
        async with braid.Client(cluster.frontend) as c:
            return await _collect(c, queries, ["load", "one"], max_inflight=8)
    events = run(go())
    _check_stream(events, 1000, ["load", "one"])
    data = b"".join(ev.data for ev in events if isinstance(ev, braid.Partial))
    assert data == cli_out
    assert len(data) == 1000 * (3 * 24 + 10)
    # The ends and the job end, as the CLI's --json prints them.
    lines = [json.loads(line) for line in cli_json.splitlines()]
    want = [(j["query"], j["source"], j["status"], j["parts"]) for j in lines if j["type"] == "end"]
    got = [(e.query, e.source, e.status, e.parts) for e in events if isinstance(e, braid.End)]
    assert got == want
    assert events[-1] == braid.JobEnd("ok", lines[-1]["sources"])
    # Byte for byte what the synthetic source makes, in a sequential run's order.
    ref = b"".join(b"".join(synth_payload(q.encode(), s, 24) for s in range(3))
                   + synth_payload(q.encode(), 0, 10) for q in queries)
    assert data == ref


def test_arrival_order_is_the_same_multiset(cluster):
    cluster.add_c_worker("w1", [LOAD, ONE], slots=4)
    cluster.add_c_worker("w2", [LOAD, ONE], slots=4)
    queries = _queries(1000)

    async def go():
        async with braid.Client(cluster.frontend) as c:
            sub = await _collect(c, queries, ["load", "one"])
            arr = await _collect(c, queries, ["load", "one"], order="arrival")
            return sub, arr
    sub, arr = run(go())
    s_seen, s_ends = _check_stream(sub, 1000, ["load", "one"])
    a_seen, a_ends = _check_stream(arr, 1000, ["load", "one"])
    assert a_seen == s_seen
    assert collections.Counter(arr[:-1]) == collections.Counter(sub[:-1])
    assert arr[-1] == sub[-1]
    assert len([e for e in arr if isinstance(e, braid.End)]) == 2000


def test_gather_and_failures_isolated(cluster):
    cluster.add_c_worker("w1", ["load=synthetic:parts=2,size=8,fail=bad", ONE], slots=4)

    async def go():
        async with braid.Client(cluster.frontend) as c:
            return await c.gather(["a", "bad1", b"c"], ["load", "one"])
    results = run(go())
    assert [(r.query, r.source, r.status) for r in results] == [
        ("a", "load", "ok"), ("a", "one", "ok"), ("bad1", "load", "failed"),
        ("bad1", "one", "ok"), (b"c", "load", "ok"), (b"c", "one", "ok")]
    assert results[0].data == synth_payload(b"a", 0, 8) + synth_payload(b"a", 1, 8)
    assert results[2].data == b""


def test_end_record_fields_and_job_end_summary(cluster):
    cluster.add_c_worker("w1", ["load=synthetic:parts=2,size=8,fail=bad"], slots=2)

    async def go():
        async with braid.Client(cluster.frontend) as c:
            return await _collect(c, ["bad", "good"], "load")
    events = run(go())
    end_bad = [e for e in events if isinstance(e, braid.End) and e.query == 0][0]
    assert end_bad == braid.End(0, "load", "failed", 0, 1, "synthetic failure")
    assert events[-1] == braid.JobEnd("failed", {"load": {"ok": 1, "failed": 1, "timeout": 0,
                                                          "cancelled": 0}})


def test_task_timeout(cluster):
    cluster.add_c_worker("w1", ["slow=synthetic:parts=1000,size=8,delay_msec=50"], slots=2)

    async def go():
        async with braid.Client(cluster.frontend) as c:
            return await _collect(c, ["t"], "slow", timeout=0.3)
    events = run(go())
    end = events[-2]
    assert (end.status, end.error) == ("timeout", "timeout after 300 msec")
    assert events[-1].status == "failed"


def _slow_c(cluster):
    cluster.add_c_worker("w1", ["slow=synthetic:parts=100000,size=8,delay_msec=20"], slots=4)
    cluster.add_c_worker("w2", ["slow=synthetic:parts=100000,size=8,delay_msec=20"], slots=4)


def test_break_cancels_the_job(cluster):
    _slow_c(cluster)

    async def go():
        async with braid.Client(cluster.frontend) as c:
            first = None
            async for ev in c.submit(["a%d" % i for i in range(20)], "slow"):
                first = ev
                break
            assert isinstance(first, braid.Partial)
            # The client stays open: the iterator's own finalisation cancels.
            await asyncio.get_running_loop().run_in_executor(None, cluster.wait_idle)
            return c.dropped
    run(go())
    s = cluster.stats()
    assert s["jobs"] == 0 and s["running"] == 0 and s["queued"] == 0


def test_aclosing_cancels_at_once(cluster):
    _slow_c(cluster)

    async def go():
        async with braid.Client(cluster.frontend) as c:
            async with contextlib.aclosing(c.submit(["a", "b"], "slow")) as events:
                async for ev in events:
                    break
            await asyncio.get_running_loop().run_in_executor(None, cluster.wait_idle)
    run(go())


def test_cancelling_the_task_cancels_the_job(cluster):
    _slow_c(cluster)

    async def go():
        async with braid.Client(cluster.frontend) as c:
            got = asyncio.Event()

            async def consume():
                async for ev in c.submit(["a%d" % i for i in range(8)], "slow"):
                    got.set()
            t = asyncio.create_task(consume())
            await asyncio.wait_for(got.wait(), 10 * SCALE)
            t.cancel()
            with pytest.raises(asyncio.CancelledError):
                await t
            await asyncio.get_running_loop().run_in_executor(None, cluster.wait_idle)
    run(go())


def test_closing_the_client_cancels_its_jobs(cluster):
    _slow_c(cluster)

    async def go():
        c = braid.Client(cluster.frontend)
        it = c.submit(["a", "b", "c"], "slow")
        await it.__anext__()
        await c.close()
        with pytest.raises(braid.Error):
            await it.__anext__()
    run(go())
    cluster.wait_idle()


def test_several_jobs_at_once(cluster):
    cluster.add_c_worker("w1", [LOAD], slots=4)
    cluster.add_c_worker("w2", [LOAD], slots=4)

    async def go():
        async with braid.Client(cluster.frontend, window=8) as c:
            jobs = [["j%d-%d" % (j, i) for i in range(60 + 10 * j)] for j in range(4)]
            outs = await asyncio.gather(*(c.gather(q, "load", order=o)
                                          for q, o in zip(jobs, ["submit", "arrival"] * 2)))
            return jobs, outs
    jobs, outs = run(go())
    for queries, results in zip(jobs, outs):
        assert [r.query for r in results] == queries
        for r in results:
            assert r.status == "ok"
            assert r.data == b"".join(synth_payload(r.query.encode(), s, 24) for s in range(3))


def test_credit_bounds_the_broker_memory(cluster_factory):
    # A consumer that stops reading: the broker holds its windows, not the
    # job's 200 MiB; then it reads on and gets every byte.
    conf = FAST_CONF.replace("client_liveness_msec = 1500", "client_liveness_msec = 60000")
    cluster = cluster_factory(conf + "    window = 16\n")
    size, parts, tasks = 65536, 800, 4
    bound = 64 << 20
    cluster.add_c_worker("w1", ["big=synthetic:parts=%d,size=%d" % (parts, size)], slots=4,
                         extra=FAST_WORKER)
    base = cluster.stats()["rss_bytes"]

    async def go():
        async with braid.Client(cluster.frontend) as c:
            own = _rss()
            it = c.submit(["b%d" % i for i in range(tasks)], "big", order="arrival")
            ev = await it.__anext__()
            counts = collections.Counter()
            counts[ev.query] += 1
            # Paused: the broker stops once our credit (and the workers'
            # windows) are used up; sample its memory and ours meanwhile.
            loop = asyncio.get_running_loop()
            peak = own_peak = 0
            for _ in range(10):
                s = await loop.run_in_executor(None, cluster.stats)
                peak = max(peak, s["rss_bytes"])
                own_peak = max(own_peak, _rss())
                await asyncio.sleep(0.1)      # the pause itself, not a synchronisation
            assert own_peak - own < bound, "the client grew %d MiB while paused" % (
                (own_peak - own) >> 20)
            total = 0
            async for ev in it:
                if isinstance(ev, braid.Partial):
                    assert ev.data == synth_payload(b"b%d" % ev.query, ev.seq, size)
                    counts[ev.query] += 1
                    total += len(ev.data)
            return peak, counts
    peak, counts = run(go(), timeout=120)
    assert all(counts[q] == parts for q in range(tasks))
    assert peak - base < bound, "broker grew %d MiB while the consumer paused" % (
        (peak - base) >> 20)
    assert tasks * parts * size > 3 * bound


def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_unavailable():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                       # nothing listens there now

    async def go():
        async with braid.Client("tcp://127.0.0.1:%d" % port, connect_timeout=0.3) as c:
            start = time.monotonic()
            with pytest.raises(braid.Unavailable) as e:
                await _collect(c, ["a"], "load")
            assert "no answer within 300 msec" in str(e.value)
            assert time.monotonic() - start < 5 * SCALE
            with pytest.raises(braid.Unavailable):
                await c.stats()
    run(go())


def test_refused_and_failover(cluster):
    cluster.add_c_worker("w1", [ONE], slots=2)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = "tcp://127.0.0.1:%d" % s.getsockname()[1]
    s.close()

    async def go():
        async with braid.Client(dead, cluster.frontend, connect_timeout=0.3) as c:
            with pytest.raises(braid.Refused) as e:
                await _collect(c, ["a"], "nope")
            assert e.value.code == 400 and "no worker serves source 'nope'" in e.value.text
            results = await c.gather(["a"], "one")
            assert results[0].status == "ok"
            return await c.stats()
    stats = run(go())
    assert stats["workers"] == 1


def test_order_key_merges_by_score(cluster, tmp_path):
    # Two C workers' keyed sources: merged by score, a repeated URL dropped
    # and counted in its End.
    script = tmp_path / "ranked.sh"
    script.write_text("#!/bin/sh\n"
                      "f='{\"s\":%s,\"u\":\"%s\"}\\n'\n"
                      "case $1 in\n"
                      "a) printf \"$f\" 9 u1 5 u2 ;;\n"
                      "b) printf \"$f\" 7 u2 3 u3 ;;\n"
                      "esac\n")
    script.chmod(0o755)
    specs = ["%s=exec[score=s,dedup=u]:'%s' %s {query}" % (n, script, n) for n in "ab"]
    cluster.add_c_worker("w1", specs, slots=2)

    async def go():
        async with braid.Client(cluster.frontend) as c:
            return await _collect(c, ["q"], ["a", "b"], order="key")
    events = run(go())
    partials = [(e.source, e.seq, json.loads(e.data)["u"]) for e in events
                if isinstance(e, braid.Partial)]
    assert partials == [("a", 0, "u1"), ("b", 0, "u2"), ("b", 1, "u3")]
    ends = {e.source: e for e in events if isinstance(e, braid.End)}
    assert (ends["a"].parts, ends["a"].duplicates) == (2, 1)
    assert (ends["b"].parts, ends["b"].duplicates) == (2, 0)
    assert events[-1].status == "ok"


def test_argument_checks():
    c = braid.Client("tcp://127.0.0.1:1")
    for kw in [dict(queries=[], sources="a"), dict(queries=["x" * 8193], sources="a"),
               dict(queries=["a"], sources=[]), dict(queries=["a"], sources=["a b"]),
               dict(queries=["a"], sources=["a", "a"]),
               dict(queries=["a"], sources="a", order="ranked"),
               dict(queries=["a"], sources="a", retries=1001),
               dict(queries=["a"], sources="a", timeout=-1),
               dict(queries=["a"], sources="a", max_inflight=10 ** 7)]:
        with pytest.raises(ValueError):
            c.submit(**kw)
    with pytest.raises(ValueError):
        braid.Client()


def test_broker_silent_is_a_lost_stream(cluster):
    _slow_c(cluster)

    async def go():
        async with braid.Client(cluster.frontend, heartbeat=0.1, idle_timeout=0.6) as c:
            with pytest.raises(braid.StreamError) as e:
                async for ev in c.submit(["s"], "slow"):
                    cluster.broker.signal(signal.SIGSTOP)
            assert e.value.code == braid.LOST
    try:
        run(go())
    finally:
        cluster.broker.signal(signal.SIGCONT)


def test_stats(cluster):
    cluster.add_c_worker("w1", [ONE], slots=3)

    async def go():
        async with braid.Client(cluster.frontend) as c:
            return await c.stats()
    s = run(go())
    assert (s["workers"], s["slots"], s["jobs"]) == (1, 3, 0)
    assert "one" in s["sources"]
