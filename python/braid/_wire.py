"""braid._wire - sockets and framing shared by the client and the worker.

Sockets are plain (blocking-API) pyzmq sockets used only with DONTWAIT,
each with a zmq.asyncio shadow for waiting (poll) and for sends that must
wait for room while keeping their order. A message is received whole but
never held beyond 1 + MAX_FRAMES frames (a longer one is drained and
refused, as braid_msg_recv() does), then decoded by braid._proto. Partials
and queries travel packed in one parts frame each message (_proto
wire_payload on the way out, decode_frames unpacks them on the way in).
"""

import asyncio
import logging
import sys

import zmq
import zmq.asyncio

from . import _proto

log = logging.getLogger("braid")


def context():
    return zmq.Context.instance()


def harden(sock, hwm):
    """ZMQ_MAXMSGSIZE and HWMs on a socket a peer can reach, linger 0
    (braid_socket_harden)."""
    sock.setsockopt(zmq.MAXMSGSIZE, _proto.MAX_FRAME)
    sock.setsockopt(zmq.SNDHWM, hwm)
    sock.setsockopt(zmq.RCVHWM, hwm)
    sock.setsockopt(zmq.LINGER, 0)


class Sock:
    """A socket and its asyncio shadow."""

    def __init__(self, kind, endpoint, hwm, rcvhwm=None):
        self.endpoint = endpoint
        self.sync = context().socket(kind)
        harden(self.sync, hwm)
        if rcvhwm is not None:
            self.sync.setsockopt(zmq.RCVHWM, rcvhwm)
        self.aio = zmq.asyncio.Socket.from_socket(self.sync)
        try:
            self.sync.connect(endpoint)
        except zmq.ZMQError:
            self.close()
            raise
        self.dropped = 0      # malformed messages received
        self.waiting = 0      # sends queued in the asyncio shadow

    def close(self, linger_msec=0):
        """Close (pending sends get linger_msec to leave)."""
        if self.sync.closed:
            return
        try:
            self.aio.close(linger=linger_msec)
        finally:
            if not self.sync.closed:
                self.sync.close(linger=linger_msec)

    @property
    def closed(self):
        return self.sync.closed

    def readable(self):
        return bool(self.sync.getsockopt(zmq.EVENTS) & zmq.POLLIN)

    def poll_in(self):
        """A future that resolves when a message may be read."""
        return self.aio.poll(None, zmq.POLLIN)

    def poll_out(self):
        return self.aio.poll(None, zmq.POLLOUT)

    def recv(self, channel):
        """Receive one well-formed message without waiting: (Msg, payload
        list), or None when nothing is queued. Malformed messages on the way
        are dropped and counted in .dropped (and logged at debug level).
        Raises zmq.ZMQError if the socket fails."""
        while True:
            frames = self._recv_frames()
            if frames is None:
                return None
            try:
                if frames is _TOO_MANY:
                    raise _proto.DecodeError("frames")
                return _proto.decode_frames(frames, channel)
            except _proto.DecodeError as e:
                self.dropped += 1
                log.debug("malformed message from %s reason=%s count=%d", self.endpoint,
                          e.reason, self.dropped)

    def _recv_frames(self):
        sock = self.sync
        try:
            first = sock.recv(zmq.DONTWAIT)
        except zmq.Again:
            return None
        frames = [first]
        too_many = False
        # The rest of a multipart message is there once its first frame is:
        # ZeroMQ delivers a message whole.
        while sock.getsockopt(zmq.RCVMORE):
            f = sock.recv()
            if len(frames) <= _proto.MAX_FRAMES:
                frames.append(f)
            else:
                too_many = True     # drained, never held
        return _TOO_MANY if too_many else frames

    def try_send(self, msg, payload=()):
        """Send now or not at all: True if queued, False if the pipe is full
        (EAGAIN). Never reorders: refuses while an awaited send waits."""
        frames = [_proto.encode(msg)]
        frames.extend(_proto.wire_payload(msg, payload))
        if self.waiting:
            return False
        try:
            self.sync.send_multipart(frames, zmq.DONTWAIT, copy=_copy(frames))
        except zmq.Again:
            return False
        return True

    def send(self, msg, payload=()):
        """Queue msg behind any send still waiting; a future that resolves
        once it is handed to ZeroMQ (await it for backpressure, or drop it:
        the message still goes, in order, while the socket lives)."""
        frames = [_proto.encode(msg)]
        frames.extend(_proto.wire_payload(msg, payload))
        fut = self.aio.send_multipart(frames, copy=_copy(frames))
        if not fut.done():
            self.waiting += 1
            fut.add_done_callback(self._sent)
        else:
            _retrieve(fut)
        return fut

    def _sent(self, fut):
        self.waiting -= 1
        _retrieve(fut)


_TOO_MANY = object()
_COPY_BELOW = 65536


def _copy(frames):
    """Copy small frames (cheaper than a zero-copy frame object), not big
    ones."""
    return all(len(f) < _COPY_BELOW for f in frames)


def _retrieve(fut):
    """Mark a send's outcome seen (a close cancels pending sends)."""
    if not fut.cancelled():
        fut.exception()


async def wait_any(futures, timeout):
    """Wait until one of futures (None entries ignored) is done or timeout
    (seconds; None: no limit) passes. The futures are the caller's: it
    cancels the ones it made for this wait (poll futures)."""
    futures = [f for f in futures if f is not None]
    if futures:
        await asyncio.wait(futures, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    elif timeout is not None:
        await asyncio.sleep(timeout)


def cancel_all(*futures):
    for f in futures:
        if f is not None and not f.done():
            f.cancel()


# ---------------------------------------------------------------------------
# Logging: stderr, one line per event, the syslog priority in front
# (braid_log.c), so that journald files each line at its level.

_PRIORITIES = {logging.DEBUG: 7, logging.INFO: 6, 25: 5, logging.WARNING: 4,
               logging.ERROR: 3, logging.CRITICAL: 2}
NOTICE = 25
logging.addLevelName(NOTICE, "NOTICE")


class _SyslogPrefix(logging.Formatter):
    def __init__(self, ident):
        super().__init__()
        self.ident = ident

    def format(self, record):
        prio = _PRIORITIES.get(record.levelno, 6)
        text = record.getMessage()
        if record.exc_info and record.levelno <= logging.DEBUG:
            text += " | " + self.formatException(record.exc_info).replace("\n", " | ")
        return "<%d>%s: %s" % (prio, self.ident, text)


def log_to_stderr(ident, verbose=False):
    """Send the "braid" loggers to stderr with syslog prefixes."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_SyslogPrefix(ident))
    root = logging.getLogger("braid")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False
