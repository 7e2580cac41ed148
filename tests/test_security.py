"""Sessions, cookies, headers and security, over real servers and clients.

A socket request is exactly as trusted as the HTTP request it mirrors. After
each hostile case the test checks that the connection still works.
"""

from __future__ import annotations

import threading
import time
import typing as t

import pytest
import requests
import socketio

from tests.helpers import call
from tests.helpers import Clients
from tests.helpers import SECURITY
from tests.helpers import ServerProcess
from tests.helpers import wait_until

STRICT = (
    *SECURITY,
    "--config",
    "SOCKREQ_EXPOSE_ALL=false",
    "--config",
    "SOCKREQ_ALLOW_NO_ORIGIN=false",
    "--config",
    "SOCKREQ_COOKIE_SYNC_MAX_AGE=0.3",
    "--config",
    'SOCKREQ_FORBIDDEN_HEADERS=["X-Tenant"]',
)


@pytest.fixture
def strict_server(
    start_server: t.Callable[..., ServerProcess], mode: str
) -> ServerProcess:
    return start_server(mode, *STRICT)


@pytest.fixture
def client(clients: Clients, secure_server: ServerProcess) -> socketio.Client:
    return clients.connect(secure_server)


def get(client: socketio.Client, url: str, **payload: t.Any) -> dict[str, t.Any]:
    return call(client, "get", url, **payload)


def post(client: socketio.Client, url: str, **payload: t.Any) -> dict[str, t.Any]:
    return call(client, "post", url, **payload)


def assert_alive(client: socketio.Client) -> None:
    jwr = get(client, "/health")
    assert (jwr["statusCode"], jwr["body"]) == (200, "ok")


# --- cookies and sessions ----------------------------------------------------


def test_login_over_socket_holds_for_the_next_socket_request(
    client: socketio.Client,
) -> None:
    assert get(client, "/me")["statusCode"] == 401
    jwr = post(client, "/login", data={"name": "ann"})
    assert jwr["statusCode"] == 200
    assert not any(name.lower() == "set-cookie" for name in jwr["headers"])
    assert get(client, "/me")["body"] == {"user": "ann", "is_socket": True}
    assert post(client, "/logout")["statusCode"] == 200
    assert get(client, "/me")["statusCode"] == 401


def test_socket_login_does_not_leak_to_other_connections(
    clients: Clients, secure_server: ServerProcess
) -> None:
    first = clients.connect(secure_server)
    second = clients.connect(secure_server)
    post(first, "/login", data={"name": "ann"})
    assert get(first, "/me")["statusCode"] == 200
    assert get(second, "/me")["statusCode"] == 401
    assert requests.get(f"{secure_server.url}/me", timeout=5).status_code == 401


def test_http_session_reaches_the_socket_through_the_handshake_cookie(
    clients: Clients, secure_server: ServerProcess
) -> None:
    http = requests.Session()
    assert http.post(f"{secure_server.url}/login", json={"name": "bob"}, timeout=5).ok
    cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    client = clients.connect(secure_server, headers={"Cookie": cookie})
    assert get(client, "/me")["body"]["user"] == "bob"


def test_flask_session_round_trips_over_the_socket(client: socketio.Client) -> None:
    assert post(client, "/session", data={"value": 42})["body"] == {"value": 42}
    assert get(client, "/session")["body"] == {"value": 42}


def test_cookie_jar_applies_path_expiry_secure_and_domain(
    client: socketio.Client, secure_server: ServerProcess
) -> None:
    get(client, "/cookie/set", data={"name": "plain", "value": "1"})
    get(
        client,
        "/cookie/set",
        data={"name": "scoped", "value": "2", "path": "/cookies/a"},
    )
    get(client, "/cookie/set", data={"name": "tls", "value": "3", "secure": "1"})
    get(client, "/cookie/set", data={"name": "foreign", "domain": "other.example"})
    assert get(client, "/cookies")["body"] == {"plain": "1"}
    assert get(client, "/cookies/a/deeper")["body"] == {"plain": "1", "scoped": "2"}
    assert get(client, "/cookies/ab")["body"] == {"plain": "1"}
    get(client, "/cookie/set", data={"name": "plain", "max_age": 0})
    assert get(client, "/cookies/a")["body"] == {"scoped": "2"}
    get(
        client,
        "/cookie/set",
        data={"name": "scoped", "path": "/cookies/a", "expired": 1},
    )
    assert get(client, "/cookies/a")["body"] == {}


def test_handshake_cookie_is_replaced_and_deleted_like_a_browser_would(
    clients: Clients, secure_server: ServerProcess
) -> None:
    client = clients.connect(secure_server, headers={"Cookie": "theme=dark; lang=en"})
    assert get(client, "/cookies")["body"] == {"theme": "dark", "lang": "en"}
    get(client, "/cookie/set", data={"name": "theme", "value": "light"})
    get(client, "/cookie/set", data={"name": "lang", "max_age": 0})
    assert get(client, "/cookies")["body"] == {"theme": "light"}


@pytest.mark.parametrize("name", ["Cookie", "cookie", "COOKIE", "cOoKiE"])
def test_payload_cookie_never_overrides_the_connection(
    clients: Clients, secure_server: ServerProcess, name: str
) -> None:
    client = clients.connect(secure_server, headers={"Cookie": "theme=dark"})
    jwr = get(client, "/cookies", headers={name: "theme=forged; session=stolen"})
    assert jwr["body"] == {"theme": "dark"}
    assert_alive(client)


# --- headers -------------------------------------------------------------------


def test_spoofed_connection_headers_in_mixed_case_are_dropped(
    clients: Clients, secure_server: ServerProcess
) -> None:
    client = clients.connect(secure_server, headers={"Cookie": "a=1"})
    honest = get(client, "/whoami")["body"]
    jwr = get(
        client,
        "/whoami",
        headers={
            "hOsT": "evil.example",
            "ORIGIN": "http://evil.example",
            "x-FORWARDED-for": "6.6.6.6",
            "X_Forwarded_For": "7.7.7.7",
            "X-Real-IP": "8.8.8.8",
            "Forwarded": "for=9.9.9.9",
            "Cookie": "a=2",
            "X-Custom": "kept",
        },
    )
    assert jwr["statusCode"] == 200
    spoofed = jwr["body"]
    assert spoofed.pop("custom") == "kept"
    honest.pop("custom")
    assert spoofed == honest
    assert honest["host"] == secure_server.host
    assert honest["remote_addr"] == "127.0.0.1"
    assert honest["origin"] == secure_server.url
    assert_alive(client)


def test_authorization_is_per_request(client: socketio.Client) -> None:
    token = get(client, "/whoami", headers={"Authorization": "Bearer one"})
    assert token["body"]["authorization"] == "Bearer one"
    assert get(client, "/whoami")["body"]["authorization"] is None
    other = get(client, "/whoami", headers={"authorization": "Bearer two"})
    assert other["body"]["authorization"] == "Bearer two"


def test_configured_extra_header_is_refused(
    clients: Clients, strict_server: ServerProcess, secure_server: ServerProcess
) -> None:
    strict = clients.connect(strict_server)
    body = get(strict, "/whoami", headers={"x-tenant": "other", "X-Custom": "c"})[
        "body"
    ]
    assert (body["tenant"], body["custom"]) == (None, "c")
    default = clients.connect(secure_server)
    assert get(default, "/whoami", headers={"X-Tenant": "t"})["body"]["tenant"] == "t"


# --- origins -------------------------------------------------------------------


def test_cross_origin_handshake_is_refused_by_default(
    clients: Clients, secure_server: ServerProcess
) -> None:
    with pytest.raises(socketio.exceptions.ConnectionError):
        clients.connect(secure_server, origin="http://evil.example")
    assert_alive(clients.connect(secure_server))


def test_allowed_cross_origin_connects(
    clients: Clients, start_server: t.Callable[..., ServerProcess], mode: str
) -> None:
    server = start_server(mode, *SECURITY, "--cors", "http://app.example")
    client = clients.connect(server, origin="http://app.example")
    assert get(client, "/whoami")["body"]["origin"] == "http://app.example"
    with pytest.raises(socketio.exceptions.ConnectionError):
        clients.connect(server, origin="http://evil.example")


def test_client_without_origin_is_served_by_default(
    clients: Clients, secure_server: ServerProcess
) -> None:
    client = clients.connect(secure_server, suppress_origin=True)
    jwr = get(client, "/whoami")
    assert jwr["statusCode"] == 200
    assert jwr["body"]["origin"] is None


def test_client_without_origin_is_refused_when_configured(
    clients: Clients, strict_server: ServerProcess
) -> None:
    bare = clients.connect(strict_server, suppress_origin=True)
    jwr = get(bare, "/public")
    assert jwr["statusCode"] == 403
    assert jwr["body"]["error"] == "origin_required"
    browser_like = clients.connect(strict_server)
    assert get(browser_like, "/public")["body"] == "public"


# --- CSRF ----------------------------------------------------------------------


def test_csrf_applies_to_socket_requests_as_to_http(
    client: socketio.Client, secure_server: ServerProcess
) -> None:
    http = requests.Session()
    refused_http = http.post(f"{secure_server.url}/transfer", timeout=5)
    refused = post(client, "/transfer")
    assert refused["statusCode"] == refused_http.status_code == 400
    assert "CSRF" in refused_http.text
    assert refused["body"] == refused_http.text

    token = get(client, "/csrf-token")["body"]["token"]
    accepted = post(client, "/transfer", headers={"X-CSRFToken": token})
    assert accepted["statusCode"] == 200
    assert accepted["body"] == {"done": True}

    http_token = http.get(f"{secure_server.url}/csrf-token", timeout=5).json()["token"]
    accepted_http = http.post(
        f"{secure_server.url}/transfer", headers={"X-CSRFToken": http_token}, timeout=5
    )
    assert accepted_http.status_code == 200
    assert (
        post(client, "/transfer", headers={"X-CSRFToken": "forged"})["statusCode"]
        == 400
    )
    assert_alive(client)


# --- route exposure ------------------------------------------------------------


def test_excluded_view_and_blueprint_answer_404_over_the_socket_only(
    client: socketio.Client, secure_server: ServerProcess
) -> None:
    assert get(client, "/private")["statusCode"] == 404
    assert get(client, "/admin/panel")["statusCode"] == 404
    assert requests.get(f"{secure_server.url}/private", timeout=5).text == "private"
    assert requests.get(f"{secure_server.url}/admin/panel", timeout=5).text == "panel"
    assert get(client, "/public")["body"] == "public"


def test_opt_in_exposes_only_marked_views(
    clients: Clients, strict_server: ServerProcess
) -> None:
    client = clients.connect(strict_server)
    assert get(client, "/public")["body"] == "public"
    assert get(client, "/session")["statusCode"] == 404
    assert requests.get(f"{strict_server.url}/session", timeout=5).status_code == 200


# --- limits and time -----------------------------------------------------------


def test_too_large_body_gets_413(client: socketio.Client) -> None:
    jwr = post(client, "/upload", data="x" * 2000)
    assert jwr["statusCode"] == 413
    assert post(client, "/upload", data="x" * 500)["body"] == {"size": 500}


def _fire(client: socketio.Client, n: int, url: str) -> list[int]:
    statuses: list[int] = []
    done = threading.Event()

    def answered(jwr: dict[str, t.Any]) -> None:
        statuses.append(jwr["statusCode"])
        if len(statuses) == n:
            done.set()

    for _ in range(n):
        client.emit("get", {"url": url}, callback=answered)
    assert done.wait(10), f"only {len(statuses)} of {n} answers arrived"
    return sorted(statuses)


def test_requests_beyond_the_in_flight_cap_get_429(client: socketio.Client) -> None:
    assert _fire(client, 5, "/slow?s=0.5") == [200, 200, 200, 429, 429]
    assert_alive(client)


def test_a_429_says_the_request_never_ran(client: socketio.Client) -> None:
    answers: list[dict[str, t.Any]] = []
    done = threading.Event()

    def answered(jwr: dict[str, t.Any]) -> None:
        answers.append(jwr)
        if len(answers) == 4:
            done.set()

    for _ in range(4):
        client.emit("get", {"url": "/slow?s=0.3"}, callback=answered)
    assert done.wait(10)
    refused = [jwr for jwr in answers if jwr["statusCode"] == 429]
    assert len(refused) == 1
    assert refused[0]["refused"] is True
    assert refused[0]["body"]["error"] == "too_many_requests"
    assert all("refused" not in jwr for jwr in answers if jwr["statusCode"] == 200)
    assert_alive(client)


def test_view_past_the_deadline_gets_504_and_finishes(
    client: socketio.Client, secure_server: ServerProcess
) -> None:
    before = requests.get(f"{secure_server.url}/slow/finished", timeout=5).json()
    jwr = get(client, "/slow?s=2")
    assert jwr["statusCode"] == 504
    assert jwr["body"]["error"] == "timeout"
    # Answered at the deadline, before the view was done...
    assert (
        requests.get(f"{secure_server.url}/slow/finished", timeout=5).json() == before
    )
    assert_alive(client)
    # ...which then finished, its late result dropped and logged.
    assert wait_until(
        lambda: (
            requests.get(f"{secure_server.url}/slow/finished", timeout=5).json()
            > before
        ),
        timeout=5,
    )
    assert secure_server.wait_for_log("Dropped the late 200 response")


def test_disconnect_mid_request_lets_the_view_finish(
    clients: Clients, secure_server: ServerProcess
) -> None:
    before = requests.get(f"{secure_server.url}/slow/finished", timeout=5).json()
    # The server is shared: only what it logs from here on is this test's.
    logged = len(secure_server.stderr)
    client = clients.connect(secure_server)
    client.emit("get", {"url": "/slow?s=0.3"}, callback=lambda jwr: None)
    time.sleep(0.1)
    client.disconnect()
    assert wait_until(
        lambda: (
            requests.get(f"{secure_server.url}/slow/finished", timeout=5).json()
            > before
        ),
        timeout=5,
    )
    assert "Traceback" not in secure_server.stderr[logged:]
    assert_alive(clients.connect(secure_server))


# --- cookie sync ---------------------------------------------------------------


def _sync(server: ServerProcess, http: requests.Session, token: str, sid: str) -> int:
    response = http.get(
        f"{server.url}/_sockreq/cookies", params={"token": token, "sid": sid}, timeout=5
    )
    assert response.headers["Cache-Control"] == "no-store"
    return response.status_code


def test_cookie_sync_carries_a_socket_login_to_the_browser(
    client: socketio.Client, secure_server: ServerProcess
) -> None:
    jwr = post(client, "/login", data={"name": "cat"})
    token = jwr["headers"]["X-SockReq-Cookie-Sync"]
    http = requests.Session()
    assert http.get(f"{secure_server.url}/me", timeout=5).status_code == 401
    assert _sync(secure_server, http, token, client.get_sid()) == 204
    assert http.get(f"{secure_server.url}/me", timeout=5).json()["user"] == "cat"
    # Single use.
    assert _sync(secure_server, requests.Session(), token, client.get_sid()) == 403


def test_cookie_sync_token_is_bound_to_its_socket(
    clients: Clients, secure_server: ServerProcess
) -> None:
    owner = clients.connect(secure_server)
    thief = clients.connect(secure_server)
    token = post(owner, "/login", data={"name": "dan"})["headers"][
        "X-SockReq-Cookie-Sync"
    ]
    http = requests.Session()
    assert _sync(secure_server, http, token, thief.get_sid()) == 403
    assert _sync(secure_server, http, "made-up", owner.get_sid()) == 403
    assert http.get(f"{secure_server.url}/me", timeout=5).status_code == 401


def test_cookie_sync_token_expires(
    clients: Clients, strict_server: ServerProcess
) -> None:
    client = clients.connect(strict_server)
    assert "X-SockReq-Cookie-Sync" not in get(client, "/public")["headers"]
    token = post(client, "/login", data={"name": "eve"})["headers"][
        "X-SockReq-Cookie-Sync"
    ]
    time.sleep(0.5)  # SOCKREQ_COOKIE_SYNC_MAX_AGE is 0.3 s on this server
    http = requests.Session()
    assert _sync(strict_server, http, token, client.get_sid()) == 403
    assert http.get(f"{strict_server.url}/me", timeout=5).status_code == 401


# --- addresses -----------------------------------------------------------------


def test_access_route_matches_http_through_the_same_proxy(
    clients: Clients, start_server: t.Callable[..., ServerProcess], mode: str
) -> None:
    server = start_server(mode, *SECURITY, "--proxy-fix")
    proxy = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "http"}
    http = requests.get(f"{server.url}/whoami", headers=proxy, timeout=5).json()
    client = clients.connect(server, headers=proxy)
    over_socket = get(client, "/whoami", headers={"X-Forwarded-For": "6.6.6.6"})["body"]
    for key in ("remote_addr", "access_route", "scheme", "host"):
        assert over_socket[key] == http[key], key
    assert over_socket["remote_addr"] == "203.0.113.7"
