"""Flask features through socket requests: the whole WSGI pipeline runs."""

from __future__ import annotations

import threading
import uuid

import pytest
import requests
from werkzeug.exceptions import InternalServerError
from werkzeug.exceptions import NotFound
from werkzeug.utils import redirect as werkzeug_redirect

from tests.apps import PNG_PATH
from tests.apps import TEXT_PATH
from tests.helpers import assert_serves
from tests.helpers import call
from tests.helpers import CALL_TIMEOUT
from tests.helpers import wait_until


def new_trace() -> str:
    return uuid.uuid4().hex


def records(server, trace: str) -> list:
    return requests.get(f"{server.url}/records/{trace}", timeout=5).json()


# --- the JWR body --------------------------------------------------------


def test_json_response(sio_client):
    jwr = call(sio_client, "get", "/hello/3?x=1&x=2")
    assert jwr["statusCode"] == 200
    assert jwr["body"] == {"n": 3, "args": {"x": ["1", "2"]}}
    assert jwr["headers"]["Content-Type"] == "application/json"


def test_json_array_response(sio_client):
    jwr = call(sio_client, "get", "/list")
    assert jwr["body"] == [1, "two", None, True]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/text", "Caf\u00e9 au lait"),
        ("/html", "<p>Hello, <b>world</b></p>"),
        ("/charset", "custom \u00e9"),
    ],
)
def test_textual_response_is_a_string(sio_client, url, expected):
    jwr = call(sio_client, "get", url)
    assert jwr["statusCode"] == 200
    assert jwr["body"] == expected


def test_send_file_binary_is_bytes(sio_client):
    with open(PNG_PATH, "rb") as file:
        expected = file.read()
    jwr = call(sio_client, "get", "/binary")
    assert jwr["statusCode"] == 200
    assert isinstance(jwr["body"], bytes)
    assert jwr["body"] == expected
    assert jwr["headers"]["Content-Type"] == "image/png"
    assert jwr["headers"]["Content-Length"] == str(len(expected))


def test_send_file_text_is_a_string(sio_client):
    with open(TEXT_PATH, encoding="utf-8") as file:
        expected = file.read()
    jwr = call(sio_client, "get", "/download.txt")
    assert jwr["statusCode"] == 200
    assert jwr["body"] == expected


def test_streamed_response_is_buffered(sio_client):
    jwr = call(sio_client, "get", "/stream?name=socket")
    assert jwr["statusCode"] == 200
    assert jwr["body"] == "".join(f"chunk {n} of socket\n" for n in range(5))


@pytest.mark.parametrize("url", ["/hello/3", "/text", "/binary", "/stream"])
def test_head_has_no_body(sio_client, url):
    jwr = call(sio_client, "head", url)
    assert jwr["statusCode"] == 200
    assert jwr["body"] is None
    assert "Content-Type" in jwr["headers"]


@pytest.mark.parametrize(("event", "url"), [("get", "/empty"), ("delete", "/empty")])
def test_204_has_no_body(sio_client, event, url):
    jwr = call(sio_client, event, url)
    assert jwr["statusCode"] == 204
    assert jwr["body"] is None


def test_304_has_no_body(sio_client):
    jwr = call(sio_client, "get", "/not-modified")
    assert jwr["statusCode"] == 304
    assert jwr["body"] is None
    assert jwr["headers"]["ETag"] == '"v1"'


def test_set_cookie_never_reaches_the_client(sio_client):
    jwr = call(sio_client, "get", "/set-cookie")
    assert jwr["statusCode"] == 200
    assert jwr["body"] == {"ok": True}
    assert not [name for name in jwr["headers"] if name.lower() == "set-cookie"]
    assert "oatmeal" not in repr(jwr["headers"])


def test_set_cookie_is_sent_over_http(server):
    response = requests.get(f"{server.url}/set-cookie", timeout=5)
    assert {"flavour", "shouted", "whispered"} <= set(response.cookies.keys())


# --- routing and errors ----------------------------------------------------


def test_not_found(sio_client):
    jwr = call(sio_client, "get", "/no/such/page")
    assert jwr["statusCode"] == 404
    assert jwr["body"] == NotFound().get_body()
    assert jwr["headers"] == {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Length": str(len(NotFound().get_body().encode())),
    }


def test_method_not_allowed_has_allow(sio_client):
    jwr = call(sio_client, "post", "/hello/1")
    assert jwr["statusCode"] == 405
    allowed = {m.strip() for m in jwr["headers"]["Allow"].split(",")}
    assert allowed == {"GET", "HEAD", "OPTIONS"}


def test_automatic_options(sio_client):
    jwr = call(sio_client, "options", "/echo")
    assert jwr["statusCode"] == 200
    allowed = {m.strip() for m in jwr["headers"]["Allow"].split(",")}
    assert allowed == {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def test_redirect_is_not_followed(sio_client):
    jwr = call(sio_client, "get", "/redirect")
    assert jwr["statusCode"] == 302
    assert jwr["headers"]["Location"] == "/text"
    assert jwr["body"] == werkzeug_redirect("/text").get_data(as_text=True)


def test_view_exception_is_a_500(sio_client):
    jwr = call(sio_client, "get", "/boom")
    assert jwr["statusCode"] == 500
    assert jwr["body"] == InternalServerError().get_body()
    assert_serves(sio_client)


def test_error_handler_runs(sio_client):
    jwr = call(sio_client, "get", "/teapot")
    assert jwr["statusCode"] == 418
    assert jwr["body"] == {"error": "teapot", "message": "short and stout"}


def test_view_exception_with_propagate_exceptions(start_server, mode, clients):
    server = start_server(mode, "--testing")
    client = clients.connect(server)
    jwr = call(client, "get", "/boom")
    assert jwr["statusCode"] == 500
    assert_serves(client)
    assert server.wait_for_log("RuntimeError: the view failed")


def test_blueprint_with_url_prefix(sio_client):
    jwr = call(sio_client, "put", "/api/v1/items/5", data={"name": "lamp"})
    assert jwr["statusCode"] == 200
    assert jwr["body"] == {
        "blueprint": "items",
        "id": 5,
        "method": "PUT",
        "json": {"name": "lamp"},
    }
    assert call(sio_client, "get", "/items/5")["statusCode"] == 404


@pytest.mark.parametrize("event", ["get", "patch", "delete"])
def test_method_view(sio_client, event):
    jwr = call(
        sio_client, event, "/things/9", data={"k": 1} if event == "patch" else None
    )
    assert jwr["statusCode"] == 200
    assert jwr["body"]["view"] == "ThingAPI"
    assert jwr["body"]["verb"] == event
    assert jwr["body"]["id"] == 9
    if event == "patch":
        assert jwr["body"]["json"] == {"k": 1}


def test_method_view_missing_method(sio_client):
    jwr = call(sio_client, "post", "/things/9")
    assert jwr["statusCode"] == 405
    assert "PATCH" in jwr["headers"]["Allow"]


# --- hooks, signals, g -----------------------------------------------------

EXPECTED_HOOKS = [
    ["request_started"],
    ["before_request", "/hello/1"],
    ["after_request", 200],
    ["request_finished", 200],
    ["teardown_request", None],
    ["teardown_appcontext"],
]


def test_hooks_and_signals_run_in_order(sio_client, server):
    trace = new_trace()
    jwr = call(sio_client, "get", "/hello/1", headers={"X-Trace": trace})
    assert jwr["statusCode"] == 200
    assert wait_until(lambda: records(server, trace) == EXPECTED_HOOKS)
    assert records(server, trace) == EXPECTED_HOOKS


def test_hooks_match_http(sio_client, server):
    socket_trace, http_trace = new_trace(), new_trace()
    call(sio_client, "get", "/hello/1", headers={"X-Trace": socket_trace})
    requests.get(f"{server.url}/hello/1", headers={"X-Trace": http_trace}, timeout=5)
    assert wait_until(lambda: len(records(server, http_trace)) == len(EXPECTED_HOOKS))
    assert records(server, socket_trace) == records(server, http_trace)


def test_exception_signal_and_teardown_see_the_error(sio_client, server):
    trace = new_trace()
    jwr = call(sio_client, "get", "/boom", headers={"X-Trace": trace})
    assert jwr["statusCode"] == 500
    expected = [
        ["request_started"],
        ["before_request", "/boom"],
        ["got_request_exception", "RuntimeError"],
        ["after_request", 500],
        ["request_finished", 500],
        ["teardown_request", "RuntimeError"],
        ["teardown_appcontext"],
    ]
    assert wait_until(lambda: records(server, trace) == expected)
    assert records(server, trace) == expected


def test_g_does_not_leak_between_requests(sio_client):
    for _ in range(3):
        jwr = call(sio_client, "get", "/g")
        assert jwr["body"] == {"seen": False}


# --- connection state inherited from the handshake --------------------------

HANDSHAKE_HEADERS = {
    "User-Agent": "sockreq-tests/1.0",
    "Accept-Language": "fr-CH, fr;q=0.9",
    "Accept": "text/html",
    "X-Team": "blue",
    "Cookie": "session_hint=abc; theme=dark",
}


def test_handshake_headers_are_inherited(clients, server):
    client = clients.connect(server, headers=HANDSHAKE_HEADERS)
    got = call(client, "get", "/headers")["body"]
    lower = {name.lower(): value for name, value in got.items()}
    assert lower["user-agent"] == "sockreq-tests/1.0"
    assert lower["accept-language"] == "fr-CH, fr;q=0.9"
    assert lower["x-team"] == "blue"
    assert lower["host"] == server.host
    for name in (
        "accept",
        "sec-websocket-key",
        "sec-websocket-version",
        "connection",
        "upgrade",
    ):
        assert name not in lower, name
    assert "content-type" not in lower and "content-length" not in lower


def test_payload_headers_override_inherited_ones(clients, server):
    client = clients.connect(server, headers=HANDSHAKE_HEADERS)
    headers = {"User-Agent": "per-request", "Accept": "application/json"}
    got = call(client, "get", "/headers", headers=headers)["body"]
    assert got["User-Agent"] == "per-request"
    assert got["Accept"] == "application/json"
    assert got["X-Team"] == "blue"


def test_handshake_cookie_reaches_every_request(clients, server):
    client = clients.connect(server, headers=HANDSHAKE_HEADERS)
    for _ in range(2):
        assert call(client, "get", "/cookies")["body"] == {
            "session_hint": "abc",
            "theme": "dark",
        }
    for name in ("Cookie", "cookie", "COOKIE", "cOoKiE"):
        jwr = call(client, "get", "/cookies", headers={name: "theme=light; evil=1"})
        assert jwr["body"] == {"session_hint": "abc", "theme": "dark"}, name


def test_url_for_external_uses_the_handshake(sio_client, server):
    body = call(sio_client, "get", "/environ")["body"]
    assert body["remote_addr"] == "127.0.0.1"
    assert body["scheme"] == "http"
    assert body["host"] == server.host
    assert body["script_root"] == ""
    assert body["url"] == f"http://{server.host}/environ"
    assert body["external"] == f"http://{server.host}/hello/1"


PROXY_HEADERS = {
    "X-Forwarded-For": "203.0.113.9",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "api.example.com",
}
# What a browser on the proxied site sends; the same-origin check of
# Flask-SocketIO compares it with the (ProxyFix-corrected) host.
PROXY_ORIGIN = "https://api.example.com"


def test_proxy_fix_gives_the_same_answer_as_http(start_server, mode, clients):
    server = start_server(mode, "--proxy-fix")
    client = clients.connect(server, headers=PROXY_HEADERS, origin=PROXY_ORIGIN)
    over_socket = call(client, "get", "/environ")["body"]
    over_http = requests.get(f"{server.url}/environ", headers=PROXY_HEADERS, timeout=5)
    assert over_socket == over_http.json()
    assert over_socket["remote_addr"] == "203.0.113.9"
    assert over_socket["scheme"] == "https"
    assert over_socket["host"] == "api.example.com"
    assert over_socket["external"] == "https://api.example.com/hello/1"
    # Several requests: ProxyFix runs afresh each time, never twice over.
    again = call(client, "get", "/environ")["body"]
    assert again == over_socket


def test_payload_forwarded_for_is_ignored_behind_proxy_fix(start_server, mode, clients):
    server = start_server(mode, "--proxy-fix")
    spoof = {
        "X-Forwarded-For": "6.6.6.6",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "evil.example.com",
        "X-Real-IP": "6.6.6.6",
        "Forwarded": "for=6.6.6.6",
    }
    plain = clients.connect(server)
    body = call(plain, "get", "/environ", headers=spoof)["body"]
    assert body["remote_addr"] == "127.0.0.1"
    assert body["access_route"] == ["127.0.0.1"]
    assert body["scheme"] == "http"
    assert body["host"] == server.host
    proxied = clients.connect(server, headers=PROXY_HEADERS, origin=PROXY_ORIGIN)
    body = call(proxied, "get", "/environ", headers=spoof)["body"]
    assert body["remote_addr"] == "203.0.113.9"
    assert body["host"] == "api.example.com"


def test_absolute_url_with_the_forwarded_host(start_server, mode, clients):
    server = start_server(mode, "--proxy-fix")
    client = clients.connect(server, headers=PROXY_HEADERS, origin=PROXY_ORIGIN)
    jwr = call(client, "get", "https://api.example.com/hello/8")
    assert jwr["statusCode"] == 200
    assert jwr["body"]["n"] == 8


# --- delivery ----------------------------------------------------------------


def test_emit_without_ack_is_served(clients, server):
    client = clients.connect(server)
    before = call(client, "get", "/counter")["body"]["value"]
    client.emit("post", {"url": "/counter"})
    assert wait_until(
        lambda: call(client, "get", "/counter")["body"]["value"] == before + 1
    ), "the POST sent without an ack was not served"
    assert_serves(client)


def test_concurrent_requests_on_one_connection(clients, server):
    client = clients.connect(server)
    results: dict[int, dict] = {}

    def one(n: int) -> None:
        results[n] = client.call("get", {"url": f"/hello/{n}"}, timeout=CALL_TIMEOUT)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(CALL_TIMEOUT + 1)
    assert sorted(results) == list(range(20))
    for n, jwr in results.items():
        assert jwr["statusCode"] == 200
        assert jwr["body"]["n"] == n


def test_server_side_disconnect(clients, server):
    client = clients.connect(server)
    disconnected = threading.Event()
    client.on("disconnect", lambda *args: disconnected.set())
    client.emit("post", {"url": "/kick"})
    assert disconnected.wait(5)
    again = clients.connect(server)
    assert_serves(again)
