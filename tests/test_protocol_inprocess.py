"""The protocol end to end in-process (the app's real python-socketio
server through Flask-SocketIO's test client): bodies byte for byte, the
headers that matter, what a request inherits from its handshake and what it
may not carry."""

from __future__ import annotations

import typing as t

import pytest
from flask import Flask
from flask import request

from tests.apps import create_app
from tests.apps import ECHO_ALLOW
from tests.apps import pattern


@pytest.fixture
def app() -> Flask:
    app = create_app("threading")

    @app.route("/environ-keys")
    def environ_keys() -> t.Any:
        return sorted(own_keys(request.environ))

    return app


@pytest.fixture
def raw(app: Flask) -> t.Iterator[t.Any]:
    """Flask-SocketIO's test client: the JWR as the wire carries it."""
    client = app.extensions["socketio"].test_client(
        app,
        headers={
            "Cookie": "theme=dark",
            "If-None-Match": '"v1"',
            "If-Modified-Since": "Sun, 06 Nov 1994 08:49:37 GMT",
            "If-Match": '"v2"',
            "If-Unmodified-Since": "Sun, 06 Nov 1994 08:49:37 GMT",
            "If-Range": '"v3"',
            "Range": "bytes=0-1",
            "Cache-Control": "no-cache",
            "Accept-Language": "fr",
            "X-Client": "kept",
        },
    )
    yield client
    client.disconnect()


def emit(client: t.Any, event: str, url: str, **payload: t.Any) -> dict[str, t.Any]:
    return t.cast(dict, client.emit(event, {"url": url, **payload}, callback=True))


@pytest.mark.parametrize("size", [0, 1, 7, 8, 9, 255, 4096, 65537, 300_000])
def test_binary_bodies_byte_for_byte(raw, size):
    jwr = emit(raw, "get", f"/stream/bytes?size={size}")
    assert jwr["statusCode"] == 200
    assert jwr["body"] == pattern(size)
    assert type(jwr["body"]) is bytes
    assert jwr["headers"] == {
        "Content-Type": "application/octet-stream",
        "Content-Length": str(size),
    }


@pytest.mark.parametrize("size", [1, 8, 9, 100_000])
def test_binary_request_bodies_byte_for_byte(raw, size):
    jwr = emit(
        raw,
        "put",
        "/echo",
        data=pattern(size),
        headers={"Content-Type": "application/x-raw"},
    )
    assert jwr["body"]["body_hex"] == pattern(size).hex()
    assert jwr["body"]["content_length"] == str(size)
    assert jwr["body"]["content_type"] == "application/x-raw"


def test_options_answers_allow(raw):
    jwr = emit(raw, "options", "/echo")
    assert jwr["statusCode"] == 200
    assert jwr["body"] == ""
    assert sorted(jwr["headers"]["Allow"].split(", ")) == ECHO_ALLOW
    jwr = emit(raw, "options", "/hello/1")
    assert sorted(jwr["headers"]["Allow"].split(", ")) == ["GET", "HEAD", "OPTIONS"]


def test_405_answers_allow(raw):
    jwr = emit(raw, "delete", "/hello/1")
    assert jwr["statusCode"] == 405
    assert sorted(jwr["headers"]["Allow"].split(", ")) == ["GET", "HEAD", "OPTIONS"]


def test_handshake_headers_a_request_inherits(raw):
    headers = emit(raw, "get", "/headers")["body"]
    assert headers["Cookie"] == "theme=dark"
    assert headers["Accept-Language"] == "fr"
    assert headers["X-Client"] == "kept"
    for name in (
        "If-None-Match",
        "If-Modified-Since",
        "If-Match",
        "If-Unmodified-Since",
        "If-Range",
        "Range",
        "Cache-Control",
    ):
        assert name not in headers, name


def test_conditional_headers_of_the_request_itself(raw):
    # The request's own If-None-Match reaches the view; the handshake's not.
    jwr = emit(raw, "get", "/headers", headers={"If-None-Match": '"mine"'})
    assert jwr["body"]["If-None-Match"] == '"mine"'


@pytest.mark.parametrize(
    "name",
    [
        "Via",
        "TE",
        "Expect",
        "Trailer",
        "Connection",
        "Upgrade",
        "Keep-Alive",
        "Transfer-Encoding",
        "Content-Length",
        "Forwarded",
        "X-Real-IP",
        "X-Forwarded-For",
        "Proxy-Authorization",
        "Sec-Fetch-Site",
        "Host",
        "Origin",
        "Cookie",
        "Cookie2",
    ],
)
def test_connection_headers_of_the_payload_never_reach_the_view(raw, name):
    jwr = emit(raw, "get", "/headers", headers={name: "payload", "X-Sent": "1"})
    assert jwr["statusCode"] == 200
    headers = {key.lower(): value for key, value in jwr["body"].items()}
    assert headers["x-sent"] == "1"
    assert headers.get(name.lower()) != "payload", name


def test_payload_expect_does_not_hold_the_body(raw):
    jwr = emit(
        raw,
        "post",
        "/echo",
        data={"a": 1},
        headers={"Expect": "100-continue", "TE": "trailers", "Via": "1.1 x"},
    )
    assert jwr["body"]["json"] == {"a": 1}
    assert jwr["body"]["content_length"] == "7"


def test_set_cookie_is_kept_from_the_wire_and_sent_back(raw):
    jwr = emit(raw, "get", "/set-cookie")
    assert jwr["headers"] == {
        "Content-Type": "application/json",
        "Content-Length": "12",
    }
    cookies = emit(raw, "get", "/cookies")["body"]
    assert cookies == {
        "theme": "dark",
        "flavour": "oatmeal",
        "shouted": "1",
        "whispered": "1",
    }


def test_a_short_body_is_not_streamed_behind_middleware():
    # docs/streams.rst: "A short body that is already whole comes in the
    # acknowledgement, as for any client." So it does without middleware;
    # behind ProxyFix (the WSGI pipeline) it must too.
    for proxy_fix in (False, True):
        app = create_app("threading", proxy_fix=proxy_fix)
        client = app.extensions["sockreq"].extension.test_client(app)
        try:
            response = client.get("/hello/1", buffered=False)
            assert response.json == {"n": 1, "args": {}}
            assert "stream" not in response.jwr, f"proxy_fix={proxy_fix}"
            assert response.jwr["body"] == {"n": 1, "args": {}}
        finally:
            client.disconnect()


def test_the_jwr_says_when_the_view_changed_the_sockets_rooms(raw):
    jwr = emit(raw, "post", "/socket-join/lobby")
    assert jwr["joined"] is True
    assert "left" not in jwr
    assert "lobby" in jwr["body"]["rooms"]
    jwr = emit(raw, "post", "/socket-leave/lobby")
    assert jwr["left"] is True
    assert "joined" not in jwr
    jwr = emit(raw, "get", "/hello/1")
    assert set(jwr) == {"body", "headers", "statusCode"}


def own_keys(environ: t.Mapping[str, t.Any]) -> set[str]:
    """The keys of an environ that neither WSGI, CGI, werkzeug, Flask,
    engineio nor socketio put there."""
    return {
        key
        for key in environ
        if not key.isupper()
        and not key.startswith(
            ("wsgi.", "werkzeug.", "flask.", "engineio.", "socketio.")
        )
    }


def test_every_environ_key_of_ours_is_namespaced(app):
    # STYLE: per-request data lives in environ keys "flask_sockreq.*".
    socketio = app.extensions["socketio"]
    client = socketio.test_client(app)
    try:
        sid = socketio.server.manager.sid_from_eio_sid(client.eio_sid, "/")
        handshake = socketio.server.get_environ(sid)
        before = own_keys(handshake)
        jwr = client.emit("get", {"url": "/environ-keys"}, callback=True)
        added = own_keys(handshake) - before
    finally:
        client.disconnect()
    assert jwr["statusCode"] == 200
    assert added, "the connection keeps nothing in its handshake environ"
    assert all(key.startswith("flask_sockreq.") for key in added), added
    assert jwr["body"], "the request environ holds nothing of ours"
    assert all(key.startswith("flask_sockreq.") for key in jwr["body"]), jwr["body"]
