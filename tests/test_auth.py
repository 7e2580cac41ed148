"""Authenticating a socket once, at connect: the ``auth`` data the client
sends when it connects is ``request.socket.auth``, a connect handler may
refuse the connection, and what it establishes (``request.socket.data``)
serves every request of the socket."""

from __future__ import annotations

import pytest
import socketio

from tests.apps import create_app
from tests.helpers import call
from tests.helpers import CALL_TIMEOUT
from tests.helpers import SocketIOClient

NAMESPACE = "/secure"


@pytest.fixture(scope="module")
def secure_ns_server(start_server, mode):
    return start_server(mode, "--namespace", NAMESPACE)


def connect(server, auth):
    client = SocketIOClient(reconnection=False)
    client.connect(
        server.url,
        transports=["websocket"],
        namespaces=[NAMESPACE],
        auth=auth,
        wait_timeout=5,
    )
    return client


def test_a_socket_authenticated_at_connect(secure_ns_server):
    client = connect(secure_ns_server, {"token": "let-me-in"})
    try:
        for _ in range(2):
            jwr = call(client, "get", "/me", namespace=NAMESPACE)
            assert jwr["body"] == {
                "user": "ada",
                "auth": {"token": "let-me-in"},
                # The connect handler saw the auth data as request.socket.auth.
                "seen_auth": {"token": "let-me-in"},
            }
    finally:
        client.disconnect()


@pytest.mark.parametrize("auth", [None, {"token": "wrong"}, {"other": 1}])
def test_a_connect_handler_refuses_a_socket(secure_ns_server, auth):
    client = SocketIOClient(reconnection=False)
    refusals = []
    client.on("connect_error", refusals.append, namespace=NAMESPACE)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(
            secure_ns_server.url,
            transports=["websocket"],
            namespaces=[NAMESPACE],
            auth=auth,
            wait_timeout=5,
        )
    assert refusals == [{"message": "A valid token is needed."}]
    # The server goes on serving authenticated sockets.
    good = connect(secure_ns_server, {"token": "let-me-in"})
    try:
        assert call(good, "get", "/me", namespace=NAMESPACE)["body"]["user"] == "ada"
    finally:
        good.disconnect()


def test_socket_data_is_per_connection(secure_ns_server):
    first = connect(secure_ns_server, {"token": "let-me-in"})
    second = connect(secure_ns_server, {"token": "let-me-in"})
    try:
        first.call(
            "post",
            {"url": "/echo", "data": {}},
            namespace=NAMESPACE,
            timeout=CALL_TIMEOUT,
        )
        assert call(first, "get", "/me", namespace=NAMESPACE)["body"]["user"] == "ada"
        assert call(second, "get", "/me", namespace=NAMESPACE)["body"]["user"] == "ada"
    finally:
        first.disconnect()
        second.disconnect()


def test_auth_in_the_test_client():
    app = create_app(config={"SOCKREQ_NAMESPACE": NAMESPACE})
    sockreq = app.extensions["sockreq"].extension
    with sockreq.test_client(app, auth={"token": "let-me-in"}) as client:
        body = client.get("/me").get_json()
    assert body["user"] == "ada"
    assert body["auth"] == {"token": "let-me-in"}
    with pytest.raises(RuntimeError, match="refused"):
        sockreq.test_client(app, auth={"token": "wrong"})
