"""``SockReq`` setup: init_app, config, factories, several apps."""

from __future__ import annotations

import typing as t

import pytest
from flask import Flask
from flask import Request
from flask import request
from flask_socketio import SocketIO

from flask_sockreq import SocketRequestMixin
from flask_sockreq import SockReq
from flask_sockreq import SockReqState
from flask_sockreq.codec import MessageGuard
from tests.apps import create_app
from tests.helpers import assert_serves
from tests.helpers import call
from tests.helpers import MessageThreads


def make_app(name: str = "plain") -> Flask:
    app = Flask(name)

    @app.route("/name")
    def app_name() -> dict:
        return {"name": name, "is_socket": request.is_socket}  # type: ignore[attr-defined]

    return app


def socket_get(
    sio: SocketIO, app: Flask, url: str, namespace: str | None = None
) -> dict:
    client = sio.test_client(app, namespace=namespace)
    try:
        assert client.is_connected(namespace)
        return client.emit("get", {"url": url}, callback=True, namespace=namespace)
    finally:
        client.disconnect(namespace)


def test_state_lives_in_app_extensions():
    app = make_app()
    sio = SocketIO(app, async_mode="threading")
    sockreq = SockReq(app, sio)
    state = app.extensions["sockreq"]
    assert isinstance(state, SockReqState)
    assert state.extension is sockreq
    assert state.socketio is sio
    assert state.namespace == "/"
    assert state.access_log is None  # follows app.debug
    assert SockReq.socketio_for(app) is sio
    assert not hasattr(sockreq, "app")
    assert app.config["SOCKREQ_NAMESPACE"] == "/"
    assert app.config["SOCKREQ_ACCESS_LOG"] is None


def test_second_init_app_raises():
    app = make_app()
    sio = SocketIO(app, async_mode="threading")
    sockreq = SockReq(app, sio)
    with pytest.raises(RuntimeError, match="already been registered"):
        sockreq.init_app(app, sio)
    with pytest.raises(RuntimeError, match="already been registered"):
        SockReq(app, sio)
    assert app.extensions["sockreq"].extension is sockreq
    assert socket_get(sio, app, "/name")["body"] == {"name": "plain", "is_socket": True}


def test_second_init_app_does_not_register_twice():
    app = make_app()
    sio = SocketIO(app, async_mode="threading")
    SockReq(app, sio)
    before = list(sio.handlers)
    with pytest.raises(RuntimeError):
        SockReq(app, sio)
    assert sio.handlers == before


def test_uses_the_apps_own_socketio():
    app = make_app()
    sio = SocketIO(app, async_mode="threading")
    SockReq(app)
    assert app.extensions["sockreq"].socketio is sio
    assert socket_get(sio, app, "/name")["statusCode"] == 200


def test_sockreq_before_socketio_is_refused_with_what_to_do():
    # The order of many tutorials: SocketIO(app) after SockReq(app) would
    # replace the server SockReq registered its handlers on.
    app = make_app()
    with pytest.raises(RuntimeError, match=r"Create it first, 'socketio = SocketIO"):
        SockReq(app)
    assert "sockreq" not in app.extensions
    sio = SocketIO(app, async_mode="threading")
    SockReq(app)
    assert socket_get(sio, app, "/name")["body"]["name"] == "plain"


def test_app_factory_without_socketio_is_refused():
    sockreq = SockReq()
    app = make_app("factory")
    with pytest.raises(RuntimeError, match=r"sockreq.init_app\(app, socketio\)"):
        sockreq.init_app(app)


@pytest.mark.parametrize("order", ["socketio-first", "sockreq-first"])
def test_app_factory(order):
    sockreq = SockReq()
    sio = SocketIO()
    app = make_app("factory")
    if order == "socketio-first":
        sio.init_app(app, async_mode="threading")
        sockreq.init_app(app, sio)
    else:
        sockreq.init_app(app, sio)
        sio.init_app(app, async_mode="threading")
    jwr = socket_get(sio, app, "/name")
    assert jwr["statusCode"] == 200
    assert jwr["body"] == {"name": "factory", "is_socket": True}


def test_app_factory_without_passing_socketio():
    sockreq = SockReq()
    sio = SocketIO()
    app = make_app("factory")
    sio.init_app(app, async_mode="threading")
    sockreq.init_app(app)
    assert app.extensions["sockreq"].socketio is sio
    assert socket_get(sio, app, "/name")["body"]["name"] == "factory"


def test_one_extension_many_apps():
    sockreq = SockReq()
    apps = []
    for name in ("one", "two"):
        app = make_app(name)
        sio = SocketIO(app, async_mode="threading")
        sockreq.init_app(app, sio)
        apps.append((app, sio))
    for (app, sio), name in zip(apps, ("one", "two"), strict=True):
        assert app.extensions["sockreq"].extension is sockreq
        assert socket_get(sio, app, "/name")["body"]["name"] == name


def test_two_apps_in_one_process_keep_their_state():
    first, second = create_app(), create_app()
    first_sio = first.extensions["socketio"]
    second_sio = second.extensions["socketio"]
    assert first_sio is not second_sio
    client = first_sio.test_client(first)
    other = second_sio.test_client(second)
    try:
        for _ in range(2):
            client.emit("post", {"url": "/counter"}, callback=True)
        assert client.emit("get", {"url": "/counter"}, callback=True)["body"] == {
            "value": 2
        }
        assert other.emit("get", {"url": "/counter"}, callback=True)["body"] == {
            "value": 0
        }
    finally:
        client.disconnect()
        other.disconnect()


def test_constructor_options_are_config_defaults():
    app = make_app()
    sio = SocketIO(app, async_mode="threading")
    SockReq(app, sio, namespace="/ctor", access_log=False)
    assert app.config["SOCKREQ_NAMESPACE"] == "/ctor"
    assert app.config["SOCKREQ_ACCESS_LOG"] is False
    state = app.extensions["sockreq"]
    assert state.namespace == "/ctor"
    assert state.access_log is False


def test_config_wins_over_constructor_options():
    app = make_app()
    app.config["SOCKREQ_NAMESPACE"] = "/cfg"
    app.config["SOCKREQ_ACCESS_LOG"] = False
    sio = SocketIO(app, async_mode="threading")
    SockReq(app, sio, namespace="/ctor", access_log=True)
    state = app.extensions["sockreq"]
    assert state.namespace == "/cfg"
    assert state.access_log is False


def test_config_namespace_in_process():
    app = create_app(config={"SOCKREQ_NAMESPACE": "/api"})
    sio = app.extensions["socketio"]
    assert app.extensions["sockreq"].namespace == "/api"
    jwr = socket_get(sio, app, "/whoami", namespace="/api")
    assert jwr["statusCode"] == 200
    assert jwr["body"]["namespace"] == "/api"
    assert jwr["body"]["socket"]["namespace"] == "/api"
    assert jwr["body"]["sid"] == jwr["body"]["socket"]["id"]


def test_config_namespace_over_a_server(start_server, mode, clients):
    server = start_server(mode, "--namespace", "/api")
    client = clients.connect(server, namespaces=["/", "/api"])
    threads = MessageThreads(client)
    jwr = call(client, "get", "/whoami", namespace="/api")
    assert jwr["statusCode"] == 200
    assert jwr["body"]["namespace"] == "/api"
    assert jwr["body"]["sid"] == client.get_sid("/api")
    assert jwr["body"]["socket"]["namespace"] == "/api"
    assert_serves(client, namespace="/api")
    # Nothing answers request events on the default namespace any more: an
    # event answered on that namespace after it (the app's own "probe") is
    # the marker.
    answers: list[t.Any] = []
    client.emit("get", {"url": "/hello/1"}, callback=lambda *args: answers.append(args))
    assert isinstance(client.call("probe", {}, timeout=5), dict)
    assert_serves(client, namespace="/api")
    threads.settle()
    assert answers == []


def test_request_class_gets_the_mixin():
    class MyRequest(Request):
        marker = "mine"

    app = make_app()
    app.request_class = MyRequest
    SockReq(app, SocketIO(app, async_mode="threading"))
    assert issubclass(app.request_class, SocketRequestMixin)
    assert issubclass(app.request_class, MyRequest)
    assert app.request_class.marker == "mine"


def test_request_class_with_the_mixin_is_kept():
    class MyRequest(SocketRequestMixin, Request):
        pass

    app = make_app()
    app.request_class = MyRequest
    SockReq(app, SocketIO(app, async_mode="threading"))
    assert app.request_class is MyRequest


def test_http_request_through_the_flask_test_client():
    app = make_app()
    SockReq(app, SocketIO(app, async_mode="threading"))

    @app.route("/socket")
    def socket_view() -> dict:
        return {"socket": repr(request.socket)}  # type: ignore[attr-defined]

    client = app.test_client()
    assert client.get("/name").json == {"name": "plain", "is_socket": False}
    # The test client has no TCP connection to show.
    assert client.get("/socket").json == {"socket": "None"}


def test_socketio_events_unrelated_to_sockreq_still_work():
    app = make_app()
    sio = SocketIO(app, async_mode="threading")

    @sio.on("ping")
    def ping(data: dict) -> dict:
        return {"pong": data, "is_socket": request.is_socket}  # type: ignore[attr-defined]

    SockReq(app, sio)
    client = sio.test_client(app)
    try:
        assert client.emit("ping", {"n": 1}, callback=True) == {
            "pong": {"n": 1},
            "is_socket": True,
        }
    finally:
        client.disconnect()


@pytest.mark.parametrize("order", ["socketio-first", "sockreq-first"])
def test_every_server_is_ready_from_its_creation(order):
    # The packet codec and the message guard are on the server before any
    # socket connects, whichever init_app came first, for each app one
    # SocketIO serves.
    sockreq = SockReq()
    sio = SocketIO()
    for name in ("first", "second"):
        app = make_app(name)
        if order == "socketio-first":
            sio.init_app(app, async_mode="threading")
            sockreq.init_app(app, sio)
        else:
            sockreq.init_app(app, sio)
            sio.init_app(app, async_mode="threading")
        server = sio.server
        assert getattr(server.packet_class, "sockreq_tagging", False)
        assert isinstance(server.eio.handlers["message"], MessageGuard)
        assert getattr(server.eio._async["websocket"], "sockreq_websocket", False)
        with sockreq.test_client(app) as client:
            assert client.get("/name").get_json()["name"] == name


def test_the_setup_namespace_refuses_connections():
    app = make_app()
    sio = SocketIO(app, async_mode="threading")
    SockReq(app, sio)
    client = sio.test_client(app, namespace="/__flask_sockreq_setup__")
    assert not client.is_connected("/__flask_sockreq_setup__")
