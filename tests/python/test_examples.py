"""test_examples.py - examples/python/ run as a user would, and the package
installs.

http_source.py serves three sources from tests/http/server.py (two ranked
NDJSON feeds and one that answers 404); aggregator.py fans queries out to
all three, streams the results, reports the broken source per query and
still merges the others.

The package: importable with PYTHONPATH=python from anywhere, and
installable with pip into a virtual environment (with the system's
pyzmq, msgpack and setuptools: no network).
"""

import os
import re
import subprocess

import pytest

from conftest import PYTHON, ROOT, SCALE, Proc, wait_for

EXAMPLES = os.path.join(ROOT, "examples", "python")


@pytest.fixture
def http_server(tmp_path):
    p = Proc("http", [PYTHON, os.path.join(ROOT, "tests", "http", "server.py")], str(tmp_path))
    try:
        m = wait_for(lambda: re.search(rb"READY port=(\d+)", p.stdout()), 10, "the HTTP server")
        yield "http://127.0.0.1:%d" % int(m.group(1))
    finally:
        p.stop()
        p.kill_group()


def test_aggregator_over_an_aiohttp_source(cluster, http_server):
    env = {"PYTHONPATH": os.path.join(ROOT, "python")}
    argv = [PYTHON, os.path.join(EXAMPLES, "http_source.py"), "-b", cluster.backend,
            "-k", cluster.sink, "-n", "8", "-N", "http1",
            "-s", "web=%s/ranked?q={query}&source=web&n=4&interval_ms=5" % http_server,
            "-s", "news=%s/ranked?q={query}&source=news&n=3" % http_server,
            "-s", "broken=%s/status?q={query}&code=404&times=100" % http_server]
    worker = cluster._spawn("http1", argv, env=env)
    cluster.workers["http1"] = worker
    cluster._joined("http1")
    r = subprocess.run([PYTHON, os.path.join(EXAMPLES, "aggregator.py"), "-b", cluster.frontend,
                        "-s", "web", "-s", "news", "-s", "broken", "cats & dogs", "ümlaut"],
                       env=dict(os.environ, **env), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60 * SCALE)
    out, err = r.stdout.decode(), r.stderr.decode()
    assert r.returncode == 1, (out, err)          # one source failed: reported, not fatal
    for q in ("cats & dogs", "ümlaut"):
        assert len(re.findall(r"^%s: web \d+ https://example.invalid/" % re.escape(q), out,
                              re.M)) == 4, out
        assert len(re.findall(r"^%s: news \d+ " % re.escape(q), out, re.M)) == 3, out
        # Merged by score: each feed's first result leads, web's ahead of news's.
        assert "%s: top https://example.invalid/%s/0(web) https://example.invalid/%s/0(news) " % (
            q, q, q) in out, out
        assert "%s: broken failed: RuntimeError: HTTP 404 from " % q in err, err
    # The query reached the server as it was typed (escaped, then decoded).
    assert "https://example.invalid/cats & dogs/0" in out
    assert "https://example.invalid/ümlaut/0" in out


def test_import_with_pythonpath(tmp_path):
    r = subprocess.run([PYTHON, "-c", "import braid; print(braid.__version__, braid.__file__)"],
                       env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python")),
                       cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split()[1].startswith(os.path.join(ROOT, "python"))


def test_pip_install_into_a_venv(tmp_path):
    # Offline, as on the test machines: the venv sees Debian's pyzmq,
    # msgpack and setuptools, pip builds without fetching a backend.
    venv = tmp_path / "venv"
    subprocess.run([PYTHON, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)],
                   check=True, timeout=120 * SCALE)
    # A copy of the tree: pip and setuptools leave build files beside the sources.
    src = tmp_path / "src"
    subprocess.run(["cp", "-r", os.path.join(ROOT, "python"), str(src)], check=True)
    r = subprocess.run([PYTHON, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                        "--no-index", "--no-build-isolation", "--no-cache-dir", "--quiet",
                        str(src)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=300 * SCALE)
    assert r.returncode == 0, r.stdout.decode()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([str(venv / "bin" / "python"), "-c",
                        "import braid, braid.worker; print(braid.__file__)"],
                       env=env, cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().startswith(str(venv))
    r = subprocess.run([str(venv / "bin" / "python"), "-m", "braid.worker", "--help"], env=env,
                       cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 0 and b"MODULE:FUNCTION" in r.stdout
