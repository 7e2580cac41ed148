"""Under gunicorn (threaded worker): request.socket and socket requests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import typing as t

import pytest
import requests

from tests.helpers import call
from tests.helpers import Clients
from tests.helpers import free_port
from tests.helpers import require
from tests.helpers import stop_process
from tests.helpers import TESTS_DIR
from tests.helpers import wait_until
from tests.helpers import whoami_over_http

GUNICORN = os.path.join(os.path.dirname(sys.executable), "gunicorn")


def _require_gunicorn() -> None:
    # Through require(): with SOCKREQ_TEST_REQUIRE_ALL=1 (CI) a missing
    # gunicorn fails the test instead of skipping it.
    require(
        os.path.exists(GUNICORN) or shutil.which("gunicorn") is not None,
        "gunicorn is not installed (pip install -e '.[test]').",
    )


def test_a_missing_gunicorn_skips_or_fails_as_ci_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "GUNICORN", "/nonexistent/gunicorn")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("SOCKREQ_TEST_REQUIRE_ALL", raising=False)
    with pytest.raises(pytest.skip.Exception, match="gunicorn is not installed"):
        _require_gunicorn()
    monkeypatch.setenv("SOCKREQ_TEST_REQUIRE_ALL", "1")
    with pytest.raises(pytest.fail.Exception, match="forbids skipping"):
        _require_gunicorn()


@pytest.fixture(scope="module")
def gunicorn_url() -> t.Iterator[str]:
    _require_gunicorn()
    port = free_port()
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [
            GUNICORN if os.path.exists(GUNICORN) else "gunicorn",
            "--worker-class",
            "gthread",
            "--threads",
            "8",
            "--workers",
            "1",
            "--bind",
            f"127.0.0.1:{port}",
            "tests.wsgi:app",
        ],
        cwd=os.path.dirname(TESTS_DIR),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return requests.get(f"{url}/health", timeout=1).text == "ok"
        except requests.RequestException:
            return False

    try:
        if not wait_until(ready, timeout=15):
            log.seek(0)
            pytest.fail(f"gunicorn did not start:\n{log.read().decode()}")
        yield url
    finally:
        stop_process(process)
        log.close()


def test_http_request_socket_is_gunicorns(gunicorn_url: str) -> None:
    local, body = whoami_over_http(int(gunicorn_url.rsplit(":", 1)[1]))
    assert body["is_socket"] is False
    assert body["socket_type"] == "socket.socket"
    assert body["peername"] == local


def test_socket_request_under_gunicorn(gunicorn_url: str) -> None:
    clients = Clients()
    try:
        client = clients.connect(gunicorn_url)
        jwr = call(client, "get", "/whoami")
        assert jwr["statusCode"] == 200
        assert jwr["body"]["is_socket"] is True
        assert jwr["body"]["sid"] == client.get_sid()
    finally:
        clients.close()
