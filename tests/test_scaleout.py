"""Scale-out: two server processes sharing a message queue.

Each test module run starts its own ``redis-server`` on a free port of
127.0.0.1 (no persistence), two servers of the test app per mode on that
queue, and clients on each; the same tests run again through the RabbitMQ
broker of 127.0.0.1:5672 (Kombu). The Redis restart test starts a Redis of its
own, stops it by PID and starts it again on the same port.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import typing as t
import uuid

import pytest
import requests

from flask_sockreq import bus
from tests.helpers import call
from tests.helpers import Clients
from tests.helpers import free_port
from tests.helpers import require
from tests.helpers import ServerProcess
from tests.helpers import stop_process
from tests.helpers import wait_until
from tests.test_rooms import Inbox
from tests.test_rooms import marker

REDIS_START_TIMEOUT = 10.0
PROPAGATION_TIMEOUT = 5.0
#: python-socketio's Redis listener retries after 1, 2, 4, 8... seconds.
RECOVERY_TIMEOUT = 30.0


class RedisServer:
    """``redis-server`` on 127.0.0.1 and a port of its own, no persistence."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not wait_until(self.ping, REDIS_START_TIMEOUT, 0.05):
            self.stop()
            raise RuntimeError(f"redis-server did not start on port {self.port}.")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None


def _require_redis() -> None:
    require(shutil.which("redis-server"), "redis-server is not installed.")
    try:
        import redis  # noqa: F401
    except ImportError:
        require(False, "The 'redis' package is not installed (pip install redis).")


@pytest.fixture(scope="module")
def redis_server() -> t.Iterator[RedisServer]:
    _require_redis()
    server = RedisServer()
    server.start()
    yield server
    server.stop()


def start_pair(mode: str, url: str) -> tuple[ServerProcess, ServerProcess]:
    channel = f"sockreq-test-{uuid.uuid4().hex[:8]}"
    options = ("--message-queue", url, "--channel", channel, "--no-access-log")
    servers = (ServerProcess(mode, *options), ServerProcess(mode, *options))
    try:
        for server in servers:
            server.wait_ready()
    except Exception:
        for server in servers:
            server.stop()
        raise
    return servers


AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"


def _require_rabbitmq() -> None:
    try:
        import kombu  # noqa: F401
    except ImportError:
        require(False, "The 'kombu' package is not installed (pip install kombu).")
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=1).close()
    except OSError:
        require(False, "No RabbitMQ broker answers on 127.0.0.1:5672.")


@pytest.fixture(scope="module", params=["redis", "amqp"])
def queue(request: pytest.FixtureRequest) -> str:
    """The message queue URL: our own Redis, or the local RabbitMQ."""
    if request.param == "amqp":
        _require_rabbitmq()
        return AMQP_URL
    return t.cast(RedisServer, request.getfixturevalue("redis_server")).url


def wait_for_queue(servers: tuple[ServerProcess, ServerProcess]) -> None:
    """Wait until each server hears the other through the queue.

    python-socketio starts listening to the queue when a process gets its
    first client, and a broker drops what is published before a listener's
    queue exists: a fresh pair is not ready before a probe gets through.
    """
    probes = Clients()
    try:
        for listener, sender in (servers, servers[::-1]):
            client = probes.connect(listener)
            probe = _Probe(sender, client.get_sid("/"), Inbox(client))
            assert wait_until(probe.delivered, PROPAGATION_TIMEOUT), "no queue"
    finally:
        probes.close()


class _Probe:
    def __init__(self, sender: ServerProcess, sid: str, inbox: Inbox) -> None:
        self.sender, self.sid, self.inbox = sender, sid, inbox

    def delivered(self) -> bool:
        post(self.sender, "/rooms-api/broadcast", rooms=self.sid, event="probe")
        try:
            self.inbox.wait("probe", timeout=0.2)
        except AssertionError:
            return False
        return True


@pytest.fixture(scope="module")
def pair(mode: str, queue: str) -> t.Iterator[tuple[ServerProcess, ServerProcess]]:
    servers = start_pair(mode, queue)
    try:
        wait_for_queue(servers)
    except Exception:
        for server in servers:
            server.stop()
        raise
    yield servers
    for server in servers:
        server.stop()


def rooms_of(client: t.Any) -> set[str]:
    return set(call(client, "get", "/rooms-api/rooms")["body"]["rooms"])


def post(server: ServerProcess, path: str, **body: t.Any) -> t.Any:
    response = requests.post(f"{server.url}{path}", json=body, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def room() -> str:
    return f"room-{uuid.uuid4().hex[:8]}"


def joined(clients: t.Any, server: ServerProcess, *names: str) -> tuple[t.Any, Inbox]:
    client = clients.connect(server)
    inbox = Inbox(client)
    for name in names:
        call(client, "post", "/rooms-api/join", data={"room": name})
    return client, inbox


# -- delivery across processes ----------------------------------------------


def test_broadcast_reaches_both_processes_both_ways(clients, pair):
    a, b = pair
    name = room()
    on_a, inbox_a = joined(clients, a, name)
    on_b, inbox_b = joined(clients, b, name)
    post(a, "/rooms-api/broadcast", rooms=name, event="news", data="from A")
    assert inbox_b.wait("news") == "from A"
    assert inbox_a.wait("news") == "from A"
    post(b, "/rooms-api/broadcast", rooms=name, event="news", data="from B")
    assert inbox_a.wait("news") == "from B"
    assert inbox_b.wait("news") == "from B"


def test_socket_broadcast_skips_the_sender_across_processes(clients, pair):
    a, b = pair
    name = room()
    on_a, inbox_a = joined(clients, a, name)
    on_b, inbox_b = joined(clients, b, name)
    jwr = call(
        on_b,
        "post",
        "/rooms-api/broadcast",
        data={"rooms": name, "event": "news", "data": 1, "skip": "self"},
    )
    assert jwr["statusCode"] == 200
    assert inbox_a.wait("news") == 1
    marker(on_b, inbox_b)
    assert "news" not in inbox_b.names()


def test_blast_and_skip_by_id_across_processes(clients, pair):
    a, b = pair
    on_a, inbox_a = joined(clients, a)
    on_b, inbox_b = joined(clients, b)
    post(a, "/rooms-api/blast", event="all", data="x", skip=on_b.get_sid("/"))
    assert inbox_a.wait("all") == "x"
    post(b, "/rooms-api/broadcast", rooms=on_b.get_sid("/"), event="mark")
    inbox_b.wait("mark")
    assert "all" not in inbox_b.names()


def test_join_and_leave_by_id_across_processes(clients, pair):
    a, b = pair
    on_a, inbox_a = joined(clients, a)
    name = room()
    post(b, "/rooms-api/join", sid=on_a.get_sid("/"), room=name)
    assert wait_until(lambda: name in rooms_of(on_a), PROPAGATION_TIMEOUT)
    post(b, "/rooms-api/broadcast", rooms=name, event="news", data="joined")
    assert inbox_a.wait("news") == "joined"
    post(b, "/rooms-api/leave", sid=on_a.get_sid("/"), room=name)
    assert wait_until(lambda: name not in rooms_of(on_a), PROPAGATION_TIMEOUT)


def test_room_to_room_operations_across_processes(clients, pair):
    a, b = pair
    src, first, second = room(), room(), room()
    on_a, inbox_a = joined(clients, a, src)
    on_b, inbox_b = joined(clients, b, src)
    outsider, _ = joined(clients, a)

    post(b, "/rooms-api/add", src=src, dests=[first, second])
    for client in (on_a, on_b):
        assert wait_until(
            lambda c=client: {first, second} <= rooms_of(c), PROPAGATION_TIMEOUT
        )
    assert first not in rooms_of(outsider)
    post(a, "/rooms-api/broadcast", rooms=second, event="news", data=2)
    assert inbox_a.wait("news") == 2
    assert inbox_b.wait("news") == 2

    post(a, "/rooms-api/remove", src=src, dests=[first])
    for client in (on_a, on_b):
        assert wait_until(
            lambda c=client: first not in rooms_of(c), PROPAGATION_TIMEOUT
        )
        assert second in rooms_of(client)

    post(a, "/rooms-api/leave-all", room=second)
    for client in (on_a, on_b):
        assert wait_until(
            lambda c=client: second not in rooms_of(c), PROPAGATION_TIMEOUT
        )


def test_resource_notifications_across_processes(clients, pair):
    a, b = pair
    watcher = clients.connect(a)
    inbox = Inbox(watcher)
    call(watcher, "get", "/pets")
    creator = clients.connect(b)
    jwr = call(creator, "post", "/pets", data={"name": "Kit"})
    pet = jwr["body"]["pet"]
    assert inbox.wait("pet") == {"verb": "created", "id": pet["id"], "data": pet}
    # The watcher on A was subscribed to the new record by B, over the bus.
    record = f"pet#{pet['id']}"
    assert wait_until(lambda: record in rooms_of(watcher), PROPAGATION_TIMEOUT)
    requests.patch(f"{b.url}/pets/{pet['id']}", json={"age": 1}, timeout=5)
    assert inbox.wait("pet") == {"verb": "updated", "id": pet["id"], "data": {"age": 1}}


MALFORMED = (
    b"\xff not utf-8",
    b"not json",
    b"[]",
    json.dumps({"v": 1, "op": "drop", "namespace": "/"}).encode(),
    json.dumps(
        {"v": 1, "op": "add", "namespace": "/", "src": "x", "dests": [1], "host": "h"}
    ).encode(),
)


def inject(queue: str, channel: str, messages: t.Iterable[bytes]) -> None:
    """Publish raw messages on a bus channel, as a hostile process would."""
    if queue.startswith("redis://"):
        import redis

        connection = redis.Redis.from_url(queue)
        try:
            for raw in messages:
                connection.publish(channel, raw)
        finally:
            connection.close()
        return
    import kombu

    with kombu.Connection(queue) as connection:
        exchange = kombu.Exchange(channel, type="fanout", durable=False)
        producer = connection.Producer(exchange=exchange)
        for raw in messages:
            producer.publish(raw)


def test_malformed_bus_messages_are_ignored(clients, pair, queue):
    a, b = pair
    on_a, _ = joined(clients, a)
    channel = (
        next(option for option in a.options if option.startswith("sockreq-test-"))
        + bus.CHANNEL_SUFFIX
    )
    inject(queue, channel, MALFORMED)
    assert a.wait_for_log("Ignored a malformed room bus message")
    # Still serving, and the bus still applies valid operations.
    name = room()
    post(b, "/rooms-api/add", src=on_a.get_sid("/"), dests=name)
    assert wait_until(lambda: name in rooms_of(on_a), PROPAGATION_TIMEOUT)


# -- Redis goes away and comes back -----------------------------------------


def test_redis_stop_and_restart(clients, mode):
    _require_redis()
    redis_server = RedisServer()
    redis_server.start()
    try:
        a, b = start_pair(mode, redis_server.url)
    except Exception:
        redis_server.stop()
        raise
    try:
        name = room()
        on_a, inbox_a = joined(clients, a, name)
        post(b, "/rooms-api/broadcast", rooms=name, event="news", data="before")
        assert inbox_a.wait("news") == "before"

        redis_server.stop()
        # Routes that broadcast keep answering; the failure is logged.
        post(b, "/rooms-api/broadcast", rooms=name, event="news", data="lost")
        post(b, "/rooms-api/add", src=name, dests="lost-room")
        assert b.wait_for_log("Cannot publish to redis")
        assert a.wait_for_log("Cannot receive from redis", RECOVERY_TIMEOUT)
        assert a.wait_for_log("Room bus channel", RECOVERY_TIMEOUT)
        assert requests.get(f"{a.url}/health", timeout=5).text == "ok"
        assert a.process.poll() is None and b.process.poll() is None

        redis_server.start()
        counter = iter(range(1000))

        def delivered() -> bool:
            tag = f"after-{next(counter)}"
            post(b, "/rooms-api/broadcast", rooms=name, event="news", data=tag)
            try:
                while True:
                    if inbox_a.wait("news", timeout=0.5) == tag:
                        return True
            except AssertionError:
                return False

        assert wait_until(delivered, RECOVERY_TIMEOUT, 0.1)

        target = room()

        def bus_applied() -> bool:
            post(b, "/rooms-api/add", src=name, dests=target)
            return target in rooms_of(on_a)

        assert wait_until(bus_applied, RECOVERY_TIMEOUT, 0.5)
    finally:
        for server in (a, b):
            server.stop()
        redis_server.stop()


# -- the bus without servers -------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff",
        "nope",
        "5",
        {"v": 2, "op": "add", "namespace": "/", "src": "a", "dests": [], "host": "h"},
        {"v": 1, "op": "add", "namespace": 1, "src": "a", "dests": [], "host": "h"},
        {"v": 1, "op": "add", "namespace": "/", "src": "a", "dests": "b", "host": "h"},
        {"v": 1, "op": "add", "namespace": "/", "src": "a", "dests": ["b"]},
    ],
)
def test_decode_refuses_malformed_messages(raw):
    if isinstance(raw, dict):
        raw = json.dumps(raw)
    assert bus.decode(raw) is None


def test_decode_accepts_a_valid_message():
    message = {
        "v": 1,
        "op": "remove",
        "namespace": "/",
        "src": "a",
        "dests": ["b"],
        "host": "h",
    }
    assert bus.decode(json.dumps(message).encode()) == message
    assert bus.decode(message) == message


def test_no_bus_without_a_message_queue():
    from tests.apps import create_app

    app = create_app("threading")
    assert bus.bus_for(app.extensions["socketio"].server) is None
    assert bus.bus_for(None) is None


def test_require_fails_when_all_are_required(monkeypatch):
    monkeypatch.setenv("SOCKREQ_TEST_REQUIRE_ALL", "1")
    with pytest.raises(pytest.fail.Exception, match="forbids skipping"):
        require(False, "a service is missing")
    monkeypatch.setenv("SOCKREQ_TEST_REQUIRE_ALL", "0")
    with pytest.raises(pytest.skip.Exception, match="a service is missing"):
        require(False, "a service is missing")
    require(True, "never shown")
