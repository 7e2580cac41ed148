"""Fixtures: real servers in subprocesses, real Socket.IO clients.

Every server is started on a free port of 127.0.0.1, waited for with a
bounded loop and stopped by its PID. Servers are shared for the session
(one per mode and option set) so the suite stays fast.
"""

from __future__ import annotations

import typing as t

import pytest
import socketio
from flask import has_app_context
from flask import has_request_context

from tests.helpers import Clients
from tests.helpers import free_port
from tests.helpers import MODES
from tests.helpers import SECURITY
from tests.helpers import ServerProcess

__all__ = ["free_port"]


@pytest.fixture(scope="session")
def start_server() -> t.Iterator[t.Callable[..., ServerProcess]]:
    """Start (once per session) a server for a mode and a set of options."""
    servers: dict[tuple[str, ...], ServerProcess] = {}

    def start(mode: str, *options: str) -> ServerProcess:
        key = (mode, *sorted(options))
        if key not in servers:
            server = ServerProcess(mode, *options)
            server.wait_ready()
            servers[key] = server
        return servers[key]

    yield start
    for server in servers.values():
        server.stop()


@pytest.fixture(scope="session", params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return t.cast(str, request.param)


@pytest.fixture(scope="session")
def server(start_server: t.Callable[..., ServerProcess], mode: str) -> ServerProcess:
    """The plain test app served in ``mode``."""
    return start_server(mode)


@pytest.fixture
def secure_server(
    start_server: t.Callable[..., ServerProcess], mode: str
) -> ServerProcess:
    """The security app's server (shared for the session) in each mode."""
    return start_server(mode, *SECURITY)


@pytest.fixture
def clients() -> t.Iterator[Clients]:
    pool = Clients()
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def shared_clients() -> t.Iterator[Clients]:
    pool = Clients()
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def sio_client(shared_clients: Clients, server: ServerProcess) -> socketio.Client:
    """A client connected to ``server`` on the default namespace.

    Shared by the tests of a module for one mode: tests that change the
    connection itself (rooms, handshake headers) connect their own clients.
    """
    return shared_clients.connect(server)


@pytest.fixture(autouse=True)
def _connection_survives(request: pytest.FixtureRequest) -> t.Iterator[None]:
    yield
    if "sio_client" in request.fixturenames:
        client = request.getfixturevalue("sio_client")
        assert client.connected, "the test broke the shared connection"


@pytest.fixture(autouse=True)
def _no_context_left_pushed() -> t.Iterator[None]:
    # As Flask's own suite does: a test must not leave a context behind.
    yield
    assert not has_request_context(), "a request context was left pushed"
    assert not has_app_context(), "an app context was left pushed"
