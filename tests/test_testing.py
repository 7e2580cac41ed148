"""The test client: a FlaskClient whose requests go over an in-process socket.

The tests that take the ``client`` fixture run twice, over HTTP with
``app.test_client()`` and over the socket with ``sockreq.test_client()``
sharing its cookies, and expect the same from both: the parity the test
client promises. The rest are about the socket only: streams, uploads, the
connection.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import threading
import time
import typing as t

import flask
import pytest
from flask import Flask
from flask import jsonify
from flask import redirect
from flask import Response
from flask import session
from flask import stream_with_context
from flask.testing import EnvironBuilder
from flask.testing import FlaskClient
from werkzeug.test import ClientRedirectError
from werkzeug.test import TestResponse

import flask_sockreq
from flask_sockreq import SockReq
from flask_sockreq.testing import SocketTestResponse
from flask_sockreq.testing import SockReqTestClient
from flask_sockreq.testing import StreamError
from flask_sockreq.testing import test_client as make_test_client
from tests.apps import create_app
from tests.apps import pattern
from tests.apps import PNG_PATH
from tests.security_app import create_security_app

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL_STREAMS = {
    "SOCKREQ_STREAM_CHUNK_SIZE": 4096,
    "SOCKREQ_STREAM_WINDOW": 16384,
    "SOCKREQ_STREAM_MAX": 3,
}


def make_app(testing: bool = False, **config: t.Any) -> Flask:
    """The tests' app, with a few routes for the client's own features."""
    app = create_app(
        "threading", testing=testing, config={"SOCKREQ_ACCESS_LOG": False, **config}
    )
    gate = threading.Event()
    app.extensions["test_gate"] = gate

    @app.route("/loop")
    def loop() -> t.Any:
        return redirect("/loop")

    @app.route("/keep", methods=["POST"])
    def keep() -> t.Any:
        return redirect("/echo", code=307)

    @app.route("/away")
    def away() -> t.Any:
        return redirect("http://example.com/x")

    @app.route("/session", methods=["GET", "POST"])
    def session_view() -> t.Any:
        if flask.request.method == "POST":
            session.update(flask.request.get_json())
        return jsonify(dict(session))

    @app.route("/gate")
    def gated() -> t.Any:
        """``first``, then ``second`` once the test opens the gate: a body
        produced as the test reads it."""

        def generate() -> t.Iterator[bytes]:
            yield b"first"
            gate.wait(5)
            yield b"second"

        gate.clear()
        return Response(stream_with_context(generate()), mimetype="text/plain")

    @app.route("/who")
    def who() -> t.Any:
        return {
            "is_socket": flask_sockreq.is_socket(),
            "user_agent": flask.request.headers.get("User-Agent"),
            "team": flask.request.headers.get("X-Team"),
        }

    return app


@pytest.fixture
def app() -> Flask:
    return make_app()


@pytest.fixture(params=["http", "socket"])
def client(app: Flask, request: pytest.FixtureRequest) -> t.Iterator[FlaskClient]:
    """The same test over both transports: the socket client shares the HTTP
    client's cookies."""
    http = app.test_client()
    if request.param == "http":
        yield http
    else:
        socket_client = SockReqTestClient(app, http)
        yield socket_client
        socket_client.disconnect()


def socket_client_of(app: Flask, **kwargs: t.Any) -> SockReqTestClient:
    return make_test_client(app, **kwargs)


# --- the same tests over both transports ---------------------------------


def test_json_get(client: FlaskClient) -> None:
    response = client.get("/hello/3", query_string={"x": [1, 2]})
    assert isinstance(response, TestResponse)
    assert isinstance(response, Response)
    assert response.status_code == 200
    assert response.status == "200 OK"
    assert response.get_json() == {"n": 3, "args": {"x": ["1", "2"]}}
    assert response.json == response.get_json()
    assert response.mimetype == "application/json"


def test_post_json(client: FlaskClient) -> None:
    response = client.post("/echo", json={"a": [1, "b"], "c": None})
    assert response.json is not None
    assert response.json["json"] == {"a": [1, "b"], "c": None}
    assert response.json["content_type"] == "application/json"
    assert response.json["method"] == "POST"


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_other_methods(client: FlaskClient, method: str) -> None:
    response = getattr(client, method)("/echo", json={"m": method})
    assert response.json["method"] == method.upper()
    assert response.json["json"] == {"m": method}


def test_form_and_files(client: FlaskClient) -> None:
    response = client.post(
        "/echo",
        data={
            "name": "caf\u00e9",
            "many": ["1", "2"],
            "f": (io.BytesIO(b"hi"), "f.txt"),
        },
    )
    assert response.json is not None
    assert response.json["form"] == {"name": ["caf\u00e9"], "many": ["1", "2"]}
    assert response.json["content_type"].startswith("multipart/form-data; boundary=")
    urlencoded = client.post("/echo", data={"a": "1 2"})
    assert urlencoded.json is not None
    assert urlencoded.json["form"] == {"a": ["1 2"]}
    assert urlencoded.json["content_type"] == "application/x-www-form-urlencoded"


def test_raw_body_and_content_type(client: FlaskClient) -> None:
    response = client.put("/echo", data=b"\x00\xff", content_type="application/x-raw")
    assert response.json is not None
    assert response.json["body_hex"] == "00ff"
    assert response.json["content_type"] == "application/x-raw"


def test_text_binary_head_and_empty(client: FlaskClient) -> None:
    text = client.get("/text")
    assert text.text == "Caf\u00e9 au lait"
    assert text.data == "Caf\u00e9 au lait".encode()
    assert text.headers["Content-Length"] == str(len(text.data))
    with client.get("/binary") as binary:  # closes the file
        with open(PNG_PATH, "rb") as file:
            assert binary.data == file.read()
        assert binary.mimetype == "image/png"
        assert binary.headers["Content-Length"] == str(len(binary.data))
    head = client.head("/text")
    assert head.data == b""
    assert head.headers["Content-Length"] == str(len(text.data))
    assert client.delete("/empty").status_code == 204
    assert client.get("/not-modified").status_code == 304


def test_headers_and_errors(client: FlaskClient) -> None:
    response = client.get("/headers", headers={"X-Custom": "7"})
    assert response.json is not None
    assert response.json["X-Custom"] == "7"
    assert client.get("/nowhere").status_code == 404
    assert client.get("/teapot").status_code == 418
    assert client.get("/boom").status_code == 500


def test_redirects(client: FlaskClient) -> None:
    response = client.get("/redirect")
    assert response.status_code == 302
    assert response.headers["Location"] == "/text"
    followed = client.get("/redirect", follow_redirects=True)
    assert followed.text == "Caf\u00e9 au lait"
    assert [r.status_code for r in followed.history] == [302]
    assert followed.request.path == "/text"


def test_307_keeps_the_body(client: FlaskClient) -> None:
    response = client.post("/keep", json={"kept": True}, follow_redirects=True)
    assert response.json is not None
    assert response.json["json"] == {"kept": True}
    assert response.json["method"] == "POST"
    assert [r.status_code for r in response.history] == [307]


def test_redirect_errors_are_werkzeugs(client: FlaskClient) -> None:
    with pytest.raises(ClientRedirectError, match="Loop detected"):
        client.get("/loop", follow_redirects=True)
    with pytest.raises(RuntimeError, match="external redirects"):
        client.get("/away", follow_redirects=True)


@pytest.mark.parametrize("buffered", [False, True])
def test_buffered_or_not_the_body_is_the_same(
    client: FlaskClient, buffered: bool
) -> None:
    response = client.get("/stream?name=n", buffered=buffered)
    assert response.is_streamed is not buffered
    assert response.text == "".join(f"chunk {n} of n\n" for n in range(5))


def test_an_unbuffered_body_comes_as_it_is_produced(
    app: Flask, client: FlaskClient
) -> None:
    response = client.get("/gate")
    pieces = iter(response.response)
    assert next(pieces) == b"first"  # before the generator has gone on
    app.extensions["test_gate"].set()
    assert next(pieces) == b"second"
    assert list(pieces) == []
    response.close()


def test_closing_an_unread_body_stops_the_view(client: FlaskClient) -> None:
    response = client.get(
        "/stream/slow?n=1000&size=100&delay=0.01", headers={"X-Trace": "cancel"}
    )
    first = next(iter(response.response))
    assert first == b"A" * 100
    response.close()
    deadline = time.monotonic() + 5
    while True:
        records = client.get("/records/cancel").json
        assert records is not None
        if ["finally"] in records or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert ["finally"] in records
    assert len([r for r in records if r[0] == "piece"]) < 1000


def test_large_bodies_both_ways(client: FlaskClient) -> None:
    size = 3 * 1024 * 1024 + 7
    download = client.get(f"/stream/bytes?size={size}")
    assert download.data == pattern(size)
    body = pattern(2 * 1024 * 1024 + 3)
    upload = client.post("/stream/upload", data=body)
    assert upload.json == {
        "length": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
    }
    with io.BytesIO(body) as file:
        from_file = client.put("/stream/upload", data=file)
    assert from_file.json == upload.json
    # Under werkzeug's 500 KiB, so that the form is encoded in memory, not in
    # a temporary file that its client never closes.
    body = body[:300_000]
    with io.BytesIO(body) as file:
        form = client.post(
            "/stream/upload?form=1", data={"f": (file, "big.bin"), "note": "x"}
        )
    assert form.json == {
        "files": {
            "f": {"sha256": hashlib.sha256(body).hexdigest(), "filename": "big.bin"}
        },
        "form": {"note": "x"},
    }


def test_max_content_length(app: Flask, client: FlaskClient) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 100_000
    assert client.post("/stream/upload", data=b"x" * 200_000).status_code == 413
    assert client.post("/stream/upload", data=b"x" * 1000).status_code == 200


def test_cookies_set_by_the_app_are_sent_back(client: FlaskClient) -> None:
    response = client.get("/set-cookie")
    # Never on the wire, but in the socket's response as in HTTP's.
    assert sorted(response.headers.getlist("Set-Cookie")) == [
        "flavour=oatmeal; Path=/",
        "shouted=1; Path=/",
        "whispered=1; Path=/",
    ]
    assert client.get("/cookies").json == {
        "flavour": "oatmeal",
        "shouted": "1",
        "whispered": "1",
    }
    cookie = client.get_cookie("flavour")
    assert cookie is not None
    assert cookie.value == "oatmeal"


def test_set_get_and_delete_cookie(client: FlaskClient) -> None:
    client.set_cookie("theme", "dark")
    assert client.get("/cookies").json == {"theme": "dark"}
    client.delete_cookie("theme")
    assert client.get("/cookies").json == {}
    assert client.get_cookie("theme") is None


def test_session_transaction(client: FlaskClient) -> None:
    with client.session_transaction() as sess:
        sess["user"] = "ada"
    assert client.get("/session").json == {"user": "ada"}
    client.post("/session", json={"cart": [1, 2]})
    with client.session_transaction() as sess:
        assert sess["cart"] == [1, 2]
        assert sess["user"] == "ada"


def test_environ_base_headers(client: FlaskClient) -> None:
    client.environ_base["HTTP_X_TEAM"] = "blue"
    body = client.get("/who").json
    assert body is not None
    assert body["team"] == "blue"
    # The user agent werkzeug's test client sends ("Werkzeug/3.1.9"; lower
    # case in werkzeug 2.3), over both transports alike.
    assert body["user_agent"].lower().startswith("werkzeug/")


def test_with_client_keeps_the_request_context(client: FlaskClient) -> None:
    with client:
        client.post("/session", json={"seen": 1}, query_string={"q": "v"})
        assert flask.request.path == "/session"
        assert flask.request.args["q"] == "v"
        assert session["seen"] == 1
        is_socket = isinstance(client, SockReqTestClient)
        assert flask_sockreq.request.is_socket is is_socket
        client.get("/hello/2")
        assert flask.request.path == "/hello/2"
    assert not flask.has_request_context()
    with pytest.raises(RuntimeError, match="nest"):
        with client, client:
            pass


@pytest.mark.parametrize("buffered", [False, True])
def test_propagated_exceptions_are_raised(buffered: bool) -> None:
    app = make_app(testing=True)
    http = app.test_client()
    socket = SockReqTestClient(app, http)
    for client in (http, socket):
        with pytest.raises(RuntimeError, match="the view failed"):
            client.get("/boom", buffered=buffered)
        # The client goes on.
        assert client.get("/hello/1", buffered=buffered).status_code == 200
    socket.disconnect()


def test_open_a_builder_an_environ_or_a_request(
    app: Flask, client: FlaskClient
) -> None:
    builder = EnvironBuilder(app, "/hello/4", query_string={"a": "b"})
    expected = {"n": 4, "args": {"a": ["b"]}}
    assert client.open(builder).json == expected
    assert client.open(builder.get_environ()).json == expected
    assert client.open(builder.get_request()).json == expected
    builder.close()


def test_request_of_the_response(client: FlaskClient) -> None:
    response = client.get("/hello/1?a=b")
    assert response.request.path == "/hello/1"
    assert response.request.args["a"] == "b"


# --- the socket test client only ------------------------------------------


def test_it_is_a_flask_client(app: Flask) -> None:
    client = socket_client_of(app)
    assert isinstance(client, FlaskClient)
    assert client.application is app
    response = client.get("/whoami")
    assert isinstance(response, SocketTestResponse)
    assert isinstance(response, app.response_class)
    info = response.json
    assert info is not None
    assert info["is_socket"] is True
    assert info["sid"] == client.sid
    assert response.jwr["statusCode"] == 200
    assert client.get("/rooms").json == {"rooms": [client.sid]}
    assert repr(client) == f"<SockReqTestClient {app.name!r} on '/'>"
    client.disconnect()


def test_a_streamed_response_and_its_jwr(app: Flask) -> None:
    client = socket_client_of(app)
    streamed = client.get("/stream/slow?n=3&size=10")
    assert streamed.jwr["body"] is None
    assert streamed.jwr["stream"]["id"].startswith("test-")
    assert streamed.data == b"A" * 10 + b"B" * 10 + b"C" * 10
    buffered = client.get("/stream/slow?n=3&size=10", buffered=True)
    assert "stream" not in buffered.jwr
    assert buffered.data == streamed.data
    small = client.get("/hello/1")
    assert "stream" not in small.jwr  # small and buffered: in the ack
    client.disconnect()


def test_flow_control_with_a_small_window() -> None:
    app = make_app(**SMALL_STREAMS)
    client = socket_client_of(app)
    size = 100_000
    assert client.get(f"/stream/bytes?size={size}").data == pattern(size)
    body = pattern(50_000)
    upload = client.post("/stream/upload", data=body, headers={"X-Trace": "up"})
    assert upload.json == {
        "length": size // 2,
        "sha256": hashlib.sha256(body).hexdigest(),
    }
    # The view read the body as it came, a piece at a time.
    reads = client.get("/records/up").json
    assert reads is not None
    assert len([r for r in reads if r[0] == "read"]) > 1
    client.disconnect()


def test_an_iterator_is_uploaded_as_it_yields(app: Flask) -> None:
    client = socket_client_of(app)
    pieces = [b"x" * 70_000, b"", b"yz", bytearray(b"!")]
    response = client.post(
        "/stream/upload", data=iter(pieces), content_type="application/x-raw"
    )
    body = b"".join(pieces)
    assert response.json == {
        "length": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
    }
    closed = []

    def generate() -> t.Iterator[bytes]:
        try:
            yield b"abc"
        finally:
            closed.append(True)

    assert client.put("/echo", data=generate()).json["body_hex"] == "616263"
    assert closed == [True]
    with pytest.raises(TypeError, match="binary mode"):
        client.post("/stream/upload", data=iter(["text", 1]))

    async def agen() -> t.AsyncIterator[bytes]:
        yield b"x"

    with pytest.raises(TypeError, match="async iterable"):
        client.post("/stream/upload", data=agen())
    assert client.get("/hello/1").status_code == 200
    client.disconnect()


def test_a_failing_generator_raises_stream_error(app: Flask) -> None:
    client = socket_client_of(app)
    response = client.get("/stream/fail")
    pieces = iter(response.response)
    assert next(pieces) == b"before"
    with pytest.raises(StreamError, match="failed") as caught:
        next(pieces)
    assert caught.value.code == "stream_failed"
    client.disconnect()


def test_unread_streams_past_the_limit_give_way() -> None:
    app = make_app(**SMALL_STREAMS)
    client = socket_client_of(app)
    responses = [client.get("/stream/slow?n=100&size=10000") for _ in range(5)]
    assert all(r.jwr.get("stream") for r in responses)
    # The two oldest were cancelled to make room (SOCKREQ_STREAM_MAX is 3).
    assert [bool(r.response.closed) for r in responses] == [  # type: ignore[union-attr]
        True,
        True,
        False,
        False,
        False,
    ]
    assert len(responses[-1].data) == 1_000_000
    client.disconnect()


def test_disconnect_fails_streams_in_flight(app: Flask) -> None:
    client = socket_client_of(app)
    response = client.get("/stream/slow?n=100&size=10000")
    client.disconnect()
    with pytest.raises(StreamError) as caught:
        response.get_data()
    assert caught.value.code == "disconnected"


def test_cookies_are_shared_with_the_flask_client() -> None:
    app = create_security_app("threading")
    http = app.test_client()
    sockreq: SockReq = app.extensions["sockreq"].extension
    sock = sockreq.test_client(app, flask_test_client=http)
    # Log in over HTTP: the socket is logged in too.
    assert http.post("/login", json={"name": "ada"}).status_code == 200
    assert sock.get("/me").json == {"user": "ada", "is_socket": True}
    # Log out over the socket: so is the HTTP client.
    assert sock.post("/logout").status_code == 200
    assert http.get("/me").status_code == 401
    # Log in over the socket: HTTP sees it.
    sock.post("/login", json={"name": "bob"})
    assert http.get("/me").json == {"user": "bob", "is_socket": False}
    # One jar: a session written through either client is the other's.
    with sock.session_transaction() as sess:
        sess["note"] = "from the socket"
    with http.session_transaction() as sess:
        assert sess["note"] == "from the socket"
    # CSRF: a token fetched over HTTP passes over the socket.
    token = http.get("/csrf-token").json["token"]
    assert sock.post("/transfer").status_code == 400
    assert sock.post("/transfer", headers={"X-CSRFToken": token}).json == {"done": True}
    sock.disconnect()


def test_handshake_cookies_without_a_flask_client(app: Flask) -> None:
    client = socket_client_of(app, headers={"Cookie": "theme=dark"})
    assert client.get("/cookies").json == {"theme": "dark"}
    client.get("/set-cookie")
    assert client.get("/cookies").json["flavour"] == "oatmeal"
    assert app.test_client().get("/cookies").json == {}
    client.disconnect()
    no_cookies = socket_client_of(app, use_cookies=False)
    no_cookies.get("/set-cookie")
    assert no_cookies.get("/cookies").json == {}
    with pytest.raises(TypeError, match="Cookies are disabled"):
        no_cookies.get_cookie("flavour")
    no_cookies.disconnect()


def test_pushes_are_received_and_frames_are_not(app: Flask) -> None:
    client = socket_client_of(app)
    client.get("/stream/slow?n=3&size=100000").close()
    client.post("/push", json={"n": 1})
    assert client.get_received() == [
        {
            "name": "pushed",
            "args": [{"via": "flask_socketio.emit", "data": {"n": 1}}],
            "namespace": "/",
        }
    ]
    probe = client.emit("probe", {}, callback=True)
    assert probe["sid"] == client.sid
    assert probe["is_socket"] is True
    assert client.emit("probe", {}) is None
    client.disconnect()


def test_protocol_errors_come_back_as_responses(app: Flask) -> None:
    client = socket_client_of(app)
    response = client.get("/socket.io/x")
    assert response.status_code == 400
    assert response.json is not None
    assert response.json["error"] == "invalid_url"
    client.disconnect()


def test_refusals(app: Flask) -> None:
    with pytest.raises(RuntimeError, match="has no 'SockReq'"):
        SockReqTestClient(Flask(__name__))
    with pytest.raises(ValueError, match="not '/other': the test client must"):
        socket_client_of(app, namespace="/other")
    client = socket_client_of(app)
    with pytest.raises(ValueError, match="TRACE request cannot be sent"):
        client.trace("/echo")
    client.disconnect()
    client.disconnect()
    assert not client.connected
    with pytest.raises(RuntimeError, match="not connected"):
        client.get("/hello/1")
    with pytest.raises(RuntimeError, match="not connected"):
        client.sid  # noqa: B018


def test_server_timeout_gives_504() -> None:
    app = create_security_app("threading", config={"SOCKREQ_TIMEOUT": 0.2})
    client = socket_client_of(app)
    for buffered in (False, True):
        response = client.get("/slow?s=0.5", buffered=buffered)
        assert response.status_code == 504
        assert response.json is not None
        assert response.json["error"] == "timeout"
    client.disconnect()


def test_client_timeout() -> None:
    app = create_security_app("threading", config={"SOCKREQ_TIMEOUT": None})
    client = socket_client_of(app, timeout=0.2)
    with pytest.raises(TimeoutError, match="waited 0.2 s for the answer to GET"):
        client.get("/slow?s=0.6")
    assert not client.connected


def test_the_server_closing_the_connection(app: Flask) -> None:
    client = socket_client_of(app)
    response = client.get("/stream/slow?n=100&size=10000&delay=0.05")
    # The answer never comes: the socket is gone, as a browser's would be.
    with pytest.raises(RuntimeError, match="closed the connection"):
        client.post("/kick")
    assert not client.connected
    with pytest.raises((StreamError, RuntimeError)):
        response.get_data()


ASYNC_MODE_CHECKS = """
import hashlib, sys
import flask
from tests.apps import create_app, pattern
from flask_sockreq.testing import SockReqTestClient

app = create_app(sys.argv[1], testing=True, config={
    "SOCKREQ_ACCESS_LOG": False,
    "SOCKREQ_STREAM_CHUNK_SIZE": 4096,
    "SOCKREQ_STREAM_WINDOW": 16384,
})
client = SockReqTestClient(app, app.test_client())
response = client.get("/stream/slow?n=3&size=10&delay=0.01")
assert response.jwr["stream"]
assert list(response.response) == [b"A" * 10, b"B" * 10, b"C" * 10]
assert client.get("/stream/bytes?size=100000").data == pattern(100000)
body = pattern(50000)
answer = client.post("/stream/upload", data=iter([body[:20000], body[20000:]])).json
assert answer == {"length": 50000, "sha256": hashlib.sha256(body).hexdigest()}, answer
try:
    client.get("/boom")
except RuntimeError as exc:
    assert str(exc) == "the view failed"
else:
    raise AssertionError("no exception")
with client:
    client.get("/hello/5")
    assert flask.request.path == "/hello/5"
client.disconnect()
print("ok")
"""


@pytest.mark.parametrize("mode", ["eventlet", "gevent"])
def test_other_async_modes(mode: str) -> None:
    # Each in a process of its own, without monkey-patching, as a test suite
    # of an app in that mode runs.
    result = subprocess.run(
        [
            sys.executable,
            "-W",
            "ignore::DeprecationWarning",
            "-c",
            ASYNC_MODE_CHECKS,
            mode,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.strip() == "ok", result.stdout + result.stderr


def test_the_typed_helpers_in_an_http_request(app: Flask) -> None:
    with app.test_request_context("/"):
        assert flask_sockreq.request is flask.request
        assert flask_sockreq.is_socket() is False
        assert flask_sockreq.request.is_socket is False
        with pytest.raises(RuntimeError, match="check 'is_socket\\(\\)' first"):
            flask_sockreq.current_socket.id  # noqa: B018
    plain = Flask(__name__)
    with plain.test_request_context("/"):
        assert flask_sockreq.is_socket() is False  # no SockReq, no mixin
    with pytest.raises(RuntimeError, match="outside of request context"):
        flask_sockreq.is_socket()
