"""Helpers shared by the tests: servers in subprocesses, clients, calls."""

from __future__ import annotations

import http.client
import importlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import typing as t

import engineio
import pytest
import requests
import socketio

from flask_sockreq.client import _ClosesItsWebSocket

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
BENCHMARKS_DIR = os.path.join(os.path.dirname(TESTS_DIR), "benchmarks")
SERVE = os.path.join(TESTS_DIR, "serve.py")
MODES = ("threading", "eventlet", "gevent")
#: The options of ``serve.py`` for the security app (tests/security_app.py).
SECURITY = ("--app", "security")
START_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0
CALL_TIMEOUT = 5


def benchmark_module(name: str) -> t.Any:
    """A module of ``benchmarks/`` (the load generators' framing, the
    socket swarm), which the tests share rather than copy."""
    if BENCHMARKS_DIR not in sys.path:
        sys.path.insert(0, BENCHMARKS_DIR)
    return importlib.import_module(name)


def require(condition: t.Any, reason: str) -> None:
    """Skip the test with ``reason`` unless ``condition`` holds.

    With ``SOCKREQ_TEST_REQUIRE_ALL=1`` in the environment (as CI sets it),
    fail instead: a missing service must not pass unnoticed there.
    """
    if condition:
        return
    if os.environ.get("SOCKREQ_TEST_REQUIRE_ALL") == "1":
        pytest.fail(f"{reason} (SOCKREQ_TEST_REQUIRE_ALL=1 forbids skipping)")
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    predicate: t.Callable[[], t.Any], timeout: float = 5.0, interval: float = 0.02
) -> t.Any:
    """Poll ``predicate`` until it returns a truthy value, at most ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def stop_process(process: subprocess.Popen[t.Any] | None) -> None:
    """Stop a process by its PID: terminate, then kill after a bounded wait."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT)


class ServerProcess:
    """``tests/serve.py`` running in a subprocess."""

    def __init__(self, mode: str, *options: str) -> None:
        self.mode = mode
        self.options = options
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.host = f"127.0.0.1:{self.port}"
        self._stderr = tempfile.NamedTemporaryFile(
            prefix=f"sockreq-{mode}-", suffix=".log", delete=False
        )
        self.process = subprocess.Popen(
            [sys.executable, SERVE, "--mode", mode, "--port", str(self.port), *options],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            cwd=os.path.dirname(TESTS_DIR),
        )
        self.pid = self.process.pid

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if requests.get(f"{self.url}/health", timeout=1).text == "ok":
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        log = self.stderr  # stop() removes the file
        self.stop()
        raise RuntimeError(
            f"The {self.mode} server did not answer within {START_TIMEOUT}s:\n{log}"
        )

    @property
    def stderr(self) -> str:
        """Everything the server has written to stderr so far."""
        with open(self._stderr.name, encoding="utf-8", errors="replace") as file:
            return file.read()

    def wait_for_log(self, text: str, timeout: float = 5.0) -> bool:
        return bool(wait_until(lambda: text in self.stderr, timeout))

    def stop(self) -> None:
        stop_process(self.process)
        self._stderr.close()
        os.unlink(self._stderr.name)

    def __repr__(self) -> str:
        return f"<ServerProcess {self.mode} {' '.join(self.options)} pid={self.pid}>"


class _EngineIOClient(_ClosesItsWebSocket, engineio.Client):  # type: ignore[misc]
    pass


class SocketIOClient(socketio.Client):  # type: ignore[misc]
    """python-socketio's client, which closes its WebSocket when the
    connection ends, whoever ended it: the stock client of the tests."""

    def _engineio_client_class(self) -> type[engineio.Client]:
        return _EngineIOClient


class Clients:
    """Connect python-socketio clients; all are disconnected at teardown."""

    def __init__(self) -> None:
        self.clients: list[socketio.Client] = []

    def connect(
        self,
        server: ServerProcess | str,
        headers: dict[str, str] | None = None,
        namespaces: list[str] | None = None,
        origin: str | None = None,
        suppress_origin: bool = False,
    ) -> socketio.Client:
        """Connect over WebSocket; ``origin`` replaces the default Origin,
        which ``suppress_origin`` leaves out, as non-browser clients do."""
        url = server if isinstance(server, str) else server.url
        extra: dict[str, t.Any] = {}
        if origin:
            extra["origin"] = origin
        if suppress_origin:
            extra["suppress_origin"] = True
        options = {"websocket_extra_options": extra} if extra else {}
        client = SocketIOClient(reconnection=False, **options)
        self.clients.append(client)
        client.connect(
            url,
            transports=["websocket"],
            headers=headers or {},
            namespaces=namespaces,
            wait_timeout=5,
        )
        return client

    def close(self) -> None:
        """Disconnect every client, without waiting for the close handshake.

        websocket-client waits up to 3 s for the server's close frame, which
        the simple-websocket servers (threading, gevent) do not always send:
        the disconnects run in daemon threads, and we only wait (bounded)
        until each client has sent its close.
        """
        for client in self.clients:
            threading.Thread(target=client.disconnect, daemon=True).start()
        for client in self.clients:
            wait_until(lambda c=client: c.eio.state != "connected", STOP_TIMEOUT)
        self.clients.clear()


class MessageThreads:
    """The threads a python-socketio client hands its messages to.

    python-engineio's client handles each message in a thread of its own, so
    a message may still be on its way to its handler when a later one (a
    marker) has been handled. :meth:`settle` waits for the threads of every
    message received so far: after it, a negative check ("nothing came")
    holds for everything the server sent before the marker, with no fixed
    sleep. Make it right after connecting: from then on only messages start
    threads.
    """

    def __init__(self, client: socketio.Client) -> None:
        self.threads: list[t.Any] = []
        start = client.eio.start_background_task

        def tracked(
            target: t.Callable[..., t.Any], *args: t.Any, **kwargs: t.Any
        ) -> t.Any:
            thread = start(target, *args, **kwargs)
            self.threads.append(thread)
            return thread

        client.eio.start_background_task = tracked

    def settle(self, timeout: float = CALL_TIMEOUT) -> None:
        current = threading.current_thread()
        for thread in list(self.threads):
            if thread is not current:
                thread.join(timeout)
                assert not thread.is_alive(), "a message handler did not finish"


def call(
    client: socketio.Client,
    event: str,
    url: t.Any = None,
    /,
    *,
    namespace: str | None = None,
    **payload: t.Any,
) -> dict[str, t.Any]:
    """Send one socket request and return its JWR."""
    if url is not None:
        payload["url"] = url
    return t.cast(
        dict,
        client.call(event, payload, namespace=namespace, timeout=CALL_TIMEOUT),
    )


def assert_serves(client: socketio.Client, namespace: str | None = None) -> None:
    """The connection still answers a valid request."""
    jwr = call(client, "get", "/hello/5?still=alive", namespace=namespace)
    assert jwr["statusCode"] == 200
    assert jwr["body"] == {"n": 5, "args": {"still": ["alive"]}}


def whoami_over_http(port: int) -> tuple[list[t.Any], dict[str, t.Any]]:
    """GET ``/whoami`` over a connection of our own: the client's end of it
    (host and port, which the server sees as its peer) and the answer."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/whoami")
        local = list(connection.sock.getsockname()[:2])
        body = json.loads(connection.getresponse().read())
    finally:
        connection.close()
    return local, body
