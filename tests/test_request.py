"""``request.is_socket``, ``request.socket``, ``request.sid`` in views."""

from __future__ import annotations

import queue
import re
import time

import requests

from tests.helpers import call
from tests.helpers import MessageThreads
from tests.helpers import whoami_over_http

HTTP_DATE = re.compile(r"^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$")
TCP_SOCKET_TYPES = {
    "threading": "socket.socket",
    "eventlet": "eventlet.greenio.base.GreenSocket",
    "gevent": "gevent._socket3.socket",
}


def test_http_request_is_not_a_socket(server, mode):
    body = requests.get(f"{server.url}/whoami", timeout=5).json()
    assert body["is_socket"] is False
    assert body["sid"] is None
    assert body["namespace"] is None
    assert body["socket_type"] == TCP_SOCKET_TYPES[mode]


def test_http_request_socket_is_the_tcp_connection(server):
    local, body = whoami_over_http(server.port)
    assert body["peername"] == local
    assert body["peername"] == [body["remote_addr"], int(body["remote_port"])]


def test_socket_request(sio_client):
    sid = sio_client.get_sid("/")
    body = call(sio_client, "get", "/whoami")["body"]
    assert body["is_socket"] is True
    assert body["sid"] == sid
    assert body["namespace"] == "/"
    assert body["socket_type"] == "flask_sockreq.sockets.Socket"
    assert body["socket"]["id"] == sid
    assert body["socket"]["namespace"] == "/"
    assert sid in body["socket"]["rooms"]


def test_socket_handshake(clients, server):
    before_ms = int(time.time() * 1000)
    client = clients.connect(server, headers={"X-Team": "blue", "User-Agent": "ua/2"})
    handshake = call(client, "get", "/whoami")["body"]["socket"]["handshake"]
    assert set(handshake) >= {
        "headers",
        "address",
        "query",
        "url",
        "secure",
        "xdomain",
        "time",
        "issued",
    }
    headers = handshake["headers"]
    assert all(name == name.lower() for name in headers)
    assert headers["x-team"] == "blue"
    assert headers["user-agent"] == "ua/2"
    assert headers["host"] == server.host
    assert handshake["address"] == "127.0.0.1"
    assert handshake["query"]["EIO"] == ["4"]
    assert handshake["query"]["transport"] == ["websocket"]
    assert handshake["url"].startswith("/socket.io/?")
    assert handshake["secure"] is False
    assert handshake["xdomain"] is False
    assert HTTP_DATE.match(handshake["time"])
    assert before_ms - 1000 <= handshake["issued"] <= int(time.time() * 1000) + 1000


def test_socket_is_the_same_for_every_request(clients, server):
    client = clients.connect(server)
    first = call(client, "get", "/whoami")["body"]["socket"]["handshake"]
    time.sleep(0.01)
    second = call(client, "get", "/whoami")["body"]["socket"]["handshake"]
    assert first["issued"] == second["issued"]


def test_two_connections_have_two_sockets(clients, server):
    one, two = clients.connect(server), clients.connect(server)
    first = call(one, "get", "/whoami")["body"]
    second = call(two, "get", "/whoami")["body"]
    assert first["sid"] == one.get_sid("/")
    assert second["sid"] == two.get_sid("/")
    assert first["sid"] != second["sid"]


def test_socketio_event_handler_before_any_socket_request(clients, server):
    client = clients.connect(server)
    sid = client.get_sid("/")
    probe = client.call("probe", {}, timeout=5)
    assert probe == {
        "is_socket": True,
        "sid": sid,
        "socket_id": sid,
        "socket_namespace": "/",
    }


def test_socketio_event_handler_after_a_socket_request(clients, server):
    client = clients.connect(server)
    sid = client.get_sid("/")
    assert call(client, "get", "/whoami")["statusCode"] == 200
    probe = client.call("probe", {}, timeout=5)
    assert probe["is_socket"] is True
    assert probe["sid"] == probe["socket_id"] == sid


def test_view_emit_reaches_the_client(clients, server):
    client = clients.connect(server)
    received: queue.Queue = queue.Queue()
    client.on("pushed", received.put)
    jwr = call(client, "post", "/push", data={"hello": "world"})
    assert jwr["statusCode"] == 200
    event = received.get(timeout=5)
    assert event == {"via": "flask_socketio.emit", "data": {"hello": "world"}}


def test_view_emit_goes_to_the_requesting_client_only(clients, server):
    client, bystander = clients.connect(server), clients.connect(server)
    threads = MessageThreads(bystander)
    mine: queue.Queue = queue.Queue()
    theirs: queue.Queue = queue.Queue()
    client.on("pushed", mine.put)
    bystander.on("pushed", theirs.put)
    call(client, "post", "/socket-emit")
    assert mine.get(timeout=5) == {"via": "request.socket.emit"}
    # The bystander's own request is the marker: a push sent to it before
    # came before this answer, and was handled once its thread is done.
    call(bystander, "get", "/hello/1")
    threads.settle()
    assert theirs.empty()


def test_join_room_in_a_view(clients, server):
    client = clients.connect(server)
    sid = client.get_sid("/")
    assert call(client, "post", "/join/lobby")["body"] == {"joined": "lobby"}
    rooms = call(client, "get", "/rooms")["body"]["rooms"]
    assert sorted(rooms) == sorted([sid, "lobby"])


def test_socket_join_and_leave(clients, server):
    client = clients.connect(server)
    sid = client.get_sid("/")
    rooms = call(client, "post", "/socket-join/kitchen")["body"]["rooms"]
    assert sorted(rooms) == sorted([sid, "kitchen"])
    rooms = call(client, "get", "/whoami")["body"]["socket"]["rooms"]
    assert "kitchen" in rooms
    rooms = call(client, "post", "/socket-leave/kitchen")["body"]["rooms"]
    assert rooms == [sid]


def test_rooms_are_per_connection(clients, server):
    one, two = clients.connect(server), clients.connect(server)
    call(one, "post", "/join/only-one")
    assert "only-one" not in call(two, "get", "/rooms")["body"]["rooms"]
