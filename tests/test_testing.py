"""The test client: Flask's test-client API over an in-process socket.

The tests marked with the ``client`` fixture run twice, over HTTP with
``app.test_client()`` and over the socket with ``sockreq.test_client()``:
the recipe the README gives for running a suite over both transports.
"""

from __future__ import annotations

import io
import typing as t

import pytest
from flask import Flask
from flask import redirect
from werkzeug.test import TestResponse

from flask_sockreq import SockReq
from flask_sockreq.testing import SockReqTestClient
from flask_sockreq.testing import test_client as make_test_client
from tests.apps import create_app
from tests.security_app import create_security_app


@pytest.fixture
def app() -> Flask:
    return create_app("threading", config={"SOCKREQ_ACCESS_LOG": False})


@pytest.fixture(params=["http", "socket"])
def client(app: Flask, request: pytest.FixtureRequest) -> t.Iterator[t.Any]:
    """The README's recipe: every test using it runs over both transports."""
    http = app.test_client()
    if request.param == "http":
        yield http
    else:
        sockreq: SockReq = app.extensions["sockreq"].extension
        with sockreq.test_client(app, flask_test_client=http) as socket_client:
            yield socket_client


# --- the same tests over both transports ---------------------------------


def test_json_get(client: t.Any) -> None:
    response = client.get("/hello/3", query_string={"x": [1, 2]})
    assert isinstance(response, TestResponse)
    assert response.status_code == 200
    assert response.status == "200 OK"
    assert response.get_json() == {"n": 3, "args": {"x": ["1", "2"]}}
    assert response.json == response.get_json()
    assert response.mimetype == "application/json"


def test_post_json(client: t.Any) -> None:
    response = client.post("/echo", json={"a": [1, "b"], "c": None})
    assert response.json["json"] == {"a": [1, "b"], "c": None}
    assert response.json["content_type"] == "application/json"
    assert response.json["method"] == "POST"


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_other_methods(client: t.Any, method: str) -> None:
    response = getattr(client, method)("/echo", json={"m": method})
    assert response.json["method"] == method.upper()
    assert response.json["json"] == {"m": method}


def test_form_and_files(client: t.Any) -> None:
    response = client.post(
        "/echo",
        data={
            "name": "caf\u00e9",
            "many": ["1", "2"],
            "f": (io.BytesIO(b"hi"), "f.txt"),
        },
    )
    assert response.json["form"] == {"name": ["caf\u00e9"], "many": ["1", "2"]}
    assert response.json["content_type"].startswith("multipart/form-data; boundary=")
    urlencoded = client.post("/echo", data={"a": "1 2"})
    assert urlencoded.json["form"] == {"a": ["1 2"]}
    assert urlencoded.json["content_type"] == "application/x-www-form-urlencoded"


def test_raw_body_and_content_type(client: t.Any) -> None:
    response = client.put("/echo", data=b"\x00\xff", content_type="application/x-raw")
    assert response.json["body_hex"] == "00ff"
    assert response.json["content_type"] == "application/x-raw"


def test_text_binary_head_and_empty(client: t.Any) -> None:
    text = client.get("/text")
    assert text.text == "Caf\u00e9 au lait"
    assert text.data == "Caf\u00e9 au lait".encode()
    assert text.headers["Content-Length"] == str(len(text.data))
    with client.get("/binary") as binary:  # closes the file over HTTP
        assert binary.data.startswith(b"\x89PNG")
        assert binary.mimetype == "image/png"
    head = client.head("/text")
    assert head.data == b""
    assert head.headers["Content-Length"] == str(len(text.data))
    assert client.delete("/empty").status_code == 204


def test_headers_and_errors(client: t.Any) -> None:
    response = client.get("/headers", headers={"X-Custom": "7"})
    assert response.json["X-Custom"] == "7"
    assert client.get("/nowhere").status_code == 404
    assert client.get("/teapot").status_code == 418
    assert client.get("/boom").status_code == 500


def test_redirects(client: t.Any) -> None:
    response = client.get("/redirect")
    assert response.status_code == 302
    assert response.headers["Location"] == "/text"
    followed = client.get("/redirect", follow_redirects=True)
    assert followed.text == "Caf\u00e9 au lait"
    assert [r.status_code for r in followed.history] == [302]
    assert followed.request.path == "/text"


def test_cookies_set_by_the_app_are_sent_back(client: t.Any) -> None:
    client.get("/set-cookie")
    assert client.get("/cookies").json == {
        "flavour": "oatmeal",
        "shouted": "1",
        "whispered": "1",
    }


def test_request_of_the_response(client: t.Any) -> None:
    response = client.get("/hello/1?a=b")
    assert response.request.path == "/hello/1"
    assert response.request.args["a"] == "b"


# --- the socket test client only ------------------------------------------


def test_requests_are_socket_requests(app: Flask) -> None:
    with make_test_client(app) as client:
        info = client.get("/whoami").json
        assert info["is_socket"] is True
        assert info["sid"] == client.sid
        assert client.get("/rooms").json == {"rooms": [client.sid]}
        assert isinstance(client.get("/whoami").jwr, dict)  # type: ignore[attr-defined]


def test_cookies_are_shared_with_the_flask_client() -> None:
    app = create_security_app("threading")
    http = app.test_client()
    sockreq: SockReq = app.extensions["sockreq"].extension
    with sockreq.test_client(app, flask_test_client=http) as sock:
        # Log in over HTTP: the socket is logged in too.
        assert http.post("/login", json={"name": "ada"}).status_code == 200
        assert sock.get("/me").json == {"user": "ada", "is_socket": True}
        # Log out over the socket: so is the HTTP client.
        assert sock.post("/logout").status_code == 200
        assert http.get("/me").status_code == 401
        # Log in over the socket: HTTP sees it.
        sock.post("/login", json={"name": "bob"})
        assert http.get("/me").json == {"user": "bob", "is_socket": False}
        # CSRF: a token fetched over HTTP passes over the socket.
        token = http.get("/csrf-token").json["token"]
        assert sock.post("/transfer").status_code == 400
        assert sock.post("/transfer", headers={"X-CSRFToken": token}).json == {
            "done": True
        }


def test_separate_jar_without_a_flask_client(app: Flask) -> None:
    with make_test_client(app, headers={"Cookie": "theme=dark"}) as client:
        assert client.get("/cookies").json == {"theme": "dark"}
        client.get("/set-cookie")
        assert client.get("/cookies").json["flavour"] == "oatmeal"
    assert app.test_client().get("/cookies").json == {}


def test_pushes_are_received(app: Flask) -> None:
    with make_test_client(app) as client:
        client.post("/push", json={"n": 1})
        received = client.get_received()
        assert received == [
            {
                "name": "pushed",
                "args": [{"via": "flask_socketio.emit", "data": {"n": 1}}],
                "namespace": "/",
            }
        ]


def test_protocol_errors_come_back_as_responses(app: Flask) -> None:
    with make_test_client(app) as client:
        response = client.get("/socket.io/x")
        assert response.status_code == 400
        assert response.json["error"] == "invalid_url"


def test_refusals(app: Flask) -> None:
    app.add_url_rule("/redirect-away", "away", lambda: redirect("http://example.com/x"))
    with pytest.raises(RuntimeError, match="has no 'SockReq'"):
        SockReqTestClient(Flask(__name__))
    client = make_test_client(app)
    with pytest.raises(ValueError, match="TRACE request cannot be sent"):
        client.open("/echo", method="TRACE")
    with pytest.raises(ValueError, match="another server"):
        client.get("/redirect-away", follow_redirects=True)
    client.disconnect()
    client.disconnect()
    with pytest.raises(RuntimeError, match="not connected"):
        client.get("/hello/1")


def test_timeout_gives_504() -> None:
    app = create_security_app("threading", config={"SOCKREQ_TIMEOUT": 0.2})
    with make_test_client(app) as client:
        response = client.get("/slow?s=0.5")
        assert response.status_code == 504
        assert response.json["error"] == "timeout"
