"""The Python client, ``flask_sockreq.client.Client``, against real servers."""

from __future__ import annotations

import asyncio
import io
import threading
import typing as t

import pytest

from flask_sockreq.client import Client
from flask_sockreq.client import ClientResponse
from flask_sockreq.client import TransportError
from tests.apps import ECHO_ALLOW
from tests.apps import PNG_PATH
from tests.helpers import free_port
from tests.helpers import ServerProcess

with open(PNG_PATH, "rb") as _file:
    PNG = _file.read()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> t.Iterator[Client]:
    with Client(server.url, headers={"Cookie": "theme=dark"}, timeout=5) as client:
        yield client


def test_get_with_query(client: Client) -> None:
    response = client.get("/hello/3", query_string={"x": [1, 2]})
    assert isinstance(response, ClientResponse)
    assert response.status_code == 200
    assert response.get_json() == {"n": 3, "args": {"x": ["1", "2"]}}
    assert response.json == response.get_json()
    assert response.headers["Content-Type"] == "application/json"
    assert response.jwr["statusCode"] == 200


def test_bodies(client: Client) -> None:
    assert client.post("/echo", json={"a": [1]}).json["json"] == {"a": [1]}
    assert client.put("/echo", data={"f": "1"}).json["form"] == {"f": ["1"]}
    multipart = client.patch(
        "/echo", data={"f": (io.BytesIO(b"x"), "x.txt"), "g": "2"}
    ).json
    assert multipart["form"] == {"g": ["2"]}
    assert multipart["method"] == "PATCH"
    raw = client.delete("/echo", data=b"\x01", content_type="application/x-raw")
    assert raw.json["body_hex"] == "01"


def test_text_binary_head(client: Client) -> None:
    assert client.get("/text").text == "Caf\u00e9 au lait"
    binary = client.get("/binary")
    assert binary.data == PNG
    assert binary.headers["Content-Type"] == "image/png"
    assert binary.headers["Content-Length"] == str(len(PNG))
    head = client.head("/text")
    assert head.data == b""
    assert head.headers["Content-Length"] == str(len("Caf\u00e9 au lait".encode()))
    options = client.options("/echo")
    assert options.status_code == 200
    assert options.data == b""
    assert sorted(options.headers["Allow"].split(", ")) == ECHO_ALLOW


def test_errors_are_responses(client: Client) -> None:
    assert client.get("/nowhere").status_code == 404
    assert client.get("/teapot").json == {
        "error": "teapot",
        "message": "short and stout",
    }
    assert client.get("/socket.io/x").json["error"] == "invalid_url"


def test_headers_and_cookies(client: Client) -> None:
    client.request_headers["X-Default"] = "d"
    try:
        headers = client.get("/headers", headers={"X-Custom": "c"}).json
    finally:
        client.request_headers.clear()
    assert headers["X-Default"] == "d"
    assert headers["X-Custom"] == "c"
    assert client.get("/cookies").json == {"theme": "dark"}


def test_request_headers_option(server: ServerProcess) -> None:
    with Client(
        server.url,
        timeout=5,
        request_headers={"X-Team": "blue", "X-Both": "client"},
    ) as client:
        headers = client.get("/headers", headers={"X-Both": "request"}).json
        assert headers["X-Team"] == "blue"
        assert headers["X-Both"] == "request"  # the request's own wins
        assert client.get("/headers").json["X-Both"] == "client"


def test_connect_option(server: ServerProcess) -> None:
    client = Client(server.url, timeout=5, connect=False)
    try:
        assert client.connected is False
        assert client.sid is None
        client.connect()
        assert client.connected is True
        assert client.get("/whoami").json["sid"] == client.sid
    finally:
        client.close()


def test_socketio_path_option(server: ServerProcess) -> None:
    with Client(server.url, timeout=5, socketio_path="/socket.io/") as client:
        assert client.get("/hello/2").json == {"n": 2, "args": {}}
    with pytest.raises(TransportError) as info:
        Client(server.url, timeout=2, socketio_path="elsewhere")
    assert info.value.code == "not_connected"


def test_namespace_option(
    start_server: t.Callable[..., ServerProcess], mode: str
) -> None:
    api = start_server(mode, "--namespace", "/api")
    with Client(api.url, timeout=5, namespace="/api") as client:
        info = client.get("/whoami").json
        assert info["namespace"] == "/api"
        assert info["sid"] == client.sid
        assert client.hello is not None


def test_async_client_options(
    server: ServerProcess, start_server: t.Callable[..., ServerProcess], mode: str
) -> None:
    from flask_sockreq.client import AsyncClient

    api = start_server(mode, "--namespace", "/api")

    async def scenario() -> None:
        async with AsyncClient(
            api.url,
            timeout=5,
            namespace="/api",
            request_headers={"X-Team": "blue"},
            socketio_path="/socket.io/",
        ) as client:
            info = (await client.get("/whoami")).json
            assert info["namespace"] == "/api"
            assert info["sid"] == client.sid
            headers = (await client.get("/headers")).json
            assert headers["X-Team"] == "blue"
        with pytest.raises(TransportError) as info:
            await AsyncClient(
                server.url, timeout=2, socketio_path="elsewhere"
            ).connect()
        assert info.value.code == "not_connected"

    asyncio.run(scenario())


def test_is_a_socket_request(client: Client) -> None:
    info = client.get("/whoami").json
    assert info["is_socket"] is True
    assert info["sid"] == client.sid


def test_pushes(client: Client) -> None:
    received: list[t.Any] = []
    done = threading.Event()

    def on_pushed(data: t.Any) -> None:
        received.append(data)
        done.set()

    client.on("pushed", on_pushed)
    client.post("/socket-emit")
    assert done.wait(5)
    assert received == [{"via": "request.socket.emit"}]


def test_unsupported_method(client: Client) -> None:
    with pytest.raises(ValueError, match="TRACE request cannot be sent"):
        client.request("/echo", method="TRACE")


def test_transport_errors(server: ServerProcess) -> None:
    with pytest.raises(TransportError, match="Could not connect") as info:
        Client(f"http://127.0.0.1:{free_port()}", timeout=2)
    assert info.value.code == "not_connected"
    client = Client(server.url, timeout=5, reconnection=False)
    # The server disconnects the socket in the middle of the request.
    with pytest.raises(TransportError, match="dropped") as info:
        client.post("/kick")
    assert info.value.code == "disconnected"
    with pytest.raises(TransportError, match="not connected") as info:
        client.get("/hello/1", timeout=0.1)
    assert info.value.code == "not_connected"
    client.close()


def test_timeout() -> None:
    server = ServerProcess(
        "threading", "--app", "security", "--config", "SOCKREQ_TIMEOUT=null"
    )
    try:
        server.wait_ready()
        with Client(server.url, timeout=5) as client:
            with pytest.raises(TransportError, match="within 0.3 s") as info:
                client.get("/slow", query_string={"s": "1"}, timeout=0.3)
            assert info.value.code == "timeout"
            assert client.get("/health").text == "ok"
    finally:
        server.stop()


# -- the asyncio client -------------------------------------------------------


def test_async_client(server: ServerProcess) -> None:
    from flask_sockreq.client import AsyncClient

    async def scenario() -> None:
        pushed: asyncio.Queue[t.Any] = asyncio.Queue()
        async with AsyncClient(
            server.url, headers={"Cookie": "theme=dark"}, timeout=5
        ) as client:
            client.on("pushed", pushed.put_nowait)
            response = await client.get("/hello/3", query_string={"x": "1"})
            assert isinstance(response, ClientResponse)
            assert response.get_json() == {"n": 3, "args": {"x": ["1"]}}
            assert (await client.post("/echo", json={"a": 1})).json["json"] == {"a": 1}
            assert (await client.get("/binary")).data == PNG
            assert (await client.get("/nowhere")).status_code == 404
            whoami = (await client.get("/whoami")).json
            assert whoami["sid"] == client.sid
            # Concurrent requests on one connection, answered out of order.
            texts = await asyncio.gather(*(client.get(f"/hello/{n}") for n in range(5)))
            assert [r.json["n"] for r in texts] == list(range(5))
            await client.post("/push", json={"n": 7})
            assert await asyncio.wait_for(pushed.get(), 5) == {
                "via": "flask_socketio.emit",
                "data": {"n": 7},
            }

    asyncio.run(scenario())


def test_async_client_transport_errors(server: ServerProcess) -> None:
    from flask_sockreq.client import AsyncClient

    async def scenario() -> None:
        with pytest.raises(TransportError) as info:
            await AsyncClient(f"http://127.0.0.1:{free_port()}", timeout=2).connect()
        assert info.value.code == "not_connected"
        client = AsyncClient(server.url, timeout=5, reconnection=False)
        await client.connect()
        with pytest.raises(TransportError) as info:
            await client.post("/kick")
        assert info.value.code == "disconnected"
        with pytest.raises(TransportError) as info:
            await client.get("/hello/1")
        assert info.value.code == "not_connected"
        await client.close()

    asyncio.run(scenario())
