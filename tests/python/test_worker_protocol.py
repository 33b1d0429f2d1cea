"""test_worker_protocol.py - the Python worker on the wire, next to braid-worker.

A fake broker (a ROUTER on the backend, a PULL on the sink, speaking
braid._proto) drives one worker through PROTOCOL.md's "A worker" rules.
Each scenario runs against braid-worker with a synthetic source and
against python3 -m braid.worker with its Python twin (sources.synth), and
asserts the same messages from both: windows and TASK_CREDIT, resume,
TASK_CANCEL, timeouts, heartbeats acknowledging TASKs, duplicate and
superseding TASKs, RESET, the slot queue and its limit, the broker's
silence, SIGTERM. For the Python worker it also checks that the async
generator is never advanced past the window and that a cancel cancels the
coroutine.
"""

import os
import signal
import time

import pytest
import zmq

from braid import _proto as P
from conftest import BRAID_WORKER, HERE, PYTHON, ROOT, SCALE, Proc, synth_payload

HB_MSEC = 100


class FakeBroker:
    """A broker's two worker-facing sockets, driven by hand."""

    def __init__(self):
        ctx = zmq.Context.instance()
        self.router = ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.router.setsockopt(zmq.LINGER, 0)
        self.pull = ctx.socket(zmq.PULL)
        self.pull.setsockopt(zmq.LINGER, 0)
        self.router.bind("tcp://127.0.0.1:*")
        self.pull.bind("tcp://127.0.0.1:*")
        self.backend = self.router.getsockopt_string(zmq.LAST_ENDPOINT)
        self.sink = self.pull.getsockopt_string(zmq.LAST_ENDPOINT)
        self.rid = None
        self.silent = False
        self.last_hb = 0.0
        self.control = []           # (time, Msg, payload) in arrival order
        self.results = []           # (time, Msg, payload)

    def close(self):
        self.router.close(0)
        self.pull.close(0)

    def send(self, msg, payload=()):
        self.router.send_multipart([self.rid, P.encode(msg)] + P.wire_payload(msg, payload))

    def task(self, task_id, query, attempt=1, source="load", resume=0, window=0, timeout=0):
        self.send(P.Msg(P.MSG_TASK, task_id=task_id, attempts=attempt, name=source, resume=resume,
                        window=window, timeout_msec=timeout), [query])

    def pump(self, timeout):
        """Take what arrives for up to timeout seconds (BHEARTBEATs going
        out meanwhile, unless silent)."""
        end = time.monotonic() + timeout
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        poller.register(self.pull, zmq.POLLIN)
        while True:
            now = time.monotonic()
            if self.rid and not self.silent and now - self.last_hb >= HB_MSEC / 1000:
                try:
                    self.send(P.Msg(P.MSG_BHEARTBEAT))
                except zmq.ZMQError as e:   # the worker left (BYE not read yet)
                    if e.errno != zmq.EHOSTUNREACH:
                        raise
                self.last_hb = now
            if now >= end:
                return
            events = dict(poller.poll(max(1, int(min(end - now, HB_MSEC / 1000) * 1000))))
            if self.router in events:
                frames = self.router.recv_multipart()
                msg, payload = P.decode_frames(frames[1:], P.CH_WORKER)
                if msg.type == P.MSG_HELLO:
                    self.rid = frames[0]
                self.control.append((time.monotonic(), msg, payload))
            if self.pull in events:
                msg, payload = P.decode_frames(self.pull.recv_multipart(), P.CH_SINK)
                self.results.append((time.monotonic(), msg, payload))

    def until(self, cond, timeout, what):
        """Pump until cond() is true; its value."""
        end = time.monotonic() + timeout * SCALE
        while True:
            v = cond()
            if v:
                return v
            if time.monotonic() >= end:
                raise AssertionError("fake broker: timed out waiting for %s; control=%s results=%s"
                                     % (what, [m.type_name for _t, m, _p in self.control][-20:],
                                        [m for _t, m, _p in self.results][-10:]))
            self.pump(0.02)

    # -- what the worker sent -------------------------------------------------------

    def hellos(self):
        return [m for _t, m, _p in self.control if m.type == P.MSG_HELLO]

    def heartbeats(self):
        """Each WHEARTBEAT as {(task_id, attempt): next_seq}, with its time."""
        return [(t, {(k, a): n for k, a, n in P.hb_entries(p[0])})
                for t, m, p in self.control if m.type == P.MSG_WHEARTBEAT]

    def partials(self, task_id, attempt=1):
        """{seq: data} of a task's DATA and DONE payloads (checking that
        seqs never repeat)."""
        out = {}
        for _t, m, p in self.results:
            if m.task_id != task_id or m.attempts != attempt:
                continue
            first = m.seq if m.type == P.MSG_DATA else m.parts - len(p)
            for i, data in enumerate(p):
                assert first + i not in out, "seq %d sent twice" % (first + i)
                out[first + i] = data
        return out

    def done(self, task_id, attempt=1):
        for _t, m, _p in self.results:
            if m.type == P.MSG_DONE and m.task_id == task_id and m.attempts == attempt:
                return m
        return None


def _spawn_worker(kind, tmp_path, fb, name, parts, size=16, delay_msec=0, slots=2, count=False,
                  extra=(), source="load=sources:synth"):
    if kind == "c":
        spec = "load=synthetic:parts=%d,size=%d,delay_msec=%d" % (parts, size, delay_msec)
        argv = [BRAID_WORKER, "-s", spec]
        env = {}
    else:
        argv = [PYTHON, "-m", "braid.worker", source]
        env = {"PYTHONPATH": os.pathsep.join([os.path.join(ROOT, "python"), HERE]),
               "BRAID_TEST_DIR": str(tmp_path), "SYNTH_PARTS": str(parts),
               "SYNTH_SIZE": str(size), "SYNTH_DELAY_MSEC": str(delay_msec)}
        if count:
            env["SYNTH_COUNT"] = "1"
    argv += ["-b", fb.backend, "-k", fb.sink, "-n", str(slots), "-N", name,
             "--heartbeat", str(HB_MSEC), "--liveness", "1000"] + list(extra)
    proc = Proc(name, argv, str(tmp_path), env)
    fb.until(lambda: fb.hellos(), 10, "HELLO")
    return proc


@pytest.fixture
def fb():
    b = FakeBroker()
    yield b
    b.close()


@pytest.fixture
def worker_factory(tmp_path, fb):
    procs = []

    def make(kind, **kw):
        p = _spawn_worker(kind, tmp_path, fb, "w-" + kind, **kw)
        procs.append(p)
        return p
    yield make
    for p in procs:
        p.kill_group()


KINDS = ["c", "py"]


def _count(tmp_path, query):
    try:
        with open(os.path.join(tmp_path, "count-" + query)) as f:
            return int(f.read())
    except (FileNotFoundError, ValueError):
        return 0


@pytest.mark.parametrize("kind", KINDS)
def test_hello(kind, fb, worker_factory):
    worker_factory(kind, parts=1, slots=3)
    hello = fb.hellos()[0]
    assert (hello.name, hello.slots, hello.sources) == ("w-" + kind, 3, ["load"])


@pytest.mark.parametrize("kind", KINDS)
def test_window_and_credit(kind, tmp_path, fb, worker_factory):
    worker_factory(kind, parts=20, count=True)
    fb.task(1, b"q", window=5)
    fb.until(lambda: len(fb.partials(1)) == 5, 10, "seqs 0..4")
    # Two heartbeats later the worker still says: next seq 5, nothing more.
    n = len(fb.heartbeats())
    fb.until(lambda: len(fb.heartbeats()) >= n + 2, 5, "two heartbeats")
    assert sorted(fb.partials(1)) == list(range(5))
    assert fb.heartbeats()[-1][1] == {(1, 1): 5}
    if kind == "py":
        assert _count(tmp_path, "q") == 5     # the generator waits at its 5th yield
    fb.send(P.Msg(P.MSG_TASK_CREDIT, task_id=1, attempts=1, window=12))
    fb.until(lambda: len(fb.partials(1)) == 12, 10, "seqs 5..11")
    fb.send(P.Msg(P.MSG_TASK_CREDIT, task_id=1, attempts=1, window=8))   # stale: ignored
    n = len(fb.heartbeats())
    fb.until(lambda: len(fb.heartbeats()) >= n + 2, 5, "two heartbeats")
    assert sorted(fb.partials(1)) == list(range(12)) and fb.done(1) is None
    if kind == "py":
        assert _count(tmp_path, "q") == 12
    fb.send(P.Msg(P.MSG_TASK_CREDIT, task_id=1, attempts=1, window=0))   # no limit
    done = fb.until(lambda: fb.done(1), 10, "DONE")
    assert (done.status, done.parts, done.transient, done.text) == (P.STATUS_OK, 20, 0, "")
    assert fb.partials(1) == {s: synth_payload(b"q", s, 16) for s in range(20)}


@pytest.mark.parametrize("kind", KINDS)
def test_resume(kind, fb, worker_factory):
    worker_factory(kind, parts=10)
    fb.task(2, b"r", resume=4)
    done = fb.until(lambda: fb.done(2), 10, "DONE")
    assert done.parts == 10 and done.status == P.STATUS_OK
    assert fb.partials(2) == {s: synth_payload(b"r", s, 16) for s in range(4, 10)}


@pytest.mark.parametrize("kind", KINDS)
def test_short_task_is_one_message(kind, fb, worker_factory):
    worker_factory(kind, parts=3)
    fb.task(3, b"s")
    done = fb.until(lambda: fb.done(3), 10, "DONE")
    assert [m.type for _t, m, _p in fb.results] == [P.MSG_DONE]   # the partials ride on it
    assert done.parts == 3 and len(fb.results[0][2]) == 3


@pytest.mark.parametrize("kind", KINDS)
def test_cancel(kind, tmp_path, fb, worker_factory):
    worker_factory(kind, parts=100000, delay_msec=20)
    fb.task(4, b"c")
    fb.until(lambda: fb.partials(4), 10, "a first partial")
    fb.send(P.Msg(P.MSG_TASK_CANCEL, task_id=4, attempts=1))
    done = fb.until(lambda: fb.done(4), 10, "DONE")
    assert (done.status, done.transient) == (P.STATUS_CANCELLED, 0)
    assert done.parts == len(fb.partials(4))        # counts what left, nothing more
    assert sorted(fb.partials(4)) == list(range(done.parts))


def test_cancel_cancels_the_coroutine(tmp_path, fb, worker_factory):
    worker_factory("py", parts=1, source="load=sources:sleepy")
    fb.task(5, b"k")
    fb.until(lambda: fb.partials(5), 10, "the first partial")
    fb.send(P.Msg(P.MSG_TASK_CANCEL, task_id=5, attempts=1))
    done = fb.until(lambda: fb.done(5), 10, "DONE")
    assert done.status == P.STATUS_CANCELLED and done.parts == 1
    assert os.path.exists(os.path.join(tmp_path, "mark-cancelled-k"))


def test_cancel_waits_for_a_slow_cleanup(tmp_path, fb, worker_factory):
    # DONE leaves once the coroutine has finished (its cleanup done).
    worker_factory("py", parts=1, source="load=sources:stubborn")
    fb.task(6, b"z")
    fb.until(lambda: fb.partials(6), 10, "the first partial")
    fb.send(P.Msg(P.MSG_TASK_CANCEL, task_id=6, attempts=1))
    fb.until(lambda: fb.done(6), 10, "DONE")
    assert os.path.exists(os.path.join(tmp_path, "mark-cleaned-z"))


@pytest.mark.parametrize("kind", KINDS)
def test_timeout(kind, fb, worker_factory):
    worker_factory(kind, parts=100000, delay_msec=10)
    start = time.monotonic()
    fb.task(7, b"t", timeout=300)
    done = fb.until(lambda: fb.done(7), 10, "DONE")
    assert time.monotonic() - start >= 0.3
    assert (done.status, done.text) == (P.STATUS_TIMEOUT, "timeout after 300 msec")
    assert done.parts == len(fb.partials(7))


@pytest.mark.parametrize("kind", KINDS)
def test_heartbeat_acknowledges_task(kind, fb, worker_factory):
    # A long heartbeat: the TASK is still listed within the ack time.
    worker_factory(kind, parts=100000, delay_msec=50, extra=["--heartbeat", "5000",
                                                            "--liveness", "60000"])
    sent = time.monotonic()
    fb.task(8, b"h")
    t, entries = fb.until(lambda: [h for h in fb.heartbeats() if (8, 1) in h[1]], 5,
                          "a heartbeat listing the task")[0]
    assert t - sent < 1.0 * SCALE        # ACK_TIME (250 ms) plus slack, not 5 s


@pytest.mark.parametrize("kind", KINDS)
def test_duplicate_and_superseding_tasks(kind, fb, worker_factory):
    worker_factory(kind, parts=100000, delay_msec=20)
    fb.task(9, b"d")
    fb.task(9, b"d")                          # the same attempt: ignored
    fb.until(lambda: fb.partials(9), 10, "a partial")
    fb.task(9, b"d", attempt=2)              # a new attempt replaces it
    fb.until(lambda: fb.partials(9, 2), 10, "a partial of attempt 2")
    fb.send(P.Msg(P.MSG_TASK_CANCEL, task_id=9, attempts=2))
    fb.until(lambda: fb.done(9, 2), 10, "DONE of attempt 2")
    n = len(fb.heartbeats())
    fb.until(lambda: len(fb.heartbeats()) >= n + 2, 5, "two heartbeats")
    assert fb.done(9, 1) is None               # the old attempt never reports
    assert fb.heartbeats()[-1][1] == {}
    assert [m.type for _t, m, _p in fb.results].count(P.MSG_DONE) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_reset(kind, fb, worker_factory):
    worker_factory(kind, parts=100000, delay_msec=20)
    fb.task(10, b"x")
    fb.until(lambda: fb.partials(10), 10, "a partial")
    fb.send(P.Msg(P.MSG_RESET))
    fb.until(lambda: len(fb.hellos()) == 2, 5, "HELLO again")
    n = len(fb.heartbeats())
    fb.until(lambda: len(fb.heartbeats()) >= n + 2, 5, "two heartbeats")
    assert fb.done(10) is None and fb.heartbeats()[-1][1] == {}


@pytest.mark.parametrize("kind", KINDS)
def test_slots_queue_and_its_limit(kind, fb, worker_factory):
    worker_factory(kind, parts=100000, delay_msec=20, slots=2)
    for k in range(20, 24):                   # 2 run, 2 wait queued
        fb.task(k, b"s%d" % k)
    fb.until(lambda: fb.partials(20) and fb.partials(21), 10, "the first two running")
    fb.until(lambda: any(len(h) == 4 for _t, h in fb.heartbeats()), 5, "all four listed")
    assert not fb.partials(22) and not fb.partials(23)
    fb.task(24, b"s24")                       # beyond 2 x slots: refused, transient
    done = fb.until(lambda: fb.done(24), 5, "DONE of the fifth")
    assert (done.status, done.transient) == (P.STATUS_FAILED, 1)
    assert done.text == "no free slot (2 running, 2 queued)"
    fb.send(P.Msg(P.MSG_TASK_CANCEL, task_id=20, attempts=1))
    fb.until(lambda: fb.partials(22), 10, "the first queued one starting")   # lowest id first
    assert not fb.partials(23)


@pytest.mark.parametrize("kind", KINDS)
def test_broker_silence_reconnects(kind, fb, worker_factory):
    worker_factory(kind, parts=100000, delay_msec=20)
    fb.task(11, b"y")
    fb.until(lambda: fb.partials(11), 10, "a partial")
    first = fb.rid
    fb.silent = True
    fb.until(lambda: len(fb.hellos()) == 2, 5, "HELLO from a new connection")
    assert fb.rid != first
    fb.silent = False
    n = len(fb.heartbeats())
    fb.until(lambda: len(fb.heartbeats()) >= n + 2, 5, "two heartbeats")
    assert fb.heartbeats()[-1][1] == {}       # the task was killed quietly


@pytest.mark.parametrize("kind", KINDS)
def test_sigterm_hands_tasks_back(kind, fb, worker_factory):
    proc = worker_factory(kind, parts=100000, delay_msec=20, slots=2)
    for k in (30, 31, 32):
        fb.task(k, b"g%d" % k)
    fb.until(lambda: fb.partials(30) and fb.partials(31), 10, "two running")
    proc.signal(signal.SIGTERM)
    fb.until(lambda: [m for _t, m, _p in fb.control if m.type == P.MSG_BYE], 10, "BYE")
    assert proc.wait(10) == 0
    for k in (30, 31, 32):
        done = fb.done(k)
        assert done is not None and (done.status, done.transient) == (P.STATUS_CANCELLED, 1)
    assert "stopping name=w-%s" % kind in proc.stderr()


def test_python_failures(fb, worker_factory):
    worker_factory("py", parts=1, source="load=sources:failing")
    fb.task(40, b"plain")
    fb.task(41, b"twice")
    d40 = fb.until(lambda: fb.done(40), 10, "DONE 40")
    d41 = fb.until(lambda: fb.done(41), 10, "DONE 41")
    assert (d40.status, d40.transient, d40.parts) == (P.STATUS_FAILED, 0, 1)
    assert d40.text == "RuntimeError: no luck with plain"
    assert (d41.status, d41.transient, d41.text) == (P.STATUS_FAILED, 1, "flaky twice")


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_source(kind, fb, worker_factory):
    worker_factory(kind, parts=1)
    fb.task(50, b"u", source="nope")
    done = fb.until(lambda: fb.done(50), 5, "DONE")
    assert (done.status, done.transient, done.text) == (P.STATUS_FAILED, 0, "unknown source nope")


def test_plain_generator_is_a_clear_failure(fb, worker_factory):
    worker_factory("py", parts=1, source="load=sources:not_async")
    fb.task(60, b"p")
    done = fb.until(lambda: fb.done(60), 5, "DONE")
    assert (done.status, done.transient, done.parts) == (P.STATUS_FAILED, 0, 0)
    assert done.text.startswith("TypeError: source load: not_async() returned generator, not an "
                                "async iterator")
