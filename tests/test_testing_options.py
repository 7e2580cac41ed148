"""The options of the test client, ``SockReqTestClient(app, ...)``, each
seen by the app: handshake headers, namespace, query string, auth and
subdomain redirects (``use_cookies``, ``timeout`` and
``flask_test_client`` are in ``test_testing.py``)."""

from __future__ import annotations

import typing as t

import pytest
from flask import Flask
from flask import redirect
from flask import request
from flask_socketio import SocketIO

from flask_sockreq import SockReq
from flask_sockreq.testing import SockReqTestClient
from tests.apps import create_app


@pytest.fixture
def app() -> Flask:
    return create_app("threading", config={"SOCKREQ_ACCESS_LOG": False})


def test_handshake_headers(app):
    client = SockReqTestClient(app, headers={"X-Team": "blue", "Authorization": "t"})
    try:
        headers = client.get("/headers").json
        assert headers["X-Team"] == "blue"
        assert headers["Authorization"] == "t"
        # The request's own header wins over the handshake's.
        assert client.get("/headers", headers={"X-Team": "red"}).json["X-Team"] == "red"
        handshake = client.get("/whoami").json["socket"]["handshake"]
        assert handshake["headers"]["x-team"] == "blue"
    finally:
        client.disconnect()


def test_namespace():
    app = create_app(
        "threading",
        config={"SOCKREQ_NAMESPACE": "/api", "SOCKREQ_ACCESS_LOG": False},
    )
    for namespace in (None, "/api"):
        client = SockReqTestClient(app, namespace=namespace)
        try:
            assert client.namespace == "/api"
            info = client.get("/whoami").json
            assert info["namespace"] == "/api"
            assert info["socket"]["namespace"] == "/api"
            assert info["sid"] == client.sid
        finally:
            client.disconnect()


def test_query_string(app):
    client = SockReqTestClient(app, query_string="team=blue&x=1&x=2")
    try:
        query = client.get("/whoami").json["socket"]["handshake"]["query"]
        assert query["team"] == ["blue"]
        assert query["x"] == ["1", "2"]
    finally:
        client.disconnect()


def test_auth(app):
    client = SockReqTestClient(app, auth={"token": "abc"})
    try:
        assert client.get("/me").json["auth"] == {"token": "abc"}
    finally:
        client.disconnect()
    client = SockReqTestClient(app)
    try:
        assert client.get("/me").json["auth"] is None
    finally:
        client.disconnect()


def subdomain_app() -> Flask:
    app = Flask(__name__, subdomain_matching=True)
    app.config["SERVER_NAME"] = "localhost"
    SockReq(app, SocketIO(app, async_mode="threading"), access_log=False)

    @app.route("/go")
    def go() -> t.Any:
        return redirect("http://api.localhost/landing")

    @app.route("/landing", subdomain="api")
    def api_landing() -> str:
        return f"api landing on {request.host}"

    @app.route("/landing")
    def main_landing() -> str:
        return f"main landing on {request.host}"

    return app


def test_subdomain_redirects_are_refused_by_default():
    app = subdomain_app()
    client = SockReqTestClient(app)
    try:
        with pytest.raises(RuntimeError, match="subdomain redirects is not enabled"):
            client.get("/go", follow_redirects=True)
        assert client.get("/go").status_code == 302
    finally:
        client.disconnect()


def test_a_followed_subdomain_redirect_never_lands_on_another_host():
    # Flask's client lands on the subdomain's route. A socket reaches only
    # the host it is connected to: the test client may refuse (as the
    # protocol refuses a URL of another host), but must not answer from
    # the connection's host as if it were the subdomain.
    app = subdomain_app()
    http = app.test_client(allow_subdomain_redirects=True)
    assert (
        http.get("/go", follow_redirects=True).data == b"api landing on api.localhost"
    )
    client = SockReqTestClient(app, allow_subdomain_redirects=True)
    try:
        with pytest.raises(RuntimeError, match="connected to 'localhost'.*'api.local"):
            client.get("/go", follow_redirects=True)
        with pytest.raises(RuntimeError, match="app.test_client"):
            client.get("/landing", base_url="http://api.localhost")
        # The socket still serves its own host.
        assert client.get("/landing").data == b"main landing on localhost"
    finally:
        client.disconnect()
