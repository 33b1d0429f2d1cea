"""test_client_protocol.py - braid.Client on the wire, against a fake broker.

A ROUTER speaking braid._proto plays the broker's frontend, so that the
client's side of PROTOCOL.md "A job" can be checked message by message,
as libbraid behaves: SUBMIT resent until ACCEPT (with its queries when
they fit one QUERIES), QUERIES batches after ACCEPT, credit (the first
grant, the grants as the iteration takes messages, a quiet stream's grant
repeated), PING every heartbeat, out_seq continuity (a duplicate dropped,
a gap breaks the stream and sends CANCEL), messages beyond the credit or
out of range break it too, an END carrying its last partials, RESTART,
ERROR, malformed input dropped, the broker's silence.
"""

import asyncio
import time

import pytest
import zmq
import zmq.asyncio

import braid
from braid import _proto as P
from conftest import SCALE, run

J = P.Msg  # shorthand


class FakeFrontend:
    """A broker frontend driven by the test: everything the client sends
    is recorded as (time, routing id, Msg, payload)."""

    def __init__(self, pong=True):
        self.sock = zmq.asyncio.Context.instance().socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind("tcp://127.0.0.1:*")
        self.endpoint = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self.got = []
        self.pong = pong
        self.changed = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self):
        while True:
            frames = await self.sock.recv_multipart()
            msg, payload = P.decode_frames(frames[1:], P.CH_CLIENT)
            self.got.append((time.monotonic(), frames[0], msg, payload))
            if msg.type == P.MSG_PING and self.pong:
                self.sock.send_multipart([frames[0], P.encode(J(P.MSG_PONG))])
            if msg.type == P.MSG_CANCEL and self.pong:
                # As the broker answers a job it does not hold (the tests
                # end theirs by hand): the client lets go of it.
                self.send(frames[0], J(P.MSG_ERROR, job_id=msg.job_id, code=404,
                                       text="no such job"))
            self.changed.set()

    def close(self):
        self.task.cancel()
        self.sock.close(0)

    def of(self, mtype):
        return [(t, rid, m, p) for t, rid, m, p in self.got if m.type == mtype]

    async def until(self, cond, timeout=5):
        end = time.monotonic() + timeout * SCALE
        while True:
            v = cond()
            if v:
                return v
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("fake frontend: timed out; got %s"
                                     % [m.type_name for _t, _r, m, _p in self.got][-30:])
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def submitted(self):
        """The first SUBMIT: (routing id, Msg)."""
        _t, rid, m, _p = (await self.until(lambda: self.of(P.MSG_SUBMIT)))[0]
        return rid, m

    def send(self, rid, msg, payload=()):
        self.sock.send_multipart([rid, P.encode(msg)] + P.wire_payload(msg, payload))

    def accept(self, rid, job):
        self.send(rid, J(P.MSG_ACCEPT, job_id=job))

    def partial(self, rid, job, out_seq, query=0, source=0, seq=0, data=(b"x",)):
        self.send(rid, J(P.MSG_PARTIAL, job_id=job, out_seq=out_seq, query=query, source=source,
                         seq=seq), data)

    def end(self, rid, job, out_seq, query=0, source=0, status=0, parts=0, attempts=1, text="",
            data=()):
        self.send(rid, J(P.MSG_END, job_id=job, out_seq=out_seq, query=query, source=source,
                         status=status, parts=parts, attempts=attempts, text=text), data)

    def job_end(self, rid, job, out_seq, status=0, summary=((1, 0, 0, 0),)):
        self.send(rid, J(P.MSG_JOB_END, job_id=job, out_seq=out_seq, status=status,
                         summary=[list(r) for r in summary]))


def fake_test(coro_fn, timeout=30):
    async def main():
        fb = FakeFrontend()
        try:
            return await coro_fn(fb)
        finally:
            fb.close()
    return run(main(), timeout)


async def _next(it, timeout=5):
    return await asyncio.wait_for(it.__anext__(), timeout * SCALE)


def test_submit_resent_until_accept_with_its_queries():
    async def body(fb):
        async with braid.Client(fb.endpoint) as c:
            it = c.submit(["a", b"b\xff"], ["s1", "s2"], order="arrival", max_inflight=7,
                          timeout=1.5, deadline=60, retries=3, fail_fast=True)
            first = asyncio.ensure_future(_next(it))
            # No answer to the first SUBMIT: it comes again a second later.
            # (and its QUERIES, a message of their own that may be read a
            # moment after it)
            await fb.until(lambda: len(fb.of(P.MSG_SUBMIT)) >= 2 and len(fb.of(P.MSG_QUERIES)) >= 2)
            subs = fb.of(P.MSG_SUBMIT)
            assert subs[1][0] - subs[0][0] >= 0.9
            rid, sub = subs[0][1], subs[0][2]
            assert subs[1][2] == sub and subs[1][1] == rid       # idempotent: the same
            assert (sub.order, sub.max_inflight, sub.timeout_msec, sub.deadline_msec,
                    sub.retries, sub.flags, sub.count, sub.credit, sub.sources) == \
                (1, 7, 1500, 60000, 3, P.FLAG_FAIL_FAST | P.FLAG_RETRIES, 2, 64, ["s1", "s2"])
            # Each SUBMIT has the queries right behind it.
            qs = fb.of(P.MSG_QUERIES)
            assert len(qs) >= 2 and all(q[2].first == 0 and q[3] == [b"a", b"b\xff"] for q in qs)
            fb.accept(rid, sub.job_id)
            fb.partial(rid, sub.job_id, 0, query=1, source=1, seq=0, data=[b"p"])
            ev = await first
            assert ev == braid.Partial(1, "s2", 0, b"p")
            fb.end(rid, sub.job_id, 1, query=1, source=1, parts=1)
            for out_seq, (q, s) in enumerate(((0, 0), (0, 1), (1, 0)), start=2):
                fb.end(rid, sub.job_id, out_seq, query=q, source=s)
            fb.job_end(rid, sub.job_id, 5, summary=((2, 0, 0, 0), (2, 0, 0, 0)))
            rest = [ev async for ev in it]
            assert rest[-1] == braid.JobEnd("ok", {"s1": dict(ok=2, failed=0, timeout=0,
                                                              cancelled=0),
                                                   "s2": dict(ok=2, failed=0, timeout=0,
                                                              cancelled=0)})
            # The job ended cleanly after a repeated SUBMIT: CANCEL closes the
            # copy that SUBMIT may have opened.
            await fb.until(lambda: fb.of(P.MSG_CANCEL))
    fake_test(body)


def test_big_job_queries_after_accept_in_batches():
    async def body(fb):
        queries = ["q%d" % i for i in range(2500)]
        async with braid.Client(fb.endpoint) as c:
            it = c.submit(queries, "s")
            first = asyncio.ensure_future(_next(it))
            rid, sub = await fb.submitted()
            assert sub.count == 2500
            assert not fb.of(P.MSG_QUERIES)         # not before ACCEPT
            fb.accept(rid, sub.job_id)
            await fb.until(lambda: len(fb.of(P.MSG_QUERIES)) == 3)
            batches = fb.of(P.MSG_QUERIES)
            assert [(b[2].first, len(b[3])) for b in batches] == [(0, 1024), (1024, 1024),
                                                                 (2048, 452)]
            assert [f for b in batches for f in b[3]] == [q.encode() for q in queries]
            first.cancel()
    fake_test(body)


def test_credit_as_the_iteration_takes_messages():
    async def body(fb):
        async with braid.Client(fb.endpoint, window=10) as c:
            it = c.submit(["a"], "s", order="arrival")
            first = asyncio.ensure_future(_next(it))
            rid, sub = await fb.submitted()
            assert sub.credit == 10                  # min(window, 64)
            fb.accept(rid, sub.job_id)
            for i in range(10):                      # all the credit allows
                fb.partial(rid, sub.job_id, i, seq=i)
            await first
            for _ in range(4):
                await _next(it)
            # Five taken: 5 + (10 - 5) >= 10 -> a grant of 5 + 10, the first
            # one (none while fewer were taken).
            _t, _r, m, _p = (await fb.until(lambda: fb.of(P.MSG_CREDIT)))[0]
            assert m.credit == 15
            for i in range(10, 15):
                fb.partial(rid, sub.job_id, i, seq=i)
            fb.partial(rid, sub.job_id, 15, seq=15)   # beyond the credit
            # The reader refuses it while the iteration waits (so no later
            # grant makes it legal): CANCEL tells.
            await fb.until(lambda: fb.of(P.MSG_CANCEL))
            seqs = []
            with pytest.raises(braid.StreamError) as e:
                while True:
                    seqs.append((await _next(it)).seq)
            assert seqs == list(range(5, 15))
            assert e.value.code == braid.PROTOCOL and "beyond the credit" in e.value.text
    fake_test(body)


def test_quiet_stream_repeats_its_credit_and_pings():
    async def body(fb):
        async with braid.Client(fb.endpoint, heartbeat=0.1) as c:
            it = c.submit(["a"], "s")
            first = asyncio.ensure_future(_next(it))
            rid, sub = await fb.submitted()
            fb.accept(rid, sub.job_id)
            start = time.monotonic()
            await fb.until(lambda: len(fb.of(P.MSG_PING)) >= 5)
            await fb.until(lambda: len(fb.of(P.MSG_CREDIT)) >= 2)
            assert all(m.credit == 64 for _t, _r, m, _p in fb.of(P.MSG_CREDIT))
            assert time.monotonic() - start < 3 * SCALE
            first.cancel()
    fake_test(body)


def test_duplicate_dropped_gap_breaks_the_stream():
    async def body(fb):
        async with braid.Client(fb.endpoint) as c:
            it = c.submit(["a"], "s")
            first = asyncio.ensure_future(_next(it))
            rid, sub = await fb.submitted()
            fb.accept(rid, sub.job_id)
            fb.accept(rid, sub.job_id)               # a repeated ACCEPT: dropped
            fb.partial(rid, sub.job_id, 0, seq=0, data=[b"0"])
            fb.partial(rid, sub.job_id, 0, seq=0, data=[b"0"])    # a duplicate
            fb.partial(rid, sub.job_id, 1, seq=1, data=[b"1"])
            fb.partial(rid, sub.job_id, 3, seq=3, data=[b"3"])    # 2 lost
            assert (await first).data == b"0"
            assert (await _next(it)).data == b"1"
            with pytest.raises(braid.StreamError) as e:
                await _next(it)
            assert e.value.code == braid.GAP
            assert "out_seq 2 expected, 3 received" in e.value.text
            await fb.until(lambda: fb.of(P.MSG_CANCEL))
            assert c.dropped == 2
            # The next job takes a fresh connection (a new routing id).
            it2 = c.submit(["b"], "s")
            second = asyncio.ensure_future(_next(it2))
            await fb.until(lambda: len({r for _t, r, m, _p in fb.of(P.MSG_SUBMIT)}) == 2)
            second.cancel()
    fake_test(body)


def test_end_carries_partials_restart_and_errors():
    async def body(fb):
        async with braid.Client(fb.endpoint) as c:
            it = c.submit(["a", "b"], "s")
            first = asyncio.ensure_future(_next(it))
            rid, sub = await fb.submitted()
            j = sub.job_id
            fb.accept(rid, j)
            fb.partial(rid, j, 0, seq=0, data=[b"x0", b"x1"])
            fb.send(rid, J(P.MSG_RESTART, job_id=j, out_seq=1, query=0, source=0, attempts=2))
            fb.end(rid, j, 2, parts=4, attempts=2, data=[b"y2", b"y3"])
            fb.end(rid, j, 3, query=1, status=1, parts=0, text="no luck")
            # Garbage in between: dropped, counted, the stream goes on.
            fb.sock.send_multipart([rid, b"\xc1"])
            fb.job_end(rid, j, 4, status=1, summary=((1, 1, 0, 0),))
            events = [await first] + [ev async for ev in it]
            assert events == [
                braid.Partial(0, "s", 0, b"x0"), braid.Partial(0, "s", 1, b"x1"),
                braid.Restart(0, "s", 2),
                braid.Partial(0, "s", 2, b"y2"), braid.Partial(0, "s", 3, b"y3"),
                braid.End(0, "s", "ok", 4, 2, ""), braid.End(1, "s", "failed", 0, 1, "no luck"),
                braid.JobEnd("failed", {"s": dict(ok=1, failed=1, timeout=0, cancelled=0)})]
            assert c.dropped == 1
    fake_test(body)


def test_order_key_and_duplicates():
    # order "key" goes on the wire as 2; an END's duplicates reach End, and
    # a merged stream's seqs may skip the dropped ones.
    async def body(fb):
        async with braid.Client(fb.endpoint) as c:
            it = c.submit(["a"], ["s", "t"], order="key")
            first = asyncio.ensure_future(_next(it))
            rid, sub = await fb.submitted()
            assert sub.order == P.ORDER_KEY
            j = sub.job_id
            fb.accept(rid, j)
            fb.partial(rid, j, 0, source=1, seq=0, data=[b"t0"])
            fb.partial(rid, j, 1, source=0, seq=1, data=[b"s1"])
            fb.send(rid, J(P.MSG_END, job_id=j, out_seq=2, query=0, source=0, parts=2, attempts=1,
                           duplicates=1))
            fb.end(rid, j, 3, source=1, parts=1)
            fb.job_end(rid, j, 4, summary=((1, 0, 0, 0), (1, 0, 0, 0)))
            events = [await first] + [ev async for ev in it]
            assert events[:4] == [braid.Partial(0, "t", 0, b"t0"), braid.Partial(0, "s", 1, b"s1"),
                                  braid.End(0, "s", "ok", 2, 1, "", 1),
                                  braid.End(0, "t", "ok", 1, 1, "")]
            assert events[2].duplicates == 1 and events[3].duplicates == 0
    fake_test(body)


@pytest.mark.parametrize("bad", ["range", "carried", "error"])
def test_broken_job_rules(bad):
    async def body(fb):
        async with braid.Client(fb.endpoint) as c:
            it = c.submit(["a"], "s")
            first = asyncio.ensure_future(_next(it))
            rid, sub = await fb.submitted()
            j = sub.job_id
            fb.accept(rid, j)
            if bad == "range":
                fb.partial(rid, j, 0, query=1)
            elif bad == "carried":
                fb.end(rid, j, 0, parts=1, data=[b"a", b"b"])
            else:
                fb.send(rid, J(P.MSG_ERROR, job_id=j, code=400, text="QUERIES beyond n"))
            with pytest.raises(braid.StreamError) as e:
                await first
            assert e.value.code == {"range": braid.PROTOCOL, "carried": braid.PROTOCOL,
                                    "error": 400}[bad]
    fake_test(body)


def test_refused_at_submit():
    async def body(fb):
        async with braid.Client(fb.endpoint) as c:
            it = c.submit(["a"], "s")
            first = asyncio.ensure_future(_next(it))
            rid, sub = await fb.submitted()
            fb.send(rid, J(P.MSG_ERROR, job_id=sub.job_id, code=429, text="too many open jobs"))
            with pytest.raises(braid.Refused) as e:
                await first
            assert (e.value.code, e.value.text) == (429, "too many open jobs")
    fake_test(body)


def test_silent_broker_is_lost():
    async def body(fb):
        fb.pong = False
        async with braid.Client(fb.endpoint, heartbeat=0.1, idle_timeout=0.5) as c:
            it = c.submit(["a"], "s")
            first = asyncio.ensure_future(_next(it))
            rid, sub = await fb.submitted()
            fb.accept(rid, sub.job_id)
            start = time.monotonic()
            with pytest.raises(braid.StreamError) as e:
                await first
            assert e.value.code == braid.LOST
            assert 0.45 <= time.monotonic() - start < 3 * SCALE
    fake_test(body)


def test_close_while_submitting():
    async def body(fb):
        c = braid.Client(fb.endpoint, connect_timeout=30)
        it = c.submit(["a"], "s")
        first = asyncio.ensure_future(_next(it))
        await fb.submitted()
        start = time.monotonic()
        await c.close()
        with pytest.raises(braid.Error):
            await first
        assert time.monotonic() - start < 5 * SCALE
        await fb.until(lambda: fb.of(P.MSG_CANCEL))      # it might have accepted
    fake_test(body)
