"""braid._worker - a braid worker whose sources are Python async generators.

    worker = braid.Worker("tcp://127.0.0.1:5556", "tcp://127.0.0.1:5557", slots=8)

    @worker.source("web")
    async def fetch(query):
        async for chunk in ...:
            yield chunk             # each yielded bytes is one partial

    await worker.run()              # until worker.stop() (SIGTERM in main)

It speaks to the broker exactly as braid-worker (workers/worker.c) does,
and its loop is that loop: one pass waits for the DEALER, for a task's
output or for the PUSH socket to take more; handles what the broker sent;
starts queued tasks; then pumps every task (DATA as far as its window
allows, and its DONE, which carries the last partials, once it is over);
then the heartbeat and the broker's liveness.

A task's life is braid-worker's: QUEUED (it came while every slot was
busy; at most as many wait as there are slots, started lowest task id
first as slots free; its timeout counts from its start), RUN (its
coroutine iterates the source's async generator), KILL (cancelled or timed
out: the coroutine was cancelled, and the DONE waits until it has
finished, at most the kill grace), END (the outcome is known: the held
partials, then exactly one DONE). A slot stays busy until the DONE left
and the coroutine is over, so no more coroutines run than the slots
announced.

Backpressure: the generator is advanced only while its task's window
(TASK w, raised by TASK_CREDIT) admits another seq and fewer than
MAX_BATCH partials wait to be sent; otherwise it stays suspended at its
last yield. Partials below the resume seq (TASK r) are made and counted
but not sent. A partial waits while the PUSH socket is full.

Faults: a TASK is acknowledged by the next WHEARTBEAT, which lists every
task held (queued ones too) with the next seq it will send and goes out
within ACK_TIME of a TASK; TASK_CANCEL cancels the coroutine and sends DONE
cancelled; RESET, and a broker silent for the liveness time (both
sockets made anew), kill every task without a word and say HELLO again.
stop() (SIGTERM) stops taking tasks, cancels the running ones, hands them
back (DONE cancelled, g = 1: the broker runs them elsewhere), sends BYE.
"""

import asyncio
import collections
import inspect
import itertools
import os
import socket
import time

import zmq

from . import _proto as P
from ._wire import NOTICE, Sock, cancel_all, log, wait_any

HEARTBEAT = 1.0         # seconds between WHEARTBEATs (BRAID_WORKER_HEARTBEAT_MSEC)
LIVENESS = 3.0          # broker silent this long: reconnect (BRAID_WORKER_LIVENESS_MSEC)
KILL_GRACE = 1.0        # a cancelled coroutine gets this long to finish
STOP_TIME = 5.0         # stop(): most time to deliver the DONEs
LINGER_MSEC = 1000      # then to flush the sockets on close
HWM = 1000              # messages queued per socket
ACK_TIME = 0.25         # a TASK is listed in a heartbeat within this time
_MAX_RECV_PER_PASS = 256

_QUEUED, _RUN, _KILL, _END = "queued", "run", "kill", "end"


class Transient(Exception):
    """Raise it from a source to end the task failed, but transient (DONE
    g = 1): the broker retries it, within the source's retry limit."""


class _Source:
    def __init__(self, name, fn, raw):
        self.name = name
        self.fn = fn
        self.raw = raw


class _Task:
    def __init__(self, msg, query):
        self.id = msg.task_id
        self.attempt = msg.attempts
        self.token = msg.token          # TASK z, echoed in DATA and DONE
        self.resume = msg.resume
        self.window = msg.window        # send seq < window; 0: no limit
        self.window_bytes = msg.window_bytes    # send while bytes_sent < it; 0: none
        self.bytes_sent = 0             # payload bytes this attempt sent
        self.timeout_msec = msg.timeout_msec
        self.query = query
        self.source = None
        self.state = _QUEUED
        self.status = P.STATUS_OK
        self.transient = False
        self.text = ""
        self.produced = 0               # partials made: the next seq
        self.sent_next = 0              # seqs below were sent or skipped
        self.outq = collections.deque() # made, not sent; first is sent_next
        self.runner = None              # the coroutine's asyncio task
        self.room = None                # future the coroutine waits on
        self.deadline = None            # timer: the task's timeout
        self.grace = None               # timer: KILL has lasted long enough
        self.slot = False               # holds one of the worker's slots
        self.silent = False             # RESET or superseded: send nothing


def _default_name():
    host = socket.gethostname() or "worker"
    pid = "-%d" % os.getpid()
    host = "".join(c if P.name_valid(c) else "-" for c in host)[:P.MAX_NAME - len(pid)]
    return host + pid


def _as_bytes(item):
    if isinstance(item, str):
        data = item.encode("utf-8", "surrogateescape")
    elif isinstance(item, (bytes, bytearray, memoryview)):
        data = bytes(item)
    else:
        raise TypeError("a source yields bytes or str, not %s" % type(item).__name__)
    if len(data) > P.MAX_FRAME:
        raise ValueError("a partial of %d bytes: over the %d-byte frame limit"
                         % (len(data), P.MAX_FRAME))
    return data


def _describe(exc):
    text = str(exc)
    return "%s: %s" % (type(exc).__name__, text) if text else type(exc).__name__


class Worker:
    """A worker: connect to the broker's backend (control) and sink
    (results), serve the sources registered with source(), run() until
    stop(). name: 1..64 bytes of [A-Za-z0-9_.-] (default hostname-pid);
    slots: tasks run at once (as many more wait queued); heartbeat and
    liveness in seconds, as braid-worker's --heartbeat and --liveness."""

    def __init__(self, backend, sink, *, name=None, slots=4, heartbeat=HEARTBEAT,
                 liveness=LIVENESS):
        name = name or _default_name()
        if not P.name_valid(name):
            raise ValueError("name %r: 1..64 bytes of [A-Za-z0-9_.-]" % (name,))
        if not isinstance(slots, int) or not 1 <= slots <= P.MAX_SLOTS:
            raise ValueError("slots: %r out of 1..%d" % (slots, P.MAX_SLOTS))
        if not 0.01 <= heartbeat <= 60:
            raise ValueError("heartbeat: %r seconds out of 0.01..60" % (heartbeat,))
        if not heartbeat < liveness <= 3600:
            raise ValueError("liveness: %r seconds: more than the heartbeat, at most 3600"
                             % (liveness,))
        self.backend = backend
        self.sink = sink
        self.name = name
        self.slots = slots
        self.heartbeat = heartbeat
        self.liveness = liveness
        self.sources = {}
        self.tasks = []
        # Room for 2 x slots live tasks, slots more still dying silently
        # and a few refusals waiting for their DONE (worker.c).
        self.max_tasks = 3 * slots + 16
        self.busy = 0               # slots held (zombies included)
        self.malformed = 0
        self.tasks_done = 0
        self.reconnects = 0
        self.stopping = False
        self._stop_requests = 0
        self._running = False
        self._dealer = self._push = None
        self._push_blocked = False
        self._kick_fut = None
        self._kicked = False
        self._dealer_poll = None
        self._zombies = set()

    # -- sources ------------------------------------------------------------------

    def source(self, name, *, raw=False):
        """Decorator: serve source `name` with an async generator function
        fn(query) (query a str decoded from UTF-8, or bytes with raw=True)
        yielding bytes (or str, sent as UTF-8): one partial each."""
        def register(fn):
            self.add_source(name, fn, raw=raw)
            return fn
        return register

    def add_source(self, name, fn, *, raw=False):
        if not P.name_valid(name):
            raise ValueError("source name %r: 1..64 bytes of [A-Za-z0-9_.-]" % (name,))
        if name in self.sources:
            raise ValueError("source %s: registered twice" % name)
        if len(self.sources) >= P.MAX_SOURCES:
            raise ValueError("at most %d sources" % P.MAX_SOURCES)
        if not callable(fn):
            raise TypeError("source %s: not callable" % name)
        self.sources[name] = _Source(name, fn, raw)

    def stop(self):
        """Stop as SIGTERM stops braid-worker: take no more tasks, hand the
        running ones back, BYE, and let run() return. A second call stops
        waiting for the DONEs."""
        self._stop_requests += 1
        self._kick()

    # -- the loop -------------------------------------------------------------------

    async def run(self):
        """Serve until stop(). Raises zmq.ZMQError if a socket fails."""
        if not self.sources:
            raise ValueError("no source registered")
        if self._running:
            raise RuntimeError("the worker is running already")
        self._running = True
        self._loop = asyncio.get_running_loop()
        self._kick_fut = self._loop.create_future()
        self._connect()
        names = list(self.sources)
        self._hello = P.Msg(P.MSG_HELLO, name=self.name, slots=self.slots, sources=names,
                            source_flags=[0] * len(names), host=socket.gethostname()[:P.MAX_HOST],
                            pid=os.getpid() & 0xFFFFFFFF, version=P.VERSION_STRING)
        stops = 0
        try:
            self._send_hello()
            log.log(NOTICE, "ready name=%s slots=%d sources=%s", self.name, self.slots,
                    ",".join(names))
            now = time.monotonic()
            self._heartbeat_at = now + self.heartbeat
            self._broker_seen = now
            while not self.stopping or (self.tasks and now < self._stop_deadline):
                wake = self._heartbeat_at
                if self.stopping:
                    wake = min(wake, self._stop_deadline)
                else:
                    wake = min(wake, self._broker_seen + self.liveness)
                if self.busy < self.slots and any(t.state == _QUEUED for t in self.tasks):
                    wake = now
                await self._wait(max(0.0, wake - now))
                before, now = now, time.monotonic()
                # A gap far longer than any wait here means this process was
                # frozen (SIGSTOP, a starved machine, a source that blocked
                # the event loop): the broker is not to blame. Count silence
                # from now, so what the tasks have goes out first.
                if now - before > self.liveness / 2 and now - before > 2 * self.heartbeat:
                    self._broker_seen = now
                while stops < self._stop_requests:
                    stops += 1
                    self._begin_stop(now)
                self._push_blocked = False
                self._on_dealer(now)
                self._start_queued(now)
                kept = []
                for task in self.tasks:
                    if self._pump(task):
                        self._drop(task)
                    else:
                        kept.append(task)
                self.tasks = kept
                if now >= self._heartbeat_at:
                    self._send_heartbeat()
                    self._heartbeat_at = now + self.heartbeat
                if not self.stopping and now - self._broker_seen >= self.liveness:
                    self._reconnect(now)
            if self.tasks:
                log.warning("%d tasks not reported to the broker", len(self.tasks))
            self._send_control(P.MSG_BYE)
            log.log(NOTICE, "stopped name=%s tasks_done=%d malformed=%d reconnects=%d",
                    self.name, self.tasks_done, self.malformed + self._dealer.dropped,
                    self.reconnects)
        finally:
            runners = [t.runner for t in self.tasks if t.runner] + \
                [t.runner for t in self._zombies]
            for t in self.tasks:
                self._cancel_timers(t)
            for r in runners:
                r.cancel()
            if runners:
                await asyncio.wait(runners, timeout=KILL_GRACE)
            self.tasks = []
            self._close_sockets(LINGER_MSEC)
            self._running = False

    async def _wait(self, timeout):
        """Wait for the DEALER, a kick (a task made output or ended, a
        stop), the PUSH socket taking more while it refused, or timeout.
        The DEALER's poll future lives until it fires: a pass woken by a
        kick does not make a new one."""
        if self._kicked or self._dealer.readable():
            self._kicked = False
            return
        if self._kick_fut.done():
            self._kick_fut = self._loop.create_future()
        if self._dealer_poll is None or self._dealer_poll.done():
            self._dealer_poll = self._dealer.poll_in()
        push_poll = self._push.poll_out() if self._push_blocked else None
        try:
            await wait_any([self._dealer_poll, push_poll, self._kick_fut], timeout)
        finally:
            cancel_all(push_poll)
        self._kicked = False

    def _kick(self):
        self._kicked = True
        if self._kick_fut is not None and not self._kick_fut.done():
            self._kick_fut.set_result(None)

    # -- sockets ----------------------------------------------------------------------

    def _connect(self):
        self._dealer = Sock(zmq.DEALER, self.backend, HWM)
        try:
            self._push = Sock(zmq.PUSH, self.sink, HWM)
        except zmq.ZMQError:
            self._dealer.close()
            raise

    def _close_sockets(self, linger_msec):
        cancel_all(self._dealer_poll)
        self._dealer_poll = None
        for s in (self._dealer, self._push):
            if s is not None:
                s.close(linger_msec)

    def _send_hello(self):
        if not self._dealer.try_send(self._hello):
            log.warning("cannot send HELLO")    # the liveness timer retries

    def _send_control(self, mtype):
        if not self._dealer.try_send(P.Msg(mtype)):
            log.warning("cannot send %s", P.MESSAGES[mtype][0])

    def _reconnect(self, now):
        """The broker said nothing for the liveness time: make both sockets
        anew and say HELLO again; what ran here runs elsewhere once the
        broker expires the old connection, so it is killed quietly."""
        log.warning("broker silent, reconnecting idle_msec=%d",
                    (now - self._broker_seen) * 1000)
        for t in self.tasks:
            if not t.silent:
                self._silence(t)
        self.malformed += self._dealer.dropped
        self._close_sockets(0)
        self._push_blocked = False
        self._broker_seen = now
        self.reconnects += 1
        self._connect()
        self._send_hello()

    def _send_heartbeat(self):
        entries = [P.hb_entry_put(t.id, t.attempt, max(t.sent_next, t.resume))
                   for t in self.tasks if not t.silent][:P.MAX_SLOTS]
        if not self._dealer.try_send(P.Msg(P.MSG_WHEARTBEAT), [b"".join(entries)]):
            log.debug("cannot send WHEARTBEAT: pipe full")

    # -- what the broker says -------------------------------------------------------------

    def _on_dealer(self, now):
        before = self._dealer.dropped
        for _ in range(_MAX_RECV_PER_PASS):
            item = self._dealer.recv(P.CH_TO_WORKER)
            if self._dealer.dropped != before:
                self._broker_seen = now     # anything at all is a sign of life
            if item is None:
                return
            self._broker_seen = now
            msg, payload = item
            t = msg.type
            if t == P.MSG_TASK:
                self._on_task(msg, payload[0], now)
            elif t == P.MSG_TASK_CREDIT:
                self._on_credit(msg)
            elif t == P.MSG_TASK_CANCEL:
                self._on_cancel(msg)
            elif t == P.MSG_RESET:
                self._on_reset()
            # BHEARTBEAT: nothing to do, traffic is what counts

    def _find(self, task_id, attempt):
        for t in self.tasks:
            if t.id == task_id and t.attempt == attempt and not t.silent:
                return t
        return None

    def _on_task(self, msg, query, now):
        queued = 0
        for held in self.tasks:
            if held.silent:
                continue
            if held.id == msg.task_id:
                if held.attempt == msg.attempts:
                    log.debug("duplicate task id=%d attempt=%d ignored", msg.task_id,
                              msg.attempts)
                    self._ack_soon(now)
                    return
                log.debug("task id=%d attempt=%d superseded by attempt %d", msg.task_id,
                          held.attempt, msg.attempts)
                self._silence(held)
                continue
            queued += held.state == _QUEUED
        if len(self.tasks) >= self.max_tasks:
            # Not listed in a heartbeat: the broker sends it again.
            log.warning("task id=%d dropped: %d tasks held, broker ignores slots",
                        msg.task_id, len(self.tasks))
            return
        task = _Task(msg, bytes(query))
        self.tasks.append(task)
        self._ack_soon(now)
        source = self.sources.get(msg.name)
        if self.stopping:
            self._end(task, P.STATUS_CANCELLED, True, "worker stopping")    # handed back
        elif source is None:
            self._end(task, P.STATUS_FAILED, False, "unknown source %s" % msg.name)
        elif self.busy + queued >= P.worker_capacity(self.slots):
            # The broker counted our slots differently (tasks from before a
            # reconnect still run): another worker may take it.
            self._end(task, P.STATUS_FAILED, True,
                      "no free slot (%d running, %d queued)" % (self.busy, queued))
        else:
            task.source = source

    def _on_credit(self, msg):
        task = self._find(msg.task_id, msg.attempts)
        if task is None:
            log.debug("credit for unknown task id=%d attempt=%d", msg.task_id, msg.attempts)
            return
        # Credit is cumulative: a grant below the current one is stale.
        # 0 lifts the limit, as it does in TASK.
        if msg.window == 0:
            task.window = 0
        elif task.window != 0 and msg.window > task.window:
            task.window = msg.window
        if msg.window_bytes == 0:
            task.window_bytes = 0
        elif task.window_bytes != 0 and msg.window_bytes > task.window_bytes:
            task.window_bytes = msg.window_bytes
        self._wake_task(task)

    def _on_cancel(self, msg):
        task = self._find(msg.task_id, msg.attempts)
        if task is None:
            log.debug("cancel for unknown task id=%d attempt=%d", msg.task_id, msg.attempts)
            return
        self._abort(task, P.STATUS_CANCELLED, False, "cancelled")

    def _on_reset(self):
        killed = 0
        for t in self.tasks:
            if not t.silent:
                self._silence(t)
                killed += 1
        log.info("broker reset name=%s tasks_killed=%d", self.name, killed)
        if not self.stopping:
            self._send_hello()

    def _ack_soon(self, now):
        self._heartbeat_at = min(self._heartbeat_at, now + ACK_TIME)

    def _begin_stop(self, now):
        if self.stopping:
            self._stop_deadline = now       # a second stop: no more waiting
            return
        log.log(NOTICE, "stopping name=%s tasks=%d", self.name, len(self.tasks))
        self.stopping = True
        self._stop_deadline = now + STOP_TIME
        # Handed back (g = 1): the broker runs them elsewhere, no retry counted.
        for t in list(self.tasks):
            self._abort(t, P.STATUS_CANCELLED, True, "worker stopping")

    # -- tasks ----------------------------------------------------------------------------

    def _start_queued(self, now):
        """Fill free slots from the queue, lowest task id first (a job's
        head of line never waits behind its own later tasks)."""
        while not self.stopping and self.busy < self.slots:
            queued = [t for t in self.tasks if t.state == _QUEUED and t.source is not None]
            if not queued:
                return
            self._start(min(queued, key=lambda t: t.id))

    def _start(self, task):
        task.state = _RUN
        task.slot = True
        self.busy += 1
        if task.timeout_msec:
            task.deadline = self._loop.call_later(task.timeout_msec / 1000, self._on_timeout,
                                                  task)
        log.debug("task start id=%d attempt=%d source=%s resume=%d window=%d", task.id,
                  task.attempt, task.source.name, task.resume, task.window)
        task.runner = self._loop.create_task(self._produce(task))
        task.runner.add_done_callback(lambda _f, t=task: self._runner_done(t))

    async def _produce(self, task):
        """Run the source for one task; the outcome goes to _produced()."""
        source = task.source
        query = task.query if source.raw else task.query.decode("utf-8", "surrogateescape")
        task.query = None
        agen = None
        outcome = None
        try:
            it = source.fn(query)
            if inspect.isawaitable(it) and not hasattr(it, "__aiter__"):
                it = await it           # async def returning bytes or an iterable
            if it is None:
                pass
            elif isinstance(it, (bytes, bytearray, memoryview, str)):
                self._accept(task, _as_bytes(it))
            elif not hasattr(it, "__aiter__"):
                raise TypeError("source %s: %s() returned %s, not an async iterator (write "
                                "it as an async generator: async def with yield)"
                                % (source.name, getattr(source.fn, "__name__", "?"),
                                   type(it).__name__))
            else:
                agen = it.__aiter__()
                while True:
                    while not self._room(task):
                        task.room = self._loop.create_future()
                        await task.room
                    try:
                        item = await agen.__anext__()
                    except StopAsyncIteration:
                        break
                    self._accept(task, _as_bytes(item))
            outcome = (P.STATUS_OK, False, "")
        except asyncio.CancelledError:
            outcome = None              # cancelled here: that reason stands
        except Transient as e:
            outcome = (P.STATUS_FAILED, True, str(e) or "transient failure")
        except Exception as e:
            log.debug("task id=%d source=%s failed", task.id, source.name, exc_info=True)
            outcome = (P.STATUS_FAILED, False, _describe(e))
        finally:
            # A generator suspended at a yield (cancelled while it waited for
            # room, or left by an error of ours) runs its finally blocks.
            aclose = getattr(agen, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except BaseException as e:      # noqa: B902 - whatever it does
                    log.debug("task id=%d: closing the generator: %s", task.id, _describe(e))
        self._produced(task, outcome)

    def _produced(self, task, outcome):
        if task.state == _KILL:
            self._end(task, task.status, task.transient, task.text)     # first reason wins
        elif task.state == _RUN:
            if outcome is None:
                outcome = (P.STATUS_FAILED, False, "the source was cancelled")
            self._end(task, *outcome)

    def _runner_done(self, task):
        if task.state in (_RUN, _KILL):
            # Died of something _produce() could not catch.
            exc = task.runner.exception() if not task.runner.cancelled() else None
            text = _describe(exc) if exc else "the source was cancelled"
            self._produced(task, (P.STATUS_FAILED, False, text))
        elif not task.runner.cancelled():
            task.runner.exception()     # retrieved; already reported
        if task in self._zombies:
            self._zombies.discard(task)
            self.busy -= 1
        self._kick()

    def _accept(self, task, data):
        """Number a new partial: below resume it is counted and dropped,
        else it waits in outq."""
        seq = task.produced
        task.produced += 1
        if seq < task.resume:
            task.sent_next = task.produced
        else:
            task.outq.append(data)
            self._kick()

    def _room(self, task):
        """May the source make another partial now?"""
        if task.state != _RUN or len(task.outq) >= P.MAX_BATCH:
            return False
        if task.window == 0:
            return True
        return task.produced < max(task.window, task.resume)

    def _wake_task(self, task):
        if task.room is not None and not task.room.done():
            task.room.set_result(None)
        self._kick()

    def _end(self, task, status, transient, text):
        """The outcome is known: from now on only held partials and DONE."""
        task.state = _END
        task.status = status
        task.transient = bool(transient)
        task.text = P.clip_text(text or "")
        if status in (P.STATUS_CANCELLED, P.STATUS_TIMEOUT):
            task.outq.clear()       # nothing more of it is sent: DONE counts what left
        if task.grace is not None:
            task.grace.cancel()
            task.grace = None
        self._kick()

    def _abort(self, task, status, transient, text):
        """Stop a task early (cancel, timeout, stop, silence)."""
        if task.state == _KILL:
            return                  # on its way out already: first reason wins
        if task.state == _END and not task.outq:
            return                  # over; only its DONE is still to leave
        if task.state != _RUN or task.runner is None or task.runner.done():
            self._end(task, status, transient, text)
            return
        task.runner.cancel()
        task.outq.clear()
        task.state = _KILL
        task.status = status
        task.transient = bool(transient)
        task.text = P.clip_text(text)
        task.grace = self._loop.call_later(KILL_GRACE, self._on_grace, task)
        self._wake_task(task)

    def _on_grace(self, task):
        task.grace = None
        if task.state != _KILL:
            return
        log.warning("task id=%d source=%s: its coroutine ignores cancellation after %d msec",
                    task.id, task.source.name, KILL_GRACE * 1000)
        task.runner.cancel()
        self._end(task, task.status, task.transient, task.text)

    def _on_timeout(self, task):
        task.deadline = None
        self._abort(task, P.STATUS_TIMEOUT, False, "timeout after %d msec" % task.timeout_msec)

    def _silence(self, task):
        """Kill a task and forget it: nothing more of it is sent, not even
        DONE, and its slot is free at once."""
        task.silent = True
        if task.slot:
            task.slot = False
            self.busy -= 1
        self._abort(task, P.STATUS_CANCELLED, False, "")

    def _cancel_timers(self, task):
        for h in (task.deadline, task.grace):
            if h is not None:
                h.cancel()
        task.deadline = task.grace = None

    def _drop(self, task):
        """The task is gone (its DONE left, or it was silenced and is
        over); a coroutine still finishing keeps its slot."""
        self._cancel_timers(task)
        if task.slot:
            task.slot = False
            if task.runner is not None and not task.runner.done():
                self._zombies.add(task)
            else:
                self.busy -= 1

    # -- sending --------------------------------------------------------------------------

    def _sendable(self, task):
        n = len(task.outq)
        if task.window:
            n = min(n, max(0, task.window - task.sent_next))
        n = min(n, P.MAX_BATCH)
        if task.window_bytes and n:
            # PROTOCOL.md: nothing once the bytes sent reach b; a message
            # carries at most b / 4 bytes (at least one partial).
            if task.bytes_sent >= task.window_bytes:
                return 0
            quarter, total, k = task.window_bytes // 4, 0, 0
            for part in itertools.islice(task.outq, n):
                total += len(part)
                if k > 0 and total > quarter:
                    break
                k += 1
            n = k
        return n

    def _flush(self, task):
        """DATA as far as the window allows; an ended task keeps the last
        ones for its DONE. False if the PUSH socket is full."""
        while task.outq:
            n = self._sendable(task)
            if n == 0:
                return True         # waiting for credit
            if task.state == _END and n == len(task.outq):
                return True         # the last ones: DONE carries them
            if self._push_blocked:
                return False
            batch = [task.outq.popleft() for _ in range(n)]
            msg = P.Msg(P.MSG_DATA, task_id=task.id, attempts=task.attempt, seq=task.sent_next,
                        token=task.token)
            if self._push.try_send(msg, batch):
                task.sent_next += n
                task.bytes_sent += sum(len(part) for part in batch)
                if task.state == _RUN:
                    self._wake_task(task)
                continue
            task.outq.extendleft(reversed(batch))
            self._push_blocked = True
            return False
        return True

    def _send_done(self, task):
        if self._push_blocked:
            return False
        n = len(task.outq)
        msg = P.Msg(P.MSG_DONE, task_id=task.id, attempts=task.attempt, status=task.status,
                    parts=task.sent_next + n, transient=int(task.transient), text=task.text,
                    token=task.token)
        if not self._push.try_send(msg, list(task.outq)):
            self._push_blocked = True
            return False
        task.sent_next += n
        task.outq.clear()
        log.debug("task done id=%d attempt=%d status=%s parts=%d carried=%d transient=%d",
                  task.id, task.attempt, P.status_name(task.status), task.sent_next, n,
                  task.transient)
        self.tasks_done += 1
        return True

    def _pump(self, task):
        """Send what the task may send. True once it is finished (its DONE
        left, or it was silenced and is over)."""
        if task.state == _QUEUED:
            return False
        if task.silent:
            return task.state == _END
        if task.state == _KILL:
            return False
        if not self._flush(task):
            return False
        if task.state != _END or self._sendable(task) < len(task.outq):
            return False
        return self._send_done(task)
