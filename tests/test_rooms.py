"""Rooms, broadcasts and resource subscriptions in one server process.

Every operation is called from a socket request and from an HTTP request of
the test app's ``/rooms-api`` and ``/pets`` routes, in each server mode.
"""

from __future__ import annotations

import queue
import time
import typing as t
import uuid

import pytest
import requests
import socketio
from flask import Flask
from flask import request
from flask_socketio import SocketIO

import flask_sockreq as sr
from tests.apps import create_app
from tests.helpers import call
from tests.helpers import MessageThreads

EVENT_TIMEOUT = 5.0


class Inbox:
    """Every event a client receives, in arrival order.

    :meth:`drain` first waits for the handlers of every message received so
    far (:class:`~tests.helpers.MessageThreads`), so that "nothing came"
    checks made after a marker need no fixed sleep.
    """

    def __init__(self, client: socketio.Client) -> None:
        self.client = client
        self.events: queue.Queue[tuple[str, t.Any]] = queue.Queue()
        self.seen: list[tuple[str, t.Any]] = []
        self.threads = MessageThreads(client)
        client.on("*", self._receive)

    def _receive(self, event: str, data: t.Any = None) -> None:
        self.events.put((event, data))

    def wait(self, event: str, timeout: float = EVENT_TIMEOUT) -> t.Any:
        """The data of the first ``event`` not yet returned."""
        for index, (name, data) in enumerate(self.seen):
            if name == event:
                del self.seen[index]
                return data
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {event!r} event within {timeout}s")
            try:
                name, data = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            if name == event:
                return data
            self.seen.append((name, data))

    def drain(self) -> list[tuple[str, t.Any]]:
        """Everything received and not yet returned: every message that
        reached the client before this call has been handled."""
        self.threads.settle()
        while True:
            try:
                self.seen.append(self.events.get_nowait())
            except queue.Empty:
                break
        seen, self.seen = self.seen, []
        return seen

    def names(self) -> list[str]:
        return [name for name, _ in self.drain()]


def connect(clients: t.Any, server: t.Any) -> tuple[socketio.Client, Inbox]:
    client = clients.connect(server)
    return client, Inbox(client)


def api(client: socketio.Client, op: str, **body: t.Any) -> dict[str, t.Any]:
    jwr = call(client, "post", f"/rooms-api/{op}", data=body)
    assert jwr["statusCode"] == 200, jwr
    return t.cast(dict, jwr["body"])


def http_api(server: t.Any, op: str, status: int = 200, **body: t.Any) -> t.Any:
    response = requests.post(f"{server.url}/rooms-api/{op}", json=body, timeout=5)
    assert response.status_code == status, response.text
    return response.json()


def marker(client: socketio.Client, inbox: Inbox) -> None:
    """Wait until everything sent to ``client`` before now has arrived."""
    assert call(client, "post", "/socket-emit")["statusCode"] == 200
    inbox.wait("pushed")


def room() -> str:
    return f"room-{uuid.uuid4().hex[:8]}"


# -- the socket's own rooms -------------------------------------------------


def test_join_and_leave_from_a_socket_request(clients, server):
    client, _ = connect(clients, server)
    sid = client.get_sid("/")
    name = room()
    assert api(client, "join", room=name)["rooms"] == sorted([sid, name])
    assert api(client, "leave", room=name)["rooms"] == [sid]


def test_join_and_leave_by_id_from_http(clients, server):
    client, _ = connect(clients, server)
    sid = client.get_sid("/")
    name = room()
    http_api(server, "join", sid=sid, room=name)
    assert name in api(client, "rooms")["rooms"]
    http_api(server, "leave", sid=sid, room=name)
    assert name not in api(client, "rooms")["rooms"]


def test_join_by_id_from_another_socket(clients, server):
    one, _ = connect(clients, server)
    two, _ = connect(clients, server)
    name = room()
    api(one, "join", sid=two.get_sid("/"), room=name)
    assert name in api(two, "rooms")["rooms"]
    assert name not in api(one, "rooms")["rooms"]


def test_socket_only_operations_over_http_raise(server):
    for op in ("join", "leave"):
        body = http_api(server, op, status=409, room="lobby")
        assert body["error"] == "RuntimeError"
        assert "came over HTTP" in body["message"]
    response = requests.get(f"{server.url}/rooms-api/id", timeout=5)
    assert response.status_code == 409
    assert "came over HTTP" in response.json()["message"]


def test_socket_id(clients, server):
    client, _ = connect(clients, server)
    jwr = call(client, "get", "/rooms-api/id")
    assert jwr["body"] == {"id": client.get_sid("/")}


def test_unknown_socket_id_is_ignored(server):
    assert http_api(server, "join", sid="not-a-socket", room="lobby")["ok"]
    assert http_api(server, "leave", sid="not-a-socket", room="lobby")["ok"]


def test_bad_room_names_raise_type_error(clients, server):
    body = http_api(server, "broadcast", status=409, rooms=5, event="news")
    assert body["error"] == "TypeError"
    body = http_api(server, "broadcast", status=409, rooms=[""], event="news")
    assert "non-empty room name" in body["message"]
    client, _ = connect(clients, server)
    jwr = call(client, "post", "/rooms-api/join", data={"room": ""})
    assert jwr["statusCode"] == 409


# -- broadcasts -------------------------------------------------------------


def test_broadcast_from_a_socket_skips_the_sender(clients, server):
    one, inbox_one = connect(clients, server)
    two, inbox_two = connect(clients, server)
    name = room()
    for client in (one, two):
        api(client, "join", room=name)
    api(one, "broadcast", rooms=name, event="news", data={"n": 1}, skip="self")
    assert inbox_two.wait("news") == {"n": 1}
    marker(one, inbox_one)
    assert "news" not in inbox_one.names()


def test_broadcast_from_http_reaches_the_room_only(clients, server):
    inside, inbox_inside = connect(clients, server)
    outside, inbox_outside = connect(clients, server)
    name = room()
    api(inside, "join", room=name)
    # An HTTP request as skip= leaves nobody out.
    http_api(server, "broadcast", rooms=[name], event="news", data=[1, 2], skip="self")
    assert inbox_inside.wait("news") == [1, 2]
    marker(outside, inbox_outside)
    assert "news" not in inbox_outside.names()


def test_broadcast_skip_by_id(clients, server):
    one, inbox_one = connect(clients, server)
    two, inbox_two = connect(clients, server)
    name = room()
    for client in (one, two):
        api(client, "join", room=name)
    http_api(server, "broadcast", rooms=name, event="news", skip=one.get_sid("/"))
    assert inbox_two.wait("news") is None
    marker(one, inbox_one)
    assert "news" not in inbox_one.names()


def test_broadcast_to_several_rooms_arrives_once(clients, server):
    client, inbox = connect(clients, server)
    first, second = room(), room()
    api(client, "join", room=first)
    api(client, "join", room=second)
    http_api(server, "broadcast", rooms=[first, second], event="news", data="x")
    assert inbox.wait("news") == "x"
    marker(client, inbox)
    assert "news" not in inbox.names()


def test_extension_method_broadcast(clients, server):
    client, inbox = connect(clients, server)
    name = room()
    api(client, "join", room=name)
    http_api(server, "extension-broadcast", rooms=name, event="news", data="ext")
    assert inbox.wait("news") == "ext"


def test_blast(clients, server):
    one, inbox_one = connect(clients, server)
    two, inbox_two = connect(clients, server)
    api(one, "blast", event="everyone", data={"hi": True}, skip="self")
    assert inbox_two.wait("everyone") == {"hi": True}
    marker(one, inbox_one)
    assert "everyone" not in inbox_one.names()
    http_api(server, "blast", event="everyone", data=2)
    assert inbox_one.wait("everyone") == 2
    assert inbox_two.wait("everyone") == 2


# -- room-to-room operations ------------------------------------------------


def test_add_and_remove_room_members(clients, server):
    one, _ = connect(clients, server)
    two, _ = connect(clients, server)
    other, _ = connect(clients, server)
    src, first, second = room(), room(), room()
    for client in (one, two):
        api(client, "join", room=src)
    http_api(server, "add", src=src, dests=[first, second])
    for client in (one, two):
        assert {src, first, second} <= set(api(client, "rooms")["rooms"])
    assert first not in api(other, "rooms")["rooms"]
    api(other, "remove", src=src, dests=first)
    for client in (one, two):
        rooms = set(api(client, "rooms")["rooms"])
        assert second in rooms
        assert first not in rooms


def test_add_members_of_a_socket_room(clients, server):
    client, _ = connect(clients, server)
    name = room()
    http_api(server, "add", src=client.get_sid("/"), dests=name)
    assert name in api(client, "rooms")["rooms"]


def test_leave_all(clients, server):
    one, inbox_one = connect(clients, server)
    two, _ = connect(clients, server)
    name = room()
    for client in (one, two):
        api(client, "join", room=name)
    api(two, "leave-all", room=name)
    for client in (one, two):
        assert name not in api(client, "rooms")["rooms"]
    http_api(server, "broadcast", rooms=name, event="news")
    marker(one, inbox_one)
    assert "news" not in inbox_one.names()


# -- resource subscriptions -------------------------------------------------


def test_subscribe_is_a_no_op_over_http(server):
    body = requests.get(f"{server.url}/pets", timeout=5).json()
    assert body["subscribed"] is False
    assert body["rooms"] is None


def test_subscribe_and_watch_join_the_documented_rooms(clients, server):
    client, _ = connect(clients, server)
    body = call(client, "get", "/pets")["body"]
    assert body["subscribed"] is True
    assert {"pet#1", "pet#2", "pet:watch"} <= set(body["rooms"])
    rooms = call(client, "delete", "/pets/subscriptions/1")["body"]["rooms"]
    assert "pet#1" not in rooms
    assert "pet:watch" not in rooms
    assert "pet#2" in rooms


def test_publish_created_updated_destroyed(clients, server):
    watcher, inbox = connect(clients, server)
    creator, creator_inbox = connect(clients, server)
    call(watcher, "get", "/pets")
    call(creator, "get", "/pets")
    jwr = call(creator, "post", "/pets", data={"name": "Kit"})
    assert jwr["statusCode"] == 201
    pet = jwr["body"]["pet"]
    created = {"verb": "created", "id": pet["id"], "data": pet}
    assert jwr["body"]["sent"] == created
    assert inbox.wait("pet") == created
    # Watchers are subscribed to the new record, the creator included.
    record = f"pet#{pet['id']}"
    assert record in call(watcher, "get", "/rooms-api/rooms")["body"]["rooms"]
    assert record in call(creator, "get", "/rooms-api/rooms")["body"]["rooms"]
    marker(creator, creator_inbox)
    assert "pet" not in creator_inbox.names()  # skip=request

    # Over HTTP, skip=request skips nobody: both hear the update.
    response = requests.patch(
        f"{server.url}/pets/{pet['id']}", json={"name": "Kat"}, timeout=5
    )
    updated = {"verb": "updated", "id": pet["id"], "data": {"name": "Kat"}}
    assert response.json()["sent"] == updated
    assert inbox.wait("pet") == updated
    assert creator_inbox.wait("pet") == updated

    response = requests.delete(f"{server.url}/pets/{pet['id']}", timeout=5)
    destroyed = {
        "verb": "destroyed",
        "id": pet["id"],
        "data": {"id": pet["id"], "name": "Kat"},
    }
    assert inbox.wait("pet") == destroyed
    assert record not in call(watcher, "get", "/rooms-api/rooms")["body"]["rooms"]


def test_publish_updated_reaches_subscribers_only(clients, server):
    subscriber, inbox = connect(clients, server)
    bystander, bystander_inbox = connect(clients, server)
    assert call(subscriber, "get", "/pets/2")["statusCode"] == 200
    jwr = call(bystander, "patch", "/pets/2", data={"age": 3})
    assert jwr["statusCode"] == 200
    assert inbox.wait("pet") == {"verb": "updated", "id": 2, "data": {"age": 3}}
    marker(bystander, bystander_inbox)
    assert "pet" not in bystander_inbox.names()


def test_publish_sends_data_as_is(clients, server):
    subscriber, inbox = connect(clients, server)
    call(subscriber, "get", "/pets/7")
    response = requests.post(f"{server.url}/pets/7/publish", json={"raw": 1}, timeout=5)
    assert response.status_code == 200
    assert inbox.wait("pet") == {"raw": 1}


# -- in-process: outside a request, errors, argument forms -----------------


@pytest.fixture
def app() -> Flask:
    return create_app("threading")


def sid_of(app: Flask, client: t.Any) -> str:
    manager = app.extensions["socketio"].server.manager
    return t.cast(str, manager.sid_from_eio_sid(client.eio_sid, "/"))


def test_outside_a_request_with_an_app_context(app):
    socketio = app.extensions["socketio"]
    client = socketio.test_client(app)
    sid = sid_of(app, client)
    with app.app_context():
        sr.join(sid, "ops")
        sr.broadcast("ops", "news", {"from": "a job"})
        sr.blast("all", 1)
        sr.add_room_members_to_rooms("ops", ["ops2"])
        sr.broadcast(["ops2"], "news", 2)
        sr.remove_room_members_from_rooms("ops", "ops2")
        sr.broadcast(["ops2"], "news", 3)
        sr.leave("not-connected", "ops")
        sr.leave_all("ops")
        sr.broadcast("ops", "news", 4)
        sr.publish_updated("pet", {"id": 9}, {"x": 1})
    received = [(item["name"], item["args"]) for item in client.get_received()]
    assert received == [
        ("news", [{"from": "a job"}]),
        ("all", [1]),
        ("news", [2]),
    ]
    client.disconnect()


def test_namespace_argument_of_every_operation(app):
    socketio = app.extensions["socketio"]
    server = socketio.server
    main = socketio.test_client(app)
    secure = socketio.test_client(app, namespace="/secure", auth={"token": "let-me-in"})
    main_sid = sid_of(app, main)
    secure_sid = server.manager.sid_from_eio_sid(secure.eio_sid, "/secure")
    with app.app_context():
        sr.join(secure_sid, "ops", namespace="/secure")
        assert "ops" in server.rooms(secure_sid, namespace="/secure")
        sr.broadcast("ops", "news", 1, namespace="/secure")
        sr.broadcast("ops", "news", "not on /", skip=None)
        sr.add_room_members_to_rooms("ops", ["ops2"], namespace="/secure")
        assert "ops2" in server.rooms(secure_sid, namespace="/secure")
        sr.broadcast(["ops2"], "news", 2, namespace="/secure")
        sr.remove_room_members_from_rooms("ops", "ops2", namespace="/secure")
        assert "ops2" not in server.rooms(secure_sid, namespace="/secure")
        sr.broadcast("ops2", "news", "removed", namespace="/secure")
        sr.blast("all", 3, namespace="/secure")
        sr.leave(secure_sid, "ops", namespace="/secure")
        assert "ops" not in server.rooms(secure_sid, namespace="/secure")
        sr.broadcast("ops", "news", "left", namespace="/secure")
        sr.join(secure_sid, "ops3", namespace="/secure")
        sr.leave_all("ops3", namespace="/secure")
        assert "ops3" not in server.rooms(secure_sid, namespace="/secure")
        sr.broadcast("ops3", "news", "closed", namespace="/secure")
        # A Socket's own namespace is the default for it.
        socket = sr.Socket(server, secure_sid, "/secure", {})
        sr.join(socket, "by-socket")
        assert "by-socket" in server.rooms(secure_sid, namespace="/secure")
        sr.broadcast("by-socket", "news", 4, namespace="/secure")
        # The sid of "/" names no socket on "/secure": nothing happens.
        sr.join(main_sid, "ops", namespace="/secure")
        sr.broadcast("ops", "news", 5, namespace="/secure")
        assert "ops" not in server.rooms(main_sid, namespace="/")
    got = [(item["name"], item["args"]) for item in secure.get_received("/secure")]
    assert got == [("news", [1]), ("news", [2]), ("all", [3]), ("news", [4])]
    assert main.get_received() == []
    main.disconnect()
    secure.disconnect(namespace="/secure")


def test_publish_created_data(app):
    socketio = app.extensions["socketio"]
    watcher = socketio.test_client(app)
    sid = sid_of(app, watcher)
    with app.app_context():
        assert sr.watch(sid, "pet") is True
        record = {"id": 5, "name": "Rex", "secret": "x"}
        sent = sr.publish_created("pet", record, {"name": "Rex"})
        assert sent == {"verb": "created", "id": 5, "data": {"name": "Rex"}}
        assert sr.publish_created("pet", 6) == {
            "verb": "created",
            "id": 6,
            "data": None,
        }
        sent = sr.publish_created("pet", {"id": 7, "n": 1})
        assert sent == {"verb": "created", "id": 7, "data": {"id": 7, "n": 1}}
        assert sent["data"] is not None
        rooms = set(socketio.server.rooms(sid, namespace="/"))
    assert {"pet#5", "pet#6", "pet#7", "pet:watch"} <= rooms
    assert [item["args"][0] for item in watcher.get_received()] == [
        {"verb": "created", "id": 5, "data": {"name": "Rex"}},
        {"verb": "created", "id": 6, "data": None},
        {"verb": "created", "id": 7, "data": {"id": 7, "n": 1}},
    ]
    watcher.disconnect()


def test_skip_forms(app):
    socketio = app.extensions["socketio"]
    one = socketio.test_client(app)
    two = socketio.test_client(app)
    one_sid = sid_of(app, one)
    socket = sr.Socket(socketio.server, one_sid, "/", {})
    with app.app_context():
        for skip in (one_sid, socket, [socket, sid_of(app, two)], [], None):
            sr.blast("news", repr(skip), skip=skip)
        with app.test_request_context("/"):
            sr.blast("news", "http", skip=request)
            with pytest.raises(TypeError, match="'skip' must be"):
                sr.blast("news", skip=5)
    got_one = [item["args"][0] for item in one.get_received()]
    got_two = [item["args"][0] for item in two.get_received()]
    assert got_one == ["[]", "None", "http"]
    assert got_two == [repr(one_sid), repr(socket), "[]", "None", "http"]
    one.disconnect()
    two.disconnect()


def test_rooms_mixin_methods_are_the_functions(app):
    sockreq = app.extensions["sockreq"].extension
    assert sockreq.broadcast is sr.broadcast
    assert sockreq.add_room_members_to_rooms is sr.add_room_members_to_rooms


def test_errors_outside_an_app_context_and_without_sockreq():
    with pytest.raises(RuntimeError, match="application context"):
        sr.blast("news")
    bare = Flask(__name__)
    SocketIO(bare, async_mode="threading")
    with bare.app_context(), pytest.raises(RuntimeError, match="not set up"):
        sr.blast("news")


def test_http_request_has_no_socket(app):
    with app.test_request_context("/"):
        assert sr.subscribe(request, "pet", [1]) is False
        assert sr.watch(request, "pet") is False
        assert sr.unwatch(request, "pet") is False
        assert sr.unsubscribe(request, "pet", 1) is False
        with pytest.raises(RuntimeError, match="came over HTTP"):
            sr.socket_id(request)
        with pytest.raises(RuntimeError, match="came over HTTP"):
            sr.join(request, "room")
        with pytest.raises(TypeError, match="socket id, a Socket or a request"):
            sr.join(5, "room")  # type: ignore[arg-type]


def test_record_ids_and_rooms():
    assert sr.record_room("pet", 5) == "pet#5"
    assert sr.record_room("pet", "5") == "pet#5"
    assert sr.record_room("pet", {"id": 5, "name": "Rex"}) == "pet#5"

    class Pet:
        id = 6

    assert sr.record_room("pet", Pet()) == "pet#6"
    assert sr.watch_room("pet") == "pet:watch"
    with pytest.raises(ValueError, match="'id' key"):
        sr.record_room("pet", {"name": "Rex"})
    with pytest.raises(TypeError, match="resource name"):
        sr.watch_room("")
