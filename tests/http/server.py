#!/usr/bin/python3
"""server.py - a local HTTP server for braid's http-source tests and benchmarks.

Python's standard library only. It binds 127.0.0.1 on a port of its own
choosing (or --port), prints "READY port=N" on stdout, and serves until
SIGTERM. Every endpoint records what the tests assert on, readable at
GET /_stats as JSON (and reset by GET /_reset):

  /search?q=Q&delay_ms=D      after D ms, {"q": Q, "results": [...]}: Q as the
                              server decoded it, so a test compares it with
                              what it sent
  /ndjson?q=Q&n=N&interval_ms=I
                              chunked NDJSON: N lines, one every I ms; the
                              send time of each is logged (monotonic ns)
  /sse?q=Q&n=N&interval_ms=I&done=TEXT
                              Server-Sent Events, N data events then
                              "data: TEXT" (if given)
  /ranked?q=Q&source=S&n=N&interval_ms=I
                              NDJSON of N results {"score","url","source"} in
                              descending score, deterministic per (Q, S)
  /status?q=Q&code=C&times=T&retry_after=R
                              the first T requests for Q answer C (with
                              Retry-After: R if given), then 200
  /big?bytes=B                B bytes of a repeating pattern, chunked
  POST /echo                  the request body back, as received

_stats: requests, connections (TCP connections accepted), peak (most
requests in progress at once), in_progress, times (per path and query: the
monotonic ns at which each request arrived), sent (per query: send times
of streamed items), bodies (POST bodies, latin-1).
"""

import argparse
import json
import signal
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATS = {}


def reset():
    with LOCK:
        STATS.clear()
        STATS.update(requests=0, connections=0, peak=0, in_progress=0, times={}, sent={},
                     bodies=[], status_count={})


reset()


def now_ns():
    return time.monotonic_ns()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive: connections are reused

    def log_message(self, fmt, *args):   # quiet: tests read _stats
        pass

    def setup(self):
        super().setup()
        with LOCK:
            STATS["connections"] += 1

    # -- helpers ----------------------------------------------------------

    def _params(self):
        url = urllib.parse.urlsplit(self.path)
        params = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True,
                                             encoding="utf-8", errors="surrogateescape"))
        return url.path, params

    def _send(self, code, body, ctype="application/json", headers=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _start_chunked(self, ctype):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def _end_chunked(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _record_sent(self, q):
        with LOCK:
            STATS["sent"].setdefault(q, []).append(now_ns())

    # -- dispatch ---------------------------------------------------------

    def _enter(self, path, q):
        with LOCK:
            STATS["requests"] += 1
            STATS["in_progress"] += 1
            STATS["peak"] = max(STATS["peak"], STATS["in_progress"])
            STATS["times"].setdefault(path + "?" + q, []).append(now_ns())

    def _leave(self):
        with LOCK:
            STATS["in_progress"] -= 1

    def do_GET(self):
        path, p = self._params()
        if path == "/_stats":
            with LOCK:
                body = json.dumps(STATS).encode()
            return self._send(200, body)
        if path == "/_reset":
            reset()
            return self._send(200, b"{}")
        q = p.get("q", "")
        self._enter(path, q)
        try:
            self._route(path, p, q)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            self._leave()

    def do_POST(self):
        path, p = self._params()
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        q = p.get("q", "")
        self._enter(path, q)
        try:
            if path != "/echo":
                return self._send(404, b"no such endpoint\n", "text/plain")
            with LOCK:
                STATS["bodies"].append(body.decode("latin-1"))
            self._send(200, body, self.headers.get("Content-Type", "application/octet-stream"))
        finally:
            self._leave()

    def _route(self, path, p, q):
        if path == "/search":
            delay = int(p.get("delay_ms", "0"))
            if delay:
                time.sleep(delay / 1000.0)
            body = json.dumps({"q": q, "results": [q + " result"]}, ensure_ascii=False)
            return self._send(200, body.encode("utf-8", "surrogateescape") + b"\n")
        if path in ("/ndjson", "/sse", "/ranked"):
            n = int(p.get("n", "3"))
            interval = int(p.get("interval_ms", "0")) / 1000.0
            sse = path == "/sse"
            self._start_chunked("text/event-stream" if sse else "application/x-ndjson")
            source = p.get("source", "")
            for i in range(n):
                if i and interval:
                    time.sleep(interval)
                if path == "/ranked":
                    # Deterministic, descending scores; URLs overlap across
                    # sources: url i of every source is the same page when
                    # i is even.
                    score = 1000 - i * 10 - (len(source) % 7)
                    url = "https://example.invalid/%s/%d" % (q if i % 2 == 0 else source, i)
                    item = {"score": score, "url": url, "source": source, "i": i}
                else:
                    item = {"q": q, "i": i}
                line = json.dumps(item, ensure_ascii=False).encode("utf-8", "surrogateescape")
                self._record_sent(q + ("#" + source if source else ""))
                self._chunk(b"data: " + line + b"\n\n" if sse else line + b"\n")
            if sse and "done" in p:
                self._chunk(b"data: " + p["done"].encode() + b"\n\n")
            return self._end_chunked()
        if path == "/status":
            code = int(p.get("code", "500"))
            times = int(p.get("times", "1"))
            with LOCK:
                seen = STATS["status_count"].get(q, 0)
                STATS["status_count"][q] = seen + 1
            if seen < times:
                headers = []
                if "retry_after" in p:
                    headers.append(("Retry-After", p["retry_after"]))
                return self._send(code, b"status %d for %s\n" % (code, q.encode()), "text/plain",
                                  headers)
            return self._send(200, b'{"ok":true}\n')
        if path == "/big":
            total = int(p.get("bytes", "0"))
            pattern = bytes(range(256)) * 256          # 64 KiB
            self._start_chunked("application/octet-stream")
            sent = 0
            while sent < total:
                part = pattern[: min(len(pattern), total - sent)]
                self._chunk(part)
                sent += len(part)
            return self._end_chunked()
        self._send(404, b"no such endpoint\n", "text/plain")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    srv = Server(("127.0.0.1", args.port), Handler)
    srv.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=srv.shutdown).start())
    print("READY port=%d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
