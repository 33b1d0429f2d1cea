"""braid.client - the asyncio client (libbraid's behaviour, in Python).

    async with braid.Client("tcp://127.0.0.1:5555") as client:
        async for ev in client.submit(queries, sources=["web"]):
            ...

One DEALER per broker endpoint, shared by every job of the client that
runs there: each message carries its job id, so several jobs stream at
once over one connection, and whatever an old job leaves behind is dropped
as foreign. A reader task per connection receives everything, checks each
job's out_seq continuity as it arrives and queues the messages per job; it
also sends PING every heartbeat while any job is open, repeats a job's
credit when its stream has been quiet for a heartbeat (credit is absolute,
so a lost grant is repaired), and gives the broker up when nothing at all
has arrived for the idle timeout.

Flow control is libbraid's: SUBMIT grants out_seq < min(window, 64);
a message counts as consumed when the caller's iteration takes it from the
job's queue (not when it arrives), and once half the window is consumed a
CREDIT grants consumed + window, the window shrinking so that what the
broker may send ahead stays near 16 MiB at the average message size. So a
slow `async for` body holds the broker back, and the broker holds back the
workers. A message beyond the credit granted breaks the job (protocol), so
a job's queue never holds more than its window.

A job whose consumer lets go early (break, aclose, the task cancelled, an
exception in the loop body) is cancelled on the broker: CANCEL goes out,
and what the broker still sends for it (the cancelled ends, JOB_END) is
taken and credited without being queued, so the broker closes the job at
once. Stream failures are libbraid's: an out_seq gap (code 1001), a broker
silent for the idle timeout (1002), a broken job rule (1003); then, as
libbraid takes a fresh socket for its next job, later jobs open a new
connection.
"""

import asyncio
import collections
import json
import math
import os
import time
from typing import NamedTuple

import zmq

from . import _proto as P
from ._wire import Sock, cancel_all, log, wait_any

DEFAULT_WINDOW = 4096          # credit window, messages (BRAID_CLIENT_WINDOW)
CONNECT_TIMEOUT = 5.0          # seconds to wait for ACCEPT, per endpoint
HEARTBEAT = 1.0                # seconds between PINGs
IDLE_TIMEOUT = 10.0            # seconds of broker silence: the stream is lost
_RESUBMIT = 1.0                # resend SUBMIT (idempotent) while waiting
_SNDHWM = 1000
_MAX_WINDOW = 1000000
_WINDOW_BYTES = 16 << 20
_INITIAL_CREDIT = 64
_RECV_BURST = 256              # messages taken per turn before yielding
_CLOSE_LINGER_MSEC = 200       # close(): time for a CANCEL to leave
_CLOSE_DRAIN = 2.0             # close(): time for cancelled jobs to end

# Codes of the stream failures the client itself detects (libbraid's
# BRAID_CLIENT_ERR_*); the broker's own codes are below 1000.
GAP = 1001                     # an out_seq gap: a message was lost
LOST = 1002                    # the broker was silent past the idle timeout
PROTOCOL = 1003                # the broker broke the job rules

_ORDERS = {"submit": P.ORDER_SUBMIT, "arrival": P.ORDER_ARRIVAL, "key": P.ORDER_KEY}


# ---------------------------------------------------------------------------
# Errors and events

class Error(Exception):
    """Base class of braid's errors."""


class Unavailable(Error):
    """No broker answered in time (every endpoint tried)."""


class Refused(Error):
    """The broker answered ERROR to the submission (.code, .text): 400 bad
    request (e.g. no worker serves a source), 409, 429 too many open jobs
    for this client, 503 the broker is stopping, 507 the broker is full (a
    global cap: open jobs, tasks, buffered bytes)."""

    def __init__(self, code, text, message=None):
        super().__init__(message or "refused: %d %s" % (code, text))
        self.code = code
        self.text = text


class StreamError(Error):
    """The job's stream broke after it was accepted: .code is the broker's
    ERROR code, or GAP, LOST or PROTOCOL; .text says more."""

    def __init__(self, code, text):
        super().__init__("%d %s" % (code, text))
        self.code = code
        self.text = text


class Partial(NamedTuple):
    """One partial of a task: .query (index in the job's queries), .source
    (name), .seq (0, 1, ... within the task), .data (bytes)."""
    query: int
    source: str
    seq: int
    data: bytes


class End(NamedTuple):
    """A task ended (exactly one per query and source): .status is "ok",
    "failed", "timeout" or "cancelled"; .parts the partials it produced,
    .attempts the attempts made, .error the error text ("" when ok);
    .duplicates how many of its partials order "key" dropped (their dedup
    value was sent for the query before)."""
    query: int
    source: str
    status: str
    parts: int
    attempts: int
    error: str
    duplicates: int = 0


class JobEnd(NamedTuple):
    """The job ended, always the last event: .status "ok" (every task ok),
    "failed" (some task not ok) or "cancelled"; .sources maps each source
    name to {"ok": n, "failed": n, "timeout": n, "cancelled": n}."""
    status: str
    sources: dict


class Restart(NamedTuple):
    """A task starts again from seq 0 (its source's on_retry = restart):
    the partials that follow for (query, source) replace those already
    delivered; .attempt is the new attempt."""
    query: int
    source: str
    attempt: int


class Result(NamedTuple):
    """One (query, source) of Client.gather(): the query as given, the
    source name, the status and the partials' bytes joined."""
    query: object
    source: str
    status: str
    data: bytes


# ---------------------------------------------------------------------------
# A job

_SUBMITTING, _STREAMING, _DONE = "submitting", "streaming", "done"


def _msec(seconds, what):
    if seconds is None or seconds == 0:
        return 0
    if seconds < 0 or seconds * 1000 > P.MAX_MSEC:
        raise ValueError("%s: %r seconds out of 0..%d" % (what, seconds, P.MAX_MSEC // 1000))
    return max(1, math.ceil(seconds * 1000))


def _query_bytes(q):
    data = q.encode("utf-8", "surrogateescape") if isinstance(q, str) else bytes(q)
    if len(data) > P.MAX_QUERY_LEN:
        raise ValueError("query of %d bytes: over %d" % (len(data), P.MAX_QUERY_LEN))
    return data


class _Job:
    """One submission: what was asked, and its stream's state."""

    def __init__(self, client, queries, sources, order, max_inflight, timeout, deadline,
                 retries, fail_fast):
        if isinstance(sources, str):
            sources = [sources]
        self.sources = list(sources)
        if not 1 <= len(self.sources) <= P.MAX_SOURCES:
            raise ValueError("sources: %d given, 1..%d allowed" % (len(self.sources),
                                                                  P.MAX_SOURCES))
        for s in self.sources:
            if not isinstance(s, str) or not P.name_valid(s):
                raise ValueError("source %r: not a valid name ([A-Za-z0-9_.-], 1..64)" % (s,))
        if len(set(self.sources)) != len(self.sources):
            raise ValueError("sources: a source is named twice")
        self.given = list(queries)
        self.queries = [_query_bytes(q) for q in self.given]
        if not 1 <= len(self.queries) <= P.MAX_QUERIES:
            raise ValueError("queries: %d given, 1..%d allowed" % (len(self.queries),
                                                                  P.MAX_QUERIES))
        if order not in _ORDERS:
            raise ValueError("order: %r (submit, arrival or key)" % (order,))
        max_inflight = max_inflight or 0
        if not 0 <= max_inflight <= P.MAX_INFLIGHT:
            raise ValueError("max_inflight: %r out of 0..%d" % (max_inflight, P.MAX_INFLIGHT))
        flags = P.FLAG_FAIL_FAST if fail_fast else 0
        if retries is not None:
            if not 0 <= retries <= P.MAX_RETRIES:
                raise ValueError("retries: %r out of 0..%d" % (retries, P.MAX_RETRIES))
            flags |= P.FLAG_RETRIES
        self.submit = P.Msg(P.MSG_SUBMIT, order=_ORDERS[order], max_inflight=max_inflight,
                            timeout_msec=_msec(timeout, "timeout"),
                            deadline_msec=_msec(deadline, "deadline"), retries=retries or 0,
                            flags=flags, count=len(self.queries), sources=self.sources)
        self.client = client
        self.window = client.window
        self.id = b""
        self.conn = None
        self.state = _SUBMITTING
        self.accepted = None        # future: True, or the Refused
        self.inbox = collections.deque()
        self.waiter = None          # the consumer's future while inbox is empty
        self.sender = None          # task sending the queries after ACCEPT
        self.pipelined = False      # the queries went out with the SUBMIT
        self.resubmitted = False
        self.cancel_sent = False
        self.expected = 0           # next out_seq (= messages received)
        self.consumed = 0           # messages taken by the consumer
        self.granted = 0            # credit: out_seq < granted
        self.avg_bytes = 0
        self.last_msg = self.last_credit = 0.0

    # -- sending ------------------------------------------------------------

    def _send(self, mtype, **fields):
        return self.conn.sock.send(P.Msg(mtype, job_id=self.id, **fields))

    def send_submit(self):
        self.submit.job_id = self.id
        self.submit.credit = self.granted
        self.conn.sock.send(self.submit)

    def queries_msg(self, first):
        batch = self.queries[first:first + P.MAX_BATCH]
        return P.Msg(P.MSG_QUERIES, job_id=self.id, first=first), batch

    def send_credit(self):
        self._send(P.MSG_CREDIT, credit=self.granted)
        self.last_credit = time.monotonic()

    def send_cancel(self):
        if not self.cancel_sent and self.conn and not self.conn.closed:
            self.cancel_sent = True
            self._send(P.MSG_CANCEL)

    async def send_queries(self):
        """After ACCEPT: the queries in order, QUERIES of up to MAX_BATCH,
        each waiting for room in the socket (never blocking the reader)."""
        for first in range(0, len(self.queries), P.MAX_BATCH):
            if self.cancel_sent or self.conn.closed:
                return
            msg, batch = self.queries_msg(first)
            await self.conn.sock.send(msg, batch)

    # -- receiving (the connection's reader) ----------------------------------

    def on_message(self, msg, payload):
        t = msg.type
        if self.state == _SUBMITTING:
            if t == P.MSG_ACCEPT:
                self.state = _STREAMING
                self.last_msg = self.last_credit = time.monotonic()
                _resolve(self.accepted, True)
            elif t == P.MSG_ERROR:
                _resolve(self.accepted, Refused(msg.code, msg.text))
            else:
                self.conn.dropped += 1
            return
        if self.state != _STREAMING:
            self.conn.dropped += 1
            return
        if t == P.MSG_ERROR:
            self._finish(StreamError(msg.code, msg.text))
            return
        if t not in (P.MSG_PARTIAL, P.MSG_END, P.MSG_JOB_END, P.MSG_RESTART):
            self.conn.dropped += 1          # a repeated ACCEPT
            return
        if msg.out_seq < self.expected:
            self.conn.dropped += 1          # a duplicate
            return
        if msg.out_seq > self.expected:
            self.fail(GAP, "lost messages: out_seq %d expected, %d received"
                      % (self.expected, msg.out_seq))
            return
        if msg.out_seq >= self.granted:
            self.fail(PROTOCOL, "out_seq %d beyond the credit granted (%d)"
                      % (msg.out_seq, self.granted))
            return
        self.expected += 1
        self.last_msg = time.monotonic()
        if t != P.MSG_JOB_END and (msg.query >= len(self.queries) or
                                   msg.source >= len(self.sources)):
            self.fail(PROTOCOL, "%s for query %d source %d: out of range"
                      % (msg.type_name, msg.query, msg.source))
            return
        if t == P.MSG_END and len(payload) > msg.parts:
            self.fail(PROTOCOL, "END for query %d source %d: %d partials carried, %d produced"
                      % (msg.query, msg.source, len(payload), msg.parts))
            return
        self.inbox.append((msg, payload))
        self._wake()
        if t == P.MSG_JOB_END:
            self.state = _DONE
            self.conn.forget(self.id)
            # A SUBMIT repeated behind the queries may have reached the
            # broker after the job ended and opened it again: close that
            # one (and take what it sends).
            if self.pipelined and self.resubmitted and not self.cancel_sent:
                self.send_cancel()
                self.conn.adopt(_Orphan(self.conn, self.id, 0, self.window))

    def fail(self, code, text):
        """The stream broke: the error is the consumer's next event; the
        broker is told to cancel, and this connection takes no new job."""
        log.debug("job stream failed: %d %s", code, text)
        if code in (GAP, PROTOCOL):
            self.conn.retiring = True
        self._finish(StreamError(code, text))

    def _finish(self, exc):
        """End the stream with exc as its last event."""
        if self.state == _DONE:
            return
        self.state = _DONE
        _resolve(self.accepted, exc)        # wakes a submission still waiting
        self.inbox.append(exc)
        self._wake()
        cancel_all(self.sender)
        if isinstance(exc, StreamError) and exc.code in (GAP, LOST, PROTOCOL):
            conn = self.conn
            if conn.closed:
                conn.forget(self.id)
            else:
                self.send_cancel()
                conn.adopt(_Orphan(conn, self.id, self.expected, self.window,
                                   granted=self.granted))
        else:
            self.conn.forget(self.id)

    def _wake(self):
        _resolve(self.waiter, None)

    # -- the consumer -----------------------------------------------------------

    async def next(self):
        """The next message (msg, payload) of the stream, or its error."""
        while not self.inbox:
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        item = self.inbox.popleft()
        if isinstance(item, BaseException):
            return item
        msg, payload = item
        self.consumed += 1
        size = 64 + sum(len(f) for f in payload)
        self.avg_bytes = (self.avg_bytes * 7 + size) // 8 if self.avg_bytes else size
        window = min(self.window, _WINDOW_BYTES // max(self.avg_bytes, 1))
        window = max(window, 2)
        if self.state == _STREAMING and self.consumed + (window - window // 2) >= self.granted:
            self.granted = self.consumed + window
            self.send_credit()
        return item

    def abandon(self, why=None):
        """The consumer let go before the job's end: cancel it on the
        broker and take what follows without queueing it."""
        if self.state == _DONE or self.conn is None:
            return
        state, self.state = self.state, _DONE
        _resolve(self.accepted, why or Error("cancelled"))
        cancel_all(self.sender)
        conn = self.conn
        if why is not None:
            self.inbox.append(why)
            self._wake()
        if conn.closed:
            conn.forget(self.id)
            return
        self.send_cancel()
        granted = self.granted
        if state == _STREAMING:
            # What waits in the queue is consumed now: credit it.
            granted = max(granted, self.expected + self.window)
            self.granted = granted
            self.send_credit()
        conn.adopt(_Orphan(conn, self.id, self.expected if state == _STREAMING else 0,
                           self.window, granted=granted))


class _Orphan:
    """A job no consumer waits for any more (cancelled, or its stream
    failed): CANCEL went out; what the broker still sends for it is taken
    and credited, unqueued, until its JOB_END or ERROR, so that the broker
    closes it now and not when this client expires. Forgotten after the
    idle timeout without a word."""

    def __init__(self, conn, job_id, expected, window, granted=0):
        self.conn = conn
        self.id = job_id
        self.window = window
        self.granted = granted
        self.last_msg = time.monotonic()
        self.state = _DONE

    def on_message(self, msg, payload):
        self.last_msg = time.monotonic()
        t = msg.type
        if t in (P.MSG_ERROR, P.MSG_JOB_END):
            self.conn.forget(self.id)
        elif t in (P.MSG_PARTIAL, P.MSG_END, P.MSG_RESTART):
            top = msg.out_seq + 1
            if top + self.window // 2 >= self.granted:
                self.granted = top + self.window
                self.conn.sock.send(P.Msg(P.MSG_CREDIT, job_id=self.id, credit=self.granted))

    def abandon(self, why=None):
        pass


def _resolve(fut, value):
    if fut is not None and not fut.done():
        fut.set_result(value)


# ---------------------------------------------------------------------------
# A connection

class _Conn:
    """One DEALER to one broker endpoint and the jobs that run there."""

    def __init__(self, client, endpoint):
        self.client = client
        self.endpoint = endpoint
        self.sock = Sock(zmq.DEALER, endpoint, _SNDHWM, rcvhwm=client.window + 64)
        self.jobs = {}              # job id -> _Job or _Orphan
        self.retiring = False       # a stream failed here: no new job
        self.closed = False
        self.dropped = 0            # foreign and duplicate messages
        now = time.monotonic()
        self.last_recv = self.last_ping = now
        self.wake = None
        self.idle_waiters = []
        self.task = asyncio.get_running_loop().create_task(self._run())

    def register(self, job):
        self.jobs[job.id] = job
        self._poke()

    def adopt(self, orphan):
        self.jobs[orphan.id] = orphan
        self._poke()

    def forget(self, job_id):
        self.jobs.pop(job_id, None)
        if not self.jobs:
            for f in self.idle_waiters:
                _resolve(f, None)
            self.idle_waiters.clear()
            if self.retiring:
                self.close()

    def _poke(self):
        _resolve(self.wake, None)

    def close(self, linger_msec=0):
        if self.closed:
            return
        self.closed = True
        for job in list(self.jobs.values()):
            if job.state != _DONE:
                job.fail(LOST, "connection to %s closed" % self.endpoint)
        self.jobs.clear()
        for f in self.idle_waiters:
            _resolve(f, None)
        self.client._conn_closed(self)
        self.sock.close(linger_msec)
        if self.task is not asyncio.current_task():
            self.task.cancel()

    async def _run(self):
        try:
            await self._loop()
        except asyncio.CancelledError:
            pass
        except zmq.ZMQError as e:
            if not self.closed:
                log.warning("broker %s: socket failed: %s", self.endpoint, e)
                self.close()

    async def _loop(self):
        client = self.client
        hb = client.heartbeat
        while not self.closed:
            now = time.monotonic()
            got = 0
            before = self.sock.dropped
            while got < _RECV_BURST:
                item = self.sock.recv(P.CH_TO_CLIENT)
                if item is None:
                    break
                got += 1
                msg, payload = item
                if msg.type == P.MSG_PONG:
                    continue
                job = self.jobs.get(msg.job_id)
                if job is None:
                    self.dropped += 1   # another job's leftovers
                else:
                    job.on_message(msg, payload)
                if self.closed:
                    return
            if got or self.sock.dropped != before:
                self.last_recv = now    # any message at all is a sign of life
            if not self.jobs:
                self.last_ping = now
                timeout = None
            else:
                if now - self.last_ping >= hb:
                    self.sock.try_send(P.Msg(P.MSG_PING))
                    self.last_ping = now
                    for job in list(self.jobs.values()):
                        # A quiet stream may be a lost grant: repeat it.
                        if isinstance(job, _Job) and job.state == _STREAMING and \
                                now - job.last_msg >= hb and now - job.last_credit >= hb:
                            job.send_credit()
                        elif isinstance(job, _Orphan) and now - job.last_msg >= client.idle_timeout:
                            self.forget(job.id)
                    if self.closed:
                        return
                streaming = any(j.state == _STREAMING for j in self.jobs.values())
                if streaming and now - self.last_recv >= client.idle_timeout:
                    log.info("broker %s: nothing received for %d msec", self.endpoint,
                             client.idle_timeout * 1000)
                    for job in [j for j in self.jobs.values() if j.state == _STREAMING]:
                        job.fail(LOST, "broker %s: nothing received for %d msec"
                                 % (self.endpoint, client.idle_timeout * 1000))
                    self.close()
                    return
                timeout = self.last_ping + hb - now
                if streaming:
                    timeout = min(timeout, self.last_recv + client.idle_timeout - now)
                timeout = max(timeout, 0)
            if got >= _RECV_BURST:
                await asyncio.sleep(0)      # let the consumers run
                continue
            self.wake = asyncio.get_running_loop().create_future()
            poll = self.sock.poll_in()
            try:
                await wait_any([poll, self.wake], timeout)
            finally:
                cancel_all(poll, self.wake)


# ---------------------------------------------------------------------------
# The client

class Client:
    """A client of one or more broker endpoints (tried in order, as the C
    client fails over). Use it as an async context manager, or call
    close() when done.

    window: credit in messages (1..1,000,000): the broker runs at most this
    far ahead of what the iteration has taken. connect_timeout: seconds to
    wait for each endpoint to accept a job (or answer stats). heartbeat:
    seconds between PINGs while a job is open; idle_timeout: seconds of
    broker silence after which a stream is lost.
    """

    def __init__(self, *endpoints, window=DEFAULT_WINDOW, connect_timeout=CONNECT_TIMEOUT,
                 heartbeat=HEARTBEAT, idle_timeout=IDLE_TIMEOUT):
        eps = []
        for e in endpoints:
            eps.extend([e] if isinstance(e, str) else list(e))
        if not eps or not all(isinstance(e, str) and e for e in eps):
            raise ValueError("Client: at least one broker endpoint")
        if not 1 <= window <= _MAX_WINDOW:
            raise ValueError("window: %r out of 1..%d" % (window, _MAX_WINDOW))
        if connect_timeout <= 0 or heartbeat <= 0 or idle_timeout <= 0:
            raise ValueError("timeouts must be positive")
        self.endpoints = eps
        self.window = window
        self.connect_timeout = connect_timeout
        self.heartbeat = heartbeat
        self.idle_timeout = idle_timeout
        self._conns = []
        self._closed = False
        self._dropped = 0           # dropped on connections closed since

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    @property
    def dropped(self):
        """Messages received and dropped so far (malformed, foreign,
        duplicate)."""
        return self._dropped + sum(c.dropped + c.sock.dropped for c in self._conns)

    def _conn_for(self, endpoint):
        for c in self._conns:
            if c.endpoint == endpoint and not c.closed and not c.retiring:
                return c
        c = _Conn(self, endpoint)
        self._conns.append(c)
        return c

    def _conn_closed(self, conn):
        if conn in self._conns:
            self._conns.remove(conn)
            self._dropped += conn.dropped + conn.sock.dropped

    async def close(self):
        """Cancel the jobs still open (their consumers get an Error), give
        the broker a moment to end them, and close the connections."""
        if self._closed:
            return
        self._closed = True
        waits = []
        for conn in list(self._conns):
            for job in list(conn.jobs.values()):
                job.abandon(Error("client closed"))
            if conn.jobs:
                f = asyncio.get_running_loop().create_future()
                conn.idle_waiters.append(f)
                waits.append(f)
        if waits:
            await asyncio.wait(waits, timeout=min(_CLOSE_DRAIN, self.connect_timeout))
        for conn in list(self._conns):
            conn.close(_CLOSE_LINGER_MSEC)

    # -- jobs -------------------------------------------------------------------

    def submit(self, queries, sources, *, order="submit", max_inflight=None, timeout=None,
               deadline=None, retries=None, fail_fast=False):
        """Submit a job and iterate over its events: Partial, End (one per
        query and source), Restart, and JobEnd last. The arguments are
        checked now (ValueError); the job is submitted when the iteration
        starts, which raises Unavailable or Refused if no broker takes it
        and StreamError if the stream breaks.

        queries: str (UTF-8) or bytes, at most 8192 bytes each. sources: a
        name or a list of names (order kept). order: "submit" (a
        sequential run's order), "arrival", or "key" (queries in order, each
        query's sources merged by score, repeated dedup values dropped:
        every source needs a score). max_inflight: tasks of this
        job running at once (None or 0: no limit). timeout: per-task
        seconds (None: each source's policy). deadline: seconds from
        acceptance after which every task not ended ends timeout.
        retries: retry limit overriding the sources' policies. fail_fast:
        the first task that fails or times out cancels the rest.

        Leaving the iteration early (break, an exception, the task
        cancelled) cancels the job on the broker; for that to happen at a
        known point rather than when the iterator is collected, use
        `async with contextlib.aclosing(client.submit(...)) as events`.
        """
        if self._closed:
            raise Error("client closed")
        job = _Job(self, queries, sources, order, max_inflight, timeout, deadline, retries,
                   fail_fast)
        return self._stream(job)

    async def _stream(self, job):
        try:
            await self._open(job)
            names = job.sources
            while True:
                item = await job.next()
                if isinstance(item, BaseException):
                    raise item
                msg, payload = item
                t = msg.type
                if t == P.MSG_PARTIAL:
                    src = names[msg.source]
                    for i, data in enumerate(payload):
                        yield Partial(msg.query, src, msg.seq + i, data)
                elif t == P.MSG_END:
                    src = names[msg.source]
                    first = msg.parts - len(payload)
                    for i, data in enumerate(payload):
                        yield Partial(msg.query, src, first + i, data)
                    yield End(msg.query, src, P.status_name(msg.status), msg.parts,
                              msg.attempts, msg.text, msg.duplicates)
                elif t == P.MSG_RESTART:
                    yield Restart(msg.query, names[msg.source], msg.attempts)
                else:
                    sources = {}
                    for name, row in zip(names, msg.summary):
                        sources[name] = dict(zip(P.STATUS_NAMES, row))
                    yield JobEnd(P.status_name(msg.status), sources)
                    return
        finally:
            job.abandon()

    async def _open(self, job):
        """Submit to each endpoint in turn until one accepts."""
        errors = []
        last = None
        loop = asyncio.get_running_loop()
        job.id = os.urandom(16)
        for endpoint in self.endpoints:
            if self._closed:
                raise Error("client closed")
            try:
                conn = self._conn_for(endpoint)
            except zmq.ZMQError as e:
                errors.append("%s: cannot connect: %s" % (endpoint, e))
                last = Unavailable
                continue
            job.conn = conn
            job.state = _SUBMITTING
            job.accepted = loop.create_future()
            job.granted = min(self.window, _INITIAL_CREDIT)
            job.avg_bytes = 0
            job.resubmitted = False
            conn.register(job)
            job.send_submit()
            job.pipelined = len(job.queries) <= P.MAX_BATCH
            if job.pipelined:
                conn.sock.send(*job.queries_msg(0))
            start = last_submit = time.monotonic()
            deadline = start + self.connect_timeout
            while not job.accepted.done():
                now = time.monotonic()
                if now >= deadline:
                    break
                if now - last_submit >= _RESUBMIT:
                    # Idempotent; repairs a lost SUBMIT (and its queries:
                    # the broker ignores a QUERIES it already has).
                    job.send_submit()
                    if job.pipelined:
                        conn.sock.send(*job.queries_msg(0))
                    job.resubmitted = True
                    last_submit = now
                await wait_any([job.accepted], min(deadline, last_submit + _RESUBMIT) - now)
                if conn.closed and not job.accepted.done():
                    break
            outcome = job.accepted.result() if job.accepted.done() else None
            if outcome is True:
                if not job.pipelined:
                    job.sender = loop.create_task(job.send_queries())
                return
            if isinstance(outcome, Error) and not isinstance(outcome, (Refused, StreamError)):
                raise outcome               # the client closed under us
            if isinstance(outcome, StreamError):     # the connection failed
                conn.forget(job.id)
                errors.append("%s: %s" % (endpoint, outcome.text))
                last = Unavailable
                continue
            if isinstance(outcome, Refused):
                conn.forget(job.id)
                errors.append("%s: refused: %d %s" % (endpoint, outcome.code, outcome.text))
                last = outcome
                continue
            errors.append("%s: no answer within %d msec" % (endpoint, self.connect_timeout * 1000))
            last = Unavailable
            # It may still accept: tell it to let go. A socket that served
            # nothing else is closed, as libbraid does, so that nothing
            # queued for this broker reaches the next job.
            conn.forget(job.id)
            if not conn.jobs:
                conn.close()
            elif not conn.closed:
                job.send_cancel()
                conn.adopt(_Orphan(conn, job.id, 0, self.window, granted=job.granted))
        job.state = _DONE
        text = "; ".join(errors)
        if isinstance(last, Refused):
            raise Refused(last.code, last.text, text)
        raise Unavailable(text or "no broker endpoint")

    async def gather(self, queries, sources, **options):
        """Run a job to its end; a list of Result(query, source, status,
        data) in submit order (query by query, sources in the order given),
        data the task's partials joined. Options as for submit()."""
        given = list(queries)
        names = [sources] if isinstance(sources, str) else list(sources)
        parts = {}
        status = {}
        async for ev in self.submit(given, names, **options):
            if isinstance(ev, Partial):
                parts.setdefault((ev.query, ev.source), []).append(ev.data)
            elif isinstance(ev, End):
                status[(ev.query, ev.source)] = ev.status
            elif isinstance(ev, Restart):
                parts.pop((ev.query, ev.source), None)
        return [Result(q, s, status.get((i, s), "cancelled"), b"".join(parts.get((i, s), ())))
                for i, q in enumerate(given) for s in names]

    async def stats(self):
        """The broker's stats (its JSON object, as `braid stats --json`),
        from the first endpoint that answers; Unavailable if none does."""
        errors = []
        for endpoint in self.endpoints:
            try:
                sock = Sock(zmq.DEALER, endpoint, _SNDHWM)
            except zmq.ZMQError as e:
                errors.append("%s: cannot connect: %s" % (endpoint, e))
                continue
            try:
                reply = await self._stats_one(sock)
            finally:
                sock.close()
            if reply is not None:
                return reply
            errors.append("%s: no answer within %d msec" % (endpoint, self.connect_timeout * 1000))
        raise Unavailable("; ".join(errors))

    async def _stats_one(self, sock):
        deadline = time.monotonic() + self.connect_timeout
        last_sent = None
        while True:
            now = time.monotonic()
            if now >= deadline:
                return None
            if last_sent is None or now - last_sent >= _RESUBMIT:
                sock.try_send(P.Msg(P.MSG_STATS))       # idempotent: repeat it
                last_sent = now
            while True:
                item = sock.recv(P.CH_TO_CLIENT)
                if item is None:
                    break
                msg, payload = item
                if msg.type == P.MSG_STATS_REPLY:
                    return json.loads(bytes(payload[0]).decode("utf-8"))
            poll = sock.poll_in()
            try:
                await wait_any([poll], min(deadline, last_sent + _RESUBMIT) - now)
            finally:
                cancel_all(poll)
