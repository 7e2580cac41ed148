"""``flask_sockreq.connection``: what is kept for one Socket.IO connection,
built from its handshake environ."""

from __future__ import annotations

import typing as t

import pytest
import socketio
from flask import Flask
from flask_socketio import SocketIO

from flask_sockreq import SockReq
from flask_sockreq.connection import _without_port
from flask_sockreq.connection import Connection
from flask_sockreq.connection import CONNECTION_KEY
from flask_sockreq.cookies import CookieJar
from flask_sockreq.streams import Streams


@pytest.fixture(scope="module")
def server() -> socketio.Server:
    return socketio.Server(async_mode="threading")


@pytest.fixture(scope="module")
def app() -> Flask:
    app = Flask(__name__)
    SockReq(app, SocketIO(app, async_mode="threading"))
    return app


def handshake(app: Flask, **environ: t.Any) -> dict[str, t.Any]:
    return {
        "flask.app": app,
        "REMOTE_ADDR": "10.0.0.7",
        "wsgi.url_scheme": "http",
        "HTTP_HOST": "Example.COM:8080",
        **environ,
    }


def test_a_connection_of_an_app_with_sockreq(server, app):
    environ = handshake(app, HTTP_COOKIE="a=1", HTTP_ORIGIN="http://example.com")
    conn = Connection(server, "sid1", "/ns", environ)
    assert conn.app is app
    assert conn.state is app.extensions["sockreq"]
    assert (conn.socket.id, conn.socket.namespace, conn.socket.server) == (
        "sid1",
        "/ns",
        server,
    )
    assert conn.template == {
        "REMOTE_ADDR": "10.0.0.7",
        "wsgi.url_scheme": "http",
        "HTTP_HOST": "Example.COM:8080",
        "HTTP_COOKIE": "a=1",
        "HTTP_ORIGIN": "http://example.com",
        "flask.app": app,
    }
    assert conn.hosts == ("example.com:8080",)
    assert conn.secure is False
    assert conn.has_origin is True
    assert conn.streams is None
    assert conn.remote_addr == "10.0.0.7"


def test_a_connection_of_an_app_without_sockreq(server):
    conn = Connection(server, "s", "/", {"flask.app": Flask(__name__)})
    assert conn.state is None
    assert conn.hosts == ()
    assert conn.has_origin is False
    assert conn.remote_addr == "-"
    assert conn.jar.host == ""


@pytest.mark.parametrize(
    ("scheme", "secure"),
    [("https", True), ("wss", True), ("http", False), ("ws", False), (None, False)],
)
def test_secure(server, app, scheme, secure):
    environ = handshake(app)
    if scheme is None:
        del environ["wsgi.url_scheme"]
    else:
        environ["wsgi.url_scheme"] = scheme
    assert Connection(server, "s", "/", environ).secure is secure


def test_hosts_with_proxy_fix(server, app):
    environ = handshake(
        app,
        HTTP_HOST="public.example",
        **{"werkzeug.proxy_fix.orig": {"HTTP_HOST": "127.0.0.1:5000"}},
    )
    conn = Connection(server, "s", "/", environ)
    assert conn.hosts == ("public.example", "127.0.0.1:5000")
    # ProxyFix puts the original Host back in the template.
    assert conn.template["HTTP_HOST"] == "127.0.0.1:5000"
    assert conn.jar.host == "public.example"
    same = handshake(
        app,
        HTTP_HOST="A.example",
        **{"werkzeug.proxy_fix.orig": {"HTTP_HOST": "a.EXAMPLE"}},
    )
    assert Connection(server, "s", "/", same).hosts == ("a.example",)
    nothing = handshake(app, **{"werkzeug.proxy_fix.orig": {"HTTP_HOST": None}})
    assert Connection(server, "s", "/", nothing).hosts == ("example.com:8080",)
    empty = handshake(app, HTTP_HOST="")
    assert Connection(server, "s", "/", empty).hosts == ()


def test_of_keeps_one_connection_per_socket(server, app):
    environ = handshake(app)
    first = Connection.of(server, "sid1", "/", environ)
    assert environ[CONNECTION_KEY] is first
    assert Connection.of(server, "sid1", "/", environ) is first
    # The same handshake environ connected again (a new sid): a new one.
    second = Connection.of(server, "sid2", "/", environ)
    assert second is not first
    assert second.socket.id == "sid2"
    assert environ[CONNECTION_KEY] is second


def test_the_cookie_jar_is_made_when_first_needed(server, app):
    conn = Connection(server, "s", "/", handshake(app, HTTP_COOKIE="a=1; b=2"))
    assert conn._jar is None
    assert conn.cookie_header("/") == "a=1; b=2"
    assert conn._jar is None
    jar = conn.jar
    assert isinstance(jar, CookieJar)
    assert jar.host == "example.com"
    assert conn.jar is jar
    jar.update(["c=3; Path=/only"], "/")
    assert conn.cookie_header("/") == "a=1; b=2"
    assert conn.cookie_header("/only") == "c=3; a=1; b=2"
    other = CookieJar("z=9", "example.com")
    conn.jar = other
    assert conn.jar is other
    assert conn.cookie_header("/") == "z=9"


def test_no_cookie_header(server, app):
    assert Connection(server, "s", "/", handshake(app)).cookie_header("/") is None
    conn = Connection(server, "s", "/", handshake(app, HTTP_COOKIE=""))
    assert conn.cookie_header("/") is None
    assert len(conn.jar) == 0


def test_secure_cookies_follow_the_scheme(server, app):
    for scheme, expected in (("https", "s=1"), ("http", None)):
        conn = Connection(
            server, "s", "/", handshake(app, **{"wsgi.url_scheme": scheme})
        )
        conn.jar.update(["s=1; Secure"], "/")
        assert conn.cookie_header("/") == expected


def test_streams_are_made_at_the_first_stream(server, app):
    conn = Connection(server, "s", "/", handshake(app))
    state = app.extensions["sockreq"]
    streams = conn.streams_for(server, state)
    assert isinstance(streams, Streams)
    assert (streams.conn, streams.server, streams.limits) == (
        conn,
        server,
        state.stream_limits,
    )
    assert conn.streams is streams
    assert conn.streams_for(server, state) is streams


def test_requests_in_flight(server, app):
    conn = Connection(server, "s", "/", handshake(app))
    assert conn.in_flight(None) is False
    assert conn.in_flight(1) is False
    assert conn.acquire(2, 1) is True
    assert conn.in_flight(1) is True
    assert conn.in_flight(2) is False
    assert conn.acquire(2) is True
    assert conn.in_flight(None) is False  # requests without an ack id
    assert conn.acquire(2, 3) is False
    assert conn.in_flight(3) is False
    conn.release(1)
    assert conn.in_flight(1) is False
    assert conn.acquire(2, 3) is True
    conn.release()
    conn.release(3)
    assert conn._inflight == []
    for n in range(500):
        assert conn.acquire(None, n) is True
    with pytest.raises(ValueError):
        conn.release(1000)


def test_a_limit_of_one(server, app):
    conn = Connection(server, "s", "/", handshake(app))
    assert conn.acquire(1, 7) is True
    assert conn.acquire(1, 8) is False
    assert conn._inflight == [7]
    assert conn.acquire(0, 9) is False


@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("example.com:8080", "example.com"),
        ("example.com", "example.com"),
        ("127.0.0.1:80", "127.0.0.1"),
        ("[::1]:5000", "[::1]"),
        ("[::1]", "[::1]"),
        ("host:", "host:"),
        ("host:http", "host:http"),
        ("", ""),
    ],
)
def test_without_port(host, name):
    assert _without_port(host) == name
