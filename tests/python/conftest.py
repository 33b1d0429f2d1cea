"""conftest.py - real braid processes for the Python tests.

The broker, the C worker and the CLI come from the build (ctest passes
their paths in BRAIDD, BRAID_WORKER and BRAID_CLI; by hand they default to
build/). Python workers run as `python3 -m braid.worker` with the same
interpreter. Every process runs in its own process group in the test's
temp dir with its stderr in a file; the broker binds 127.0.0.1:* and the
real ports are read from its ready line; a worker counts as started once
the broker logs that it joined. Waits are on conditions with deadlines
(never a sleep for correctness); teardown sends SIGTERM, checks exit 0,
and SIGKILLs the group as a backstop.
"""

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = sys.executable
BRAIDD = os.environ.get("BRAIDD") or os.path.join(ROOT, "build", "broker", "braidd")
BRAID_WORKER = os.environ.get("BRAID_WORKER") or os.path.join(ROOT, "build", "workers",
                                                             "braid-worker")
BRAID_CLI = os.environ.get("BRAID_CLI") or os.path.join(ROOT, "build", "client", "braid")
# Slower builds (sanitizers) stretch every deadline.
SCALE = float(os.environ.get("BRAID_TEST_SCALE", "1"))
START_TIMEOUT = 10.0 * SCALE

# Short heartbeats, as tests/fault uses: liveness matters in seconds.
FAST_CONF = """broker
    heartbeat_msec = 200
    worker_liveness_msec = 1200
    client_liveness_msec = 1500
    ack_timeout_msec = 1000
"""
FAST_WORKER = ["--heartbeat", "200", "--liveness", "1200"]


def pytest_configure(config):
    for path in (BRAIDD, BRAID_WORKER, BRAID_CLI):
        if not os.access(path, os.X_OK):
            raise pytest.UsageError("%s missing: build first (or set BRAIDD, BRAID_WORKER, "
                                    "BRAID_CLI)" % path)


def pytest_sessionfinish(session, exitstatus):
    """Under ctest (BRAID_PYTEST_MIN_TESTS set): a run in which fewer tests
    passed than that, or any was skipped, fails, so that an empty or
    shrunken collection cannot pass silently."""
    want = int(os.environ.get("BRAID_PYTEST_MIN_TESTS", "0"))
    if not want or exitstatus != 0:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    stats = reporter.stats if reporter else {}
    passed = len([r for r in stats.get("passed", []) if r.when == "call"])
    skipped = len(stats.get("skipped", []))
    if passed < want or skipped:
        sys.stderr.write("\nbraid: %d tests passed (at least %d expected), %d skipped: failing\n"
                         % (passed, want, skipped))
        session.exitstatus = 1


def wait_for(cond, timeout, what, interval=0.01):
    """Poll cond() until it is true (returns its value) or timeout passes
    (AssertionError naming what). The interval only paces the polling."""
    deadline = time.monotonic() + timeout * SCALE
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout * SCALE, what))
        time.sleep(interval)


def run(coro, timeout=60):
    """Run a coroutine to its end, within timeout seconds."""
    return asyncio.run(asyncio.wait_for(coro, timeout * SCALE))


def synth_payload(query, seq, size):
    """What braid-worker's synthetic source sends for part seq of query
    (synth_source.c s_payload)."""
    body = size - 1
    data = (query[:body] + b" %d" % seq)[:body]
    return data + b"." * (body - len(data)) + b"\n"


class Proc:
    """A process in its own process group, stderr (and stdout) in files."""

    def __init__(self, name, argv, cwd, env=None, stdin=None, stdout=None):
        self.name = name
        self.argv = argv
        self.err_path = os.path.join(cwd, name + ".err")
        self.out_path = os.path.join(cwd, name + ".out")
        full_env = dict(os.environ)
        full_env.update(env or {})
        with open(self.err_path, "wb") as err, open(self.out_path, "wb") as out:
            self.p = subprocess.Popen(argv, cwd=cwd, env=full_env,
                                      stdin=stdin or subprocess.DEVNULL, stdout=stdout or out,
                                      stderr=err, start_new_session=True)
        self.pid = self.p.pid

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stdout(self):
        with open(self.out_path, "rb") as f:
            return f.read()

    def wait_line(self, pattern, timeout=START_TIMEOUT):
        """The first stderr line matching the regex pattern (a match)."""
        rx = re.compile(pattern)

        def find():
            for line in self.stderr().splitlines():
                m = rx.search(line)
                if m:
                    return m
            if self.p.poll() is not None:
                raise AssertionError("%s exited %s before logging %r:\n%s" % (
                    self.name, self.p.returncode, pattern, self.stderr()[-3000:]))
            return None
        try:
            return wait_for(find, timeout, "%s: %r" % (self.name, pattern))
        except AssertionError as e:
            raise AssertionError("%s\n--- %s stderr ---\n%s"
                                 % (e, self.name, self.stderr()[-3000:]))

    def signal(self, sig):
        if self.p.poll() is None:
            os.kill(self.pid, sig)

    def wait(self, timeout):
        try:
            return self.p.wait(timeout * SCALE)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s did not exit within %.1f s:\n%s"
                                 % (self.name, timeout * SCALE, self.stderr()[-3000:]))

    def stop(self, timeout=10):
        """SIGTERM and the exit status."""
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill_group(self):
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.p.wait(5)
        except subprocess.TimeoutExpired:
            pass


class Cluster:
    """A broker on 127.0.0.1 ephemeral ports and its workers."""

    def __init__(self, dir, conf=None, broker_args=()):
        self.dir = str(dir)
        self.procs = []
        self.workers = {}
        argv = [BRAIDD, "-f", "tcp://127.0.0.1:*", "-w", "tcp://127.0.0.1:*",
                "-k", "tcp://127.0.0.1:*"] + list(broker_args)
        if conf:
            path = os.path.join(self.dir, "braidd.conf")
            with open(path, "w") as f:
                f.write(conf)
            argv += ["-c", path]
        self.broker = self._spawn("braidd", argv)
        m = self.broker.wait_line(r"^<5>braidd: ready frontend=(\S+) backend=(\S+) sink=(\S+)$")
        self.frontend, self.backend, self.sink = m.group(1), m.group(2), m.group(3)

    def _spawn(self, name, argv, env=None, **kw):
        p = Proc(name, argv, self.dir, env, **kw)
        self.procs.append(p)
        return p

    def _joined(self, name):
        # "name=NAME slots=": the space keeps w1 from matching w10.
        self.broker.wait_line(r"^<6>braidd: worker joined name=%s slots=" % re.escape(name))

    def add_c_worker(self, name, specs, slots=4, extra=()):
        argv = [BRAID_WORKER, "-b", self.backend, "-k", self.sink, "-n", str(slots), "-N", name]
        argv += list(extra)
        for s in specs:
            argv += ["-s", s]
        p = self._spawn(name, argv)
        self.workers[name] = p
        self._joined(name)
        return p

    def add_py_worker(self, name, sources, slots=4, extra=(), env=None):
        """python3 -m braid.worker with sources like "load=sources:synth"
        (tests/python/sources.py)."""
        argv = [PYTHON, "-m", "braid.worker", "-b", self.backend, "-k", self.sink,
                "-n", str(slots), "-N", name] + list(extra) + list(sources)
        full_env = {"PYTHONPATH": os.pathsep.join([os.path.join(ROOT, "python"), HERE]),
                    "BRAID_TEST_DIR": self.dir}
        full_env.update(env or {})
        p = self._spawn(name, argv, env=full_env)
        self.workers[name] = p
        self._joined(name)
        return p

    def cli(self, args, input=None, timeout=60):
        """Run the braid CLI against this broker: (exit status, stdout)."""
        r = subprocess.run([BRAID_CLI] + list(args[:1]) + ["-b", self.frontend] + list(args[1:]),
                           input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout * SCALE, cwd=self.dir)
        return r.returncode, r.stdout

    def stats(self):
        rc, out = self.cli(["stats", "--json"])
        assert rc == 0, out
        return json.loads(out)

    def wait_idle(self, timeout=10):
        """Until the broker holds no job and runs no task."""
        return wait_for(lambda: (lambda s: s if s["jobs"] == 0 and s["running"] == 0 else None)(
            self.stats()), timeout, "the broker to hold no job and run no task", interval=0.05)

    def stop_worker(self, name):
        p = self.workers.pop(name)
        rc = p.stop()
        assert rc == 0, "%s exited %s:\n%s" % (name, rc, p.stderr()[-3000:])
        return p

    def close(self):
        errors = []
        try:
            for name in list(self.workers):
                p = self.workers.pop(name)
                rc = p.stop()
                if rc != 0:
                    errors.append("%s exited %s:\n%s" % (name, rc, p.stderr()[-3000:]))
            rc = self.broker.stop()
            if rc != 0:
                errors.append("braidd exited %s:\n%s" % (rc, self.broker.stderr()[-3000:]))
        finally:
            for p in self.procs:
                p.kill_group()
        assert not errors, "\n".join(errors)

    def dump(self):
        return "\n".join("--- %s ---\n%s" % (p.name, p.stderr()[-2000:]) for p in self.procs)


@pytest.fixture
def cluster_factory(tmp_path):
    made = []

    def make(conf=None, broker_args=()):
        c = Cluster(tmp_path, conf, broker_args)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


@pytest.fixture
def cluster(cluster_factory):
    return cluster_factory()
