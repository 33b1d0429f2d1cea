#!/usr/bin/python3
"""server.py - a local HTTP/1.1 server for braid's http-source tests and benchmarks.

Python's standard library only (asyncio streams: one event loop, thousands
of requests a second, keep-alive). It binds 127.0.0.1 on a port of its own
choosing (or --port), prints "READY port=N" on stdout, and serves until
SIGTERM or SIGINT. Every endpoint records what the tests assert on,
readable at GET /_stats as JSON (and cleared by GET /_reset):

  /search?q=Q&delay_ms=D      after D ms, {"q": Q, "results": [...]}: Q as the
                              server decoded it, so a test compares it with
                              what it sent
  /ndjson?q=Q&n=N&interval_ms=I
                              chunked NDJSON: N lines, one every I ms; the
                              send time of each is logged (monotonic ns)
  /sse?q=Q&n=N&interval_ms=I&done=TEXT
                              Server-Sent Events, N data events then
                              "data: TEXT" (if given)
      (both with &gate=1: item i > 0 is sent only once GET /_release?q=Q&n=i
      came, so a test proves each item reached its client before the next
      was even sent; a gate not opened in 60 s ends the stream)
  /ranked?q=Q&source=S&n=N&interval_ms=I
                              NDJSON of N results {"score","url","source"} in
                              descending score, deterministic per (Q, S)
  /status?q=Q&code=C&times=T&retry_after=R
                              the first T requests for Q answer C (with
                              Retry-After: R if given; R = date:S sends the
                              HTTP date S seconds after the next whole
                              second), then 200
  /big?bytes=B                B bytes of a repeating pattern (byte i is
                              i % 256), chunked; big_sent counts the bytes
                              written so far
  POST /echo                  the request body back, as received
  /headers                    the request's headers as a JSON object (names
                              in lower case)

_stats: requests, connections (TCP connections accepted), peak (most
requests in progress at once), in_progress, times (per "path?q": the
monotonic ns at which each request arrived), wall (the same, as Unix
time in seconds), sent (per query, or "query#source": the send time of
each streamed item), bodies (POST bodies, latin-1), status_count,
big_sent, retry_dates (per query: the Unix times its date Retry-Afters
named).
"""

import argparse
import asyncio
import email.utils
import json
import math
import signal
import sys
import time
import urllib.parse

STATS = {}
MAX_HEAD = 65536
MAX_BODY = 1 << 20
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests",
           500: "Internal Server Error", 503: "Service Unavailable"}


GATE_SEC = 60.0
RELEASED = {}           # gate key -> items the test let go
GATE = None             # asyncio.Condition, made in the loop


def reset():
    STATS.clear()
    STATS.update(requests=0, connections=0, peak=0, in_progress=0, times={}, wall={}, sent={},
                 bodies=[], status_count={}, big_sent=0, retry_dates={})
    RELEASED.clear()


async def gate_wait(key, i):
    """Wait until the test released item i of the stream key; False after
    GATE_SEC without it."""
    async with GATE:
        try:
            await asyncio.wait_for(GATE.wait_for(lambda: RELEASED.get(key, 0) >= i), GATE_SEC)
        except asyncio.TimeoutError:
            return False
    return True


async def release(key, n):
    async with GATE:
        RELEASED[key] = max(RELEASED.get(key, 0), n)
        GATE.notify_all()


reset()


class Request:
    def __init__(self, method, target, headers, body):
        self.method = method
        url = urllib.parse.urlsplit(target)
        self.path = url.path
        self.params = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True,
                                                  encoding="utf-8", errors="surrogateescape"))
        self.headers = headers
        self.body = body


def head(code, headers):
    lines = ["HTTP/1.1 %d %s" % (code, REASONS.get(code, "Status"))]
    lines += ["%s: %s" % kv for kv in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def send(writer, code, body, ctype="application/json", extra=()):
    writer.write(head(code, [("Content-Type", ctype), ("Content-Length", str(len(body)))]
                      + list(extra)) + body)
    await writer.drain()


async def chunk(writer, data):
    writer.write(b"%x\r\n%s\r\n" % (len(data), data))
    await writer.drain()


async def stream(writer, req, q):
    p = req.params
    n = int(p.get("n", "3"))
    interval = int(p.get("interval_ms", "0")) / 1000.0
    sse = req.path == "/sse"
    source = p.get("source", "")
    key = q + ("#" + source if source else "")
    ctype = "text/event-stream" if sse else "application/x-ndjson"
    gate = p.get("gate") == "1"
    writer.write(head(200, [("Content-Type", ctype), ("Transfer-Encoding", "chunked")]))
    for i in range(n):
        if i and interval:
            await asyncio.sleep(interval)
        if i and gate and not await gate_wait(key, i):
            break
        if req.path == "/ranked":
            # Descending scores; URL i is the same page for every source
            # when i is even, so sources overlap.
            score = 1000 - i * 10 - (len(source) % 7)
            url = "https://example.invalid/%s/%d" % (q if i % 2 == 0 else source, i)
            item = {"score": score, "url": url, "source": source, "i": i}
        else:
            item = {"q": q, "i": i}
        line = json.dumps(item, ensure_ascii=False).encode("utf-8", "surrogateescape")
        STATS["sent"].setdefault(key, []).append(time.monotonic_ns())
        await chunk(writer, b"data: " + line + b"\n\n" if sse else line + b"\n")
    if sse and "done" in p:
        await chunk(writer, b"data: " + p["done"].encode() + b"\n\n")
    writer.write(b"0\r\n\r\n")
    await writer.drain()


async def route(writer, req):
    p = req.params
    q = p.get("q", "")
    if req.path == "/search":
        delay = int(p.get("delay_ms", "0"))
        if delay:
            await asyncio.sleep(delay / 1000.0)
        body = json.dumps({"q": q, "results": [q + " result"]}, ensure_ascii=False)
        return await send(writer, 200, body.encode("utf-8", "surrogateescape") + b"\n")
    if req.path in ("/ndjson", "/sse", "/ranked"):
        return await stream(writer, req, q)
    if req.path == "/status":
        code = int(p.get("code", "500"))
        seen = STATS["status_count"].get(q, 0)
        STATS["status_count"][q] = seen + 1
        if seen < int(p.get("times", "1")):
            after = p.get("retry_after")
            if after and after.startswith("date:"):
                when = math.floor(time.time()) + 1 + int(after[5:])
                STATS["retry_dates"].setdefault(q, []).append(when)
                after = email.utils.formatdate(when, usegmt=True)
            extra = [("Retry-After", after)] if after else []
            msg = b"status %d for %s\n" % (code, q.encode("utf-8", "surrogateescape"))
            return await send(writer, code, msg, "text/plain", extra)
        return await send(writer, 200, b'{"ok":true}\n')
    if req.path == "/big":
        total = int(p.get("bytes", "0"))
        pattern = bytes(range(256)) * 256          # 64 KiB
        writer.write(head(200, [("Content-Type", "application/octet-stream"),
                                ("Transfer-Encoding", "chunked")]))
        sent = 0
        while sent < total:
            part = pattern[: min(len(pattern), total - sent)]
            await chunk(writer, part)
            sent += len(part)
            STATS["big_sent"] += len(part)
        writer.write(b"0\r\n\r\n")
        return await writer.drain()
    if req.path == "/headers":
        return await send(writer, 200, json.dumps(req.headers).encode() + b"\n")
    if req.path == "/echo" and req.method == "POST":
        STATS["bodies"].append(req.body.decode("latin-1"))
        ctype = req.headers.get("content-type", "application/octet-stream")
        return await send(writer, 200, req.body, ctype)
    await send(writer, 404, b"no such endpoint\n", "text/plain")


async def read_request(reader):
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    lines = raw.decode("latin-1").split("\r\n")
    try:
        method, target, _ = lines[0].split(" ", 2)
    except ValueError:
        return None
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    body = b""
    n = int(headers.get("content-length", "0") or "0")
    if 0 < n <= MAX_BODY:
        body = await reader.readexactly(n)
    return Request(method, target, headers, body)


async def handle(reader, writer):
    STATS["connections"] += 1
    try:
        while True:
            req = await read_request(reader)
            if req is None:
                break
            if req.path == "/_stats":
                await send(writer, 200, json.dumps(STATS).encode())
                continue
            if req.path == "/_reset":
                reset()
                await send(writer, 200, b"{}")
                continue
            if req.path == "/_release":
                key = req.params.get("q", "")
                await release(key, int(req.params.get("n", "0")))
                await send(writer, 200, b"{}")
                continue
            q = req.params.get("q", "")
            STATS["requests"] += 1
            STATS["in_progress"] += 1
            STATS["peak"] = max(STATS["peak"], STATS["in_progress"])
            STATS["times"].setdefault(req.path + "?" + q, []).append(time.monotonic_ns())
            STATS["wall"].setdefault(req.path + "?" + q, []).append(time.time())
            try:
                await route(writer, req)
            finally:
                STATS["in_progress"] -= 1
            if req.headers.get("connection", "").lower() == "close":
                break
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def main_async(port):
    global GATE
    GATE = asyncio.Condition()
    server = await asyncio.start_server(handle, "127.0.0.1", port, limit=MAX_HEAD, backlog=1024,
                                        reuse_address=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("READY port=%d" % server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await stop.wait()
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    return asyncio.run(main_async(ap.parse_args().port))


if __name__ == "__main__":
    sys.exit(main())
