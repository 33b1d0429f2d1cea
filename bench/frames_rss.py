#!/usr/bin/python3
"""bench/frames_rss.py - what one message of many empty frames costs the
broker's memory (issue 9): RSS before, at its peak, and after the broker
dropped the message.

    bench/frames_rss.py BUILD_DIR [FRAMES]

Starts BUILD_DIR/broker/braidd on loopback (ephemeral ports), sends one
multipart message of FRAMES (default 5,000,000) empty frames to its sink
from a PUSH socket, samples the broker's VmRSS every 20 ms until
`braid stats` counts the message dropped (reason `frames`), then once more
a second later, and prints one line:

    frames=N rss_before_kb=A rss_peak_kb=B rss_after_kb=C dropped=D

libzmq holds the whole multipart message (64 bytes per frame) before the
broker can see its first frame, so the peak is bounded by ZeroMQ, not by
braid: braid's part is to refuse it and give the memory back.
"""

import json
import os
import re
import subprocess
import sys
import time

import zmq


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def dropped_frames(cli, frontend):
    out = subprocess.run([cli, "stats", "-b", frontend, "--json"], capture_output=True,
                         text=True, timeout=30)
    if out.returncode != 0:
        return None
    return json.loads(out.stdout).get("dropped", {}).get("frames", 0)


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    build = sys.argv[1]
    nframes = int(sys.argv[2]) if len(sys.argv) > 2 else 5_000_000
    braidd = os.path.join(build, "broker", "braidd")
    cli = os.path.join(build, "client", "braid")
    broker = subprocess.Popen([braidd, "-f", "tcp://127.0.0.1:*", "-w", "tcp://127.0.0.1:*",
                               "-k", "tcp://127.0.0.1:*"], stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        ready = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = broker.stderr.readline()
            if not line:
                break
            m = re.search(r"ready frontend=(\S+) backend=(\S+) sink=(\S+)", line)
            if m:
                ready = m
                break
        if not ready:
            print("frames_rss: the broker did not start", file=sys.stderr)
            return 1
        frontend, sink = ready.group(1), ready.group(3)
        before = rss_kb(broker.pid)
        ctx = zmq.Context()
        push = ctx.socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 10000)
        push.connect(sink)
        for _ in range(nframes - 1):
            push.send(b"", zmq.SNDMORE)
        push.send(b"")
        peak = before
        dropped = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            peak = max(peak, rss_kb(broker.pid))
            dropped = dropped_frames(cli, frontend)
            if dropped:
                break
            time.sleep(0.02)
        time.sleep(1.0)
        after = rss_kb(broker.pid)
        push.close()
        ctx.term()
        print(f"frames={nframes} rss_before_kb={before} rss_peak_kb={peak} "
              f"rss_after_kb={after} dropped={dropped}")
        return 0 if dropped else 1
    finally:
        broker.terminate()
        try:
            broker.wait(10)
        except subprocess.TimeoutExpired:
            broker.kill()


if __name__ == "__main__":
    sys.exit(main())
