"""pytest fixtures to run a Flask app's tests over HTTP and over the socket.

Installed with Flask-SockReq, registered through the ``pytest11`` entry
point (disable it with ``-p no:flask_sockreq``). Its fixtures need an
``app`` fixture, the app with :class:`~flask_sockreq.SockReq` set up, as
pytest-flask users already have.

``sockreq_client``
    Each test that takes it runs twice, with the ids ``[http]`` and
    ``[socket]``: once with ``http_client``, once with ``socket_client``.
``http_client``
    ``app.test_client()``.
``socket_client``
    A :class:`~flask_sockreq.testing.SockReqTestClient` that shares
    ``http_client``'s cookies, disconnected after the test.
``socket_client_options``
    The keyword arguments of ``socket_client`` (``headers``, ``auth``,
    ``namespace``, ...): ``{}``; override it to authenticate the socket.

To run a suite written for a ``client`` fixture over both transports, one
line in its ``conftest.py`` makes ``client`` this plugin's
``sockreq_client``::

    from flask_sockreq.pytest_plugin import sockreq_client as client  # noqa: F401

The plugin defines no ``client`` of its own, so it never shadows
pytest-flask's or a project's. A test that only one transport can pass
says so with a marker::

    @pytest.mark.sockreq_transports("http")
    def test_remote_addr(client): ...
"""

from __future__ import annotations

import typing as t

import pytest

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask
    from flask.testing import FlaskClient

    from .testing import SockReqTestClient

#: The transports, as the ids of the tests that take ``sockreq_client``.
TRANSPORTS = ("http", "socket")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sockreq_transports(*names): run the test over these of the"
        " transports of the 'sockreq_client' fixture, 'http' and 'socket'.",
    )


@pytest.fixture
def socket_client_options() -> dict[str, t.Any]:
    """The keyword arguments of :class:`~flask_sockreq.testing.SockReqTestClient`
    for ``socket_client``, such as ``{"auth": {"token": ...}}``; override it
    in a ``conftest.py``."""
    return {}


@pytest.fixture
def http_client(app: Flask) -> FlaskClient:
    """The app's Flask test client, ``app.test_client()``."""
    return app.test_client()


@pytest.fixture
def socket_client(
    app: Flask, http_client: FlaskClient, socket_client_options: dict[str, t.Any]
) -> t.Iterator[SockReqTestClient]:
    """A socket test client for the app, sharing ``http_client``'s cookies;
    disconnected after the test."""
    # Imported here, not when pytest loads the plugin: a project may have to
    # monkey-patch (eventlet, gevent) before Flask is imported.
    from .testing import SockReqTestClient

    client = SockReqTestClient(app, http_client, **socket_client_options)
    yield client
    client.disconnect()


@pytest.fixture(params=TRANSPORTS)
def sockreq_client(request: pytest.FixtureRequest) -> FlaskClient:
    """``http_client``, then ``socket_client``: a test that takes it runs
    over both transports. Alias it as ``client`` in a ``conftest.py`` to run
    an existing suite so.

    :raise pytest.skip.Exception: For a transport a ``sockreq_transports``
        marker leaves out.
    """
    transport: str = request.param
    marker = request.node.get_closest_marker("sockreq_transports")
    if marker is not None:
        unknown = set(marker.args) - set(TRANSPORTS)
        if unknown:
            raise ValueError(
                f"Unknown transports {sorted(unknown)} in the sockreq_transports"
                f" marker; they are {', '.join(TRANSPORTS)}."
            )
        if transport not in marker.args:
            pytest.skip(f"This test runs over {', '.join(marker.args)} only.")
    client: FlaskClient = request.getfixturevalue(f"{transport}_client")
    return client
