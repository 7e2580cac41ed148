"""One warning at start-up for each server limit that would silently stop the
process taking sockets: eventlet's pool, and the open-files limit."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

from tests.helpers import call
from tests.helpers import Clients
from tests.helpers import free_port
from tests.helpers import SERVE
from tests.helpers import stop_process
from tests.helpers import TESTS_DIR
from tests.helpers import wait_until

POOL_WARNING = "This eventlet server holds at most 1024 connections at once"
FILES_WARNING = "This process may open at most 1000 files"


def start(tmp_path, *options: str, files: int | None = None):
    """Serve the test app; stderr goes to a file of ``tmp_path``."""
    port = free_port()
    log = tmp_path / "server.log"

    def limit_files() -> None:
        if files is not None:
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            resource.setrlimit(resource.RLIMIT_NOFILE, (files, hard))

    with open(log, "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, SERVE, "--port", str(port), *options],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            cwd=TESTS_DIR + "/..",
            preexec_fn=limit_files,
        )
    return process, f"http://127.0.0.1:{port}", log


def serve_two_requests(url: str, log) -> str:
    """Connect two sockets, one request each, and return the server's log,
    with a final marker line proving that the log is complete."""
    import requests

    assert wait_until(lambda: _up(requests, url), timeout=15)
    clients = Clients()
    try:
        for _ in range(2):
            client = clients.connect(url)
            assert call(client, "get", "/hello/1")["statusCode"] == 200
    finally:
        clients.close()
    requests.get(f"{url}/hello/2?marker", timeout=5)
    assert wait_until(lambda: "marker" in log.read_text(), timeout=5)
    return log.read_text()


def _up(requests, url: str) -> bool:
    try:
        return requests.get(f"{url}/health", timeout=1).text == "ok"
    except requests.RequestException:
        return False


def test_eventlet_default_pool_is_warned_about_once(tmp_path):
    process, url, log = start(tmp_path, "--mode", "eventlet", "--max-size", "0")
    try:
        text = serve_two_requests(url, log)
    finally:
        stop_process(process)
    assert text.count(POOL_WARNING) == 1, text
    assert "Pass a larger max_size to socketio.run()" in text


def test_a_large_pool_is_not_warned_about(tmp_path):
    process, url, log = start(tmp_path, "--mode", "eventlet")
    try:
        text = serve_two_requests(url, log)
    finally:
        stop_process(process)
    assert "connections at once" not in text, text


@pytest.mark.parametrize("mode", ["eventlet", "gevent"])
def test_a_small_open_files_limit_is_warned_about_once(tmp_path, mode):
    process, url, log = start(tmp_path, "--mode", mode, files=1000)
    try:
        text = serve_two_requests(url, log)
    finally:
        stop_process(process)
    assert text.count(FILES_WARNING) == 1, text
    assert "ulimit -n" in text
    assert "holds fewer than 1000 sockets" in text


@pytest.mark.parametrize(("mode", "files"), [("threading", 1000), ("eventlet", 20000)])
def test_no_open_files_warning(tmp_path, mode, files):
    process, url, log = start(tmp_path, "--mode", mode, files=files)
    try:
        text = serve_two_requests(url, log)
    finally:
        stop_process(process)
    assert "may open at most" not in text, text
