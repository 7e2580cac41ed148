"""A user's module: the typed API as an app and its tests use it.

``tests/test_typing.py`` runs ``mypy --strict`` on it, as a user's project
would (with ``--ignore-missing-imports``, as Flask-SocketIO ships no types),
and runs :func:`check` to show that what type checks also works.
"""

from __future__ import annotations

import typing as t

from flask import Flask
from flask.testing import FlaskClient
from flask_socketio import SocketIO
from werkzeug.test import Cookie
from werkzeug.test import TestResponse

import flask_sockreq
from flask_sockreq import current_socket
from flask_sockreq import is_socket
from flask_sockreq import request
from flask_sockreq import Socket
from flask_sockreq import SockReq
from flask_sockreq.testing import SocketTestResponse
from flask_sockreq.testing import SockReqTestClient
from flask_sockreq.testing import test_client

if t.TYPE_CHECKING:
    from typing_extensions import assert_type
else:

    def assert_type(value: object, kind: object) -> object:
        return value


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "not-a-secret"
    app.request_class = flask_sockreq.Request
    SockReq(app, SocketIO(app, async_mode="threading"))

    @app.get("/whoami")
    def whoami() -> dict[str, t.Any]:
        assert_type(request, flask_sockreq.Request)
        assert_type(request.is_socket, bool)
        assert_type(is_socket(), bool)
        if not is_socket():
            return {"socket": False}
        sock = current_socket
        assert_type(sock, Socket)
        sid: str = request.sid
        namespace: str = request.namespace
        sock.data["seen"] = True
        sock.join("watchers")
        return {
            "socket": True,
            "sid": sid == sock.id,
            "namespace": namespace,
            "auth": sock.auth,
            "rooms": sorted(sock.rooms),
            "same": request.socket.id == sock.id,
        }

    return app


def over_both(client: FlaskClient) -> TestResponse:
    """What a suite written for Flask's test client does; the socket client
    is one."""
    return client.get("/whoami")


def check() -> None:
    app = create_app()
    http = app.test_client()
    client = test_client(app, http, auth={"token": "t"})
    assert_type(client, SockReqTestClient)
    response = client.get("/whoami")
    assert_type(response, SocketTestResponse)
    jwr = response.jwr
    assert_type(jwr, dict[str, t.Any])
    body = response.get_json()
    assert body == {
        "socket": True,
        "sid": True,
        "namespace": "/",
        "auth": {"token": "t"},
        "rooms": sorted([client.sid, "watchers"]),
        "same": True,
    }
    assert over_both(http).get_json() == {"socket": False}
    assert over_both(client).status_code == 200
    with client:
        client.post("/whoami")
    with client.session_transaction() as session:
        session["user"] = "ada"
    cookie = client.get_cookie("session")
    assert_type(cookie, Cookie | None)
    assert cookie is not None
    sid: str = client.sid
    assert sid
    client.disconnect()
