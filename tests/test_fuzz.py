"""Fuzzing over real sockets: random payloads and random raw frames.

Two layers, against one server per mode reused across examples:

* random request payloads for every method event, sent by python-socketio's
  client (any JSON, deep nesting, huge strings, odd unicode with lone
  surrogates, binary values, hostile URLs and header objects, NaN);
* random raw Engine.IO / Socket.IO frames over a raw WebSocket (bad packet
  types, broken JSON, lying attachment counts, huge and reused ack ids,
  events before the namespace connect, oversized frames).

The invariants: every request with an ack id gets exactly one ack within the
deadline, unless the server closes the socket after a protocol violation;
malformed input is a 4xx JWR, never a 500 and never silence; the server
survives and serves a fresh socket right after.

Hypothesis runs derandomized (a fixed seed) with a bounded number of examples;
``SOCKREQ_FUZZ_EXAMPLES=N`` runs N per test instead, and
``SOCKREQ_FUZZ_SHRINK=1`` lets Hypothesis shrink a failure (slow when the
failure is a timeout). Below the properties, each defect the fuzzing found
has a test of its own with its minimal reproduction.
"""

from __future__ import annotations

import json
import os
import re
import time
import typing as t
import uuid
from urllib.parse import unquote
from urllib.parse import urlsplit

import pytest
import requests
import socketio
from hypothesis import assume
from hypothesis import example
from hypothesis import given
from hypothesis import HealthCheck
from hypothesis import Phase
from hypothesis import settings
from hypothesis import strategies as st

from tests.helpers import CALL_TIMEOUT
from tests.helpers import Clients
from tests.helpers import ServerProcess
from tests.helpers import wait_until
from tests.rawsocket import RawSocket
from tests.rawsocket import ws_frame

pytestmark = pytest.mark.filterwarnings(
    # Hypothesis warns when it prints a failing example of a huge string.
    "ignore:Generating overly large repr"
)

METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
BODY_METHODS = ("post", "put", "patch", "delete")
#: The fuzzed servers are the suite's apps but processes of their own: the
#: garbage sent here fills their logs with tracebacks, which tests sharing a
#: server would read. The option only sets a default value.
OWN = ("--config", "SOCKREQ_ACCESS_LOG=true")
SECURITY = ("--app", "security", *OWN)
#: How long a request may take to be answered, or its socket to be closed.
DEADLINE = 5.0
#: The Engine.IO message limit of the servers (python-engineio's default).
MAX_MESSAGE = 1_000_000


def _examples(ci: int) -> int:
    return int(os.environ.get("SOCKREQ_FUZZ_EXAMPLES", "0")) or ci


def fuzz(ci_examples: int) -> t.Callable[[t.Any], t.Any]:
    """Hypothesis settings: a fixed seed, a bounded count, no database."""
    phases = [Phase.explicit, Phase.reuse, Phase.generate]
    if os.environ.get("SOCKREQ_FUZZ_SHRINK") == "1":
        phases.append(Phase.shrink)
    return settings(
        max_examples=_examples(ci_examples),
        derandomize=True,
        database=None,
        deadline=None,
        phases=phases,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
    )


# --- strategies -----------------------------------------------------------------

ODD_CHARACTERS = st.one_of(
    st.characters(),
    st.characters(categories=["Cs"]),  # lone surrogates
    st.sampled_from(list("\x00\x1f\x7f\t\r\n\u0085\u00a0\ufeff\u202e\uffff\u0301€é")),
    st.sampled_from(["\U0001d54f", "\U0001f36a", "\U0010ffff"]),
)
ODD_TEXT = st.text(ODD_CHARACTERS, max_size=24)
CLEAN_TEXT = st.text(st.characters(), max_size=24)
HUGE_TEXT = st.one_of(
    st.integers(50_000, 400_000).map(lambda n: "x" * n),
    # JSON-escaped by the client: 18 bytes a pair, under the 1 MB limit.
    st.integers(10_000, 40_000).map(lambda n: "\u00e9\U0001f36a" * n),
)
INTEGERS = st.one_of(st.integers(-(2**31), 2**31), st.integers(-(2**80), 2**80))
FLOATS = st.floats(allow_nan=True, allow_infinity=True)


def _nested(depth: int, leaf: t.Any) -> t.Any:
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def json_values(
    text: st.SearchStrategy[str],
    floats: st.SearchStrategy[float],
    binary: bool,
) -> st.SearchStrategy[t.Any]:
    leaves = st.none() | st.booleans() | INTEGERS | floats | text
    if binary:
        leaves = leaves | st.binary(max_size=64)
    tree = st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=5) | st.dictionaries(text, children, max_size=5)
        ),
        max_leaves=16,
    )
    deep = st.builds(_nested, st.integers(20, 250), leaves)
    return st.one_of(tree, tree, tree, deep, HUGE_TEXT)


ANY_JSON = json_values(ODD_TEXT, FLOATS, binary=True)
CLEAN_JSON = json_values(
    CLEAN_TEXT, st.floats(allow_nan=False, allow_infinity=False), False
)

#: Routes of tests/apps.py that answer any input without a server error, and
#: change nothing the other tests see.
SAFE_PATHS = [
    "/echo",
    "/hello/3",
    "/headers",
    "/health",
    "/text",
    "/list",
    "/cookies",
    "/binary",
    "/stream",
    "/redirect",
    "/empty",
    "/not-modified",
    "/things/1",
    "/api/v1/items/2",
    "/nope",
]
#: URL templates ({host} is the server's host and port).
HOSTILE_URLS = [
    "http://{host}/echo?a=1",
    "https://{host}/hello/7",
    "ws://{host}/echo",
    "HTTP://{host}/echo",
    "http://user:pass@{host}/echo",
    "http://{host}",
    "http://evil.example/echo",
    "//evil.example/echo",
    "//{host}/echo",
    "javascript:alert(1)",
    "data:text/plain,hi",
    "file:///etc/passwd",
    "mailto:a@b",
    "http://[::1]/echo",
    "http://[/echo",
    "/socket.io/?EIO=4&transport=polling",
    "/socket.io",
    "/%73ocket.io/",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/echo?%ff%fe=%c3%28",
    "/echo?a=%zz&b=%",
    "/\\evil.example",
    "/echo#\ud800",
    "/echo?x=\ud800",
    "/x\ud800",
    "/x\udfff\ud800/y",
    "/echo\x00",
    "/echo\r\nX-Injected: 1",
    "/echo\t",
    "/ech\u00f6",
    "/\U0001f36a?\U0001f36a=\U0001f36a",
    "/echo?" + "&" * 5000,
    "/" + "a" * 9000,
    "/" + "\u00e9" * 3000,
    "*",
    "?",
    "#",
    "/",
    "",
    " /echo",
    "/echo ",
    "/echo?a b=c d",
]
URLS = st.one_of(
    st.sampled_from(SAFE_PATHS),
    st.sampled_from(HOSTILE_URLS),
    st.builds(
        lambda path, text: f"{path}?q={text}", st.sampled_from(SAFE_PATHS), ODD_TEXT
    ),
    st.builds(lambda text: f"/{text}", ODD_TEXT),
    ODD_TEXT,
    st.none(),
    INTEGERS,
    st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
    st.binary(max_size=8),
)
HEADER_NAMES = st.one_of(
    st.from_regex(r"X-Fz-[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}", fullmatch=True),
    st.sampled_from(
        [
            "Content-Type",
            "content-type",
            "Cookie",
            "Host",
            "Origin",
            "X-Forwarded-Host",
            "X-Forwarded-For",
            "Sec-WebSocket-Key",
            "Proxy-Authorization",
            "Content-Length",
            "Transfer-Encoding",
            "Connection",
            "Authorization",
            "Accept",
            "If-None-Match",
        ]
    ),
    ODD_TEXT,
    st.sampled_from(["", " ", "X Space", "X:Colon", "X\r\nInjected", "Ünï", "\ud800"]),
)
HEADER_VALUES = st.one_of(
    st.text(st.characters(max_codepoint=0xFF), max_size=24),
    ODD_TEXT,
    INTEGERS,
    FLOATS,
    st.booleans(),
    st.none(),
    st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
    st.binary(max_size=8),
    st.just("x" * 20_000),
)
HEADERS = st.one_of(
    st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=6),
    st.none(),
    ANY_JSON,
)
PAYLOADS = st.one_of(
    st.fixed_dictionaries(
        {"url": URLS},
        optional={
            "data": ANY_JSON,
            "headers": HEADERS,
            "method": st.one_of(
                st.sampled_from(METHODS), ODD_TEXT, INTEGERS, st.none()
            ),
            "extra": ANY_JSON,
        },
    ),
    st.fixed_dictionaries(
        {"url": st.sampled_from(SAFE_PATHS)},
        optional={"data": ANY_JSON, "headers": HEADERS},
    ),
    ANY_JSON,
)


# --- fixtures ---------------------------------------------------------------------


class Connection:
    """A python-socketio client to one server, connected again whenever a
    test left it closed."""

    def __init__(self, server: ServerProcess, pool: Clients) -> None:
        self.server = server
        self.pool = pool
        self._client: socketio.Client | None = None

    @property
    def client(self) -> socketio.Client:
        if self._client is None or not self._client.connected:
            self._client = self.pool.connect(self.server)
        return self._client

    def call(self, event: str, payload: t.Any) -> dict[str, t.Any]:
        return t.cast(dict, self.client.call(event, payload, timeout=CALL_TIMEOUT))


@pytest.fixture(scope="module")
def fuzz_pool() -> t.Iterator[Clients]:
    pool = Clients()
    yield pool
    pool.close()


@pytest.fixture
def app_server(
    start_server: t.Callable[..., ServerProcess], mode: str
) -> ServerProcess:
    return start_server(mode, *OWN)


@pytest.fixture
def secure_server(
    start_server: t.Callable[..., ServerProcess], mode: str
) -> ServerProcess:
    return start_server(mode, *SECURITY)


@pytest.fixture
def conn(app_server: ServerProcess, fuzz_pool: Clients) -> Connection:
    return Connection(app_server, fuzz_pool)


# --- checks -----------------------------------------------------------------------


def _wire_size(value: t.Any) -> int:
    """About how many bytes python-socketio's client sends for ``value``."""
    return len(json.dumps(value, default=lambda data: "x" * len(data)))


def check_jwr(jwr: t.Any, context: t.Any) -> int:
    """The JWR has the shape sails.io.js reads; its status."""
    assert isinstance(jwr, dict), (jwr, context)
    assert set(jwr) == {"body", "headers", "statusCode"}, (jwr, context)
    status = jwr["statusCode"]
    assert isinstance(status, int) and not isinstance(status, bool), (jwr, context)
    assert isinstance(jwr["headers"], dict), (jwr, context)
    assert all(isinstance(v, str) for v in jwr["headers"].values()), (jwr, context)
    return status


def check_client_error(jwr: t.Any, context: t.Any, status: int = 400) -> None:
    """A 4xx JWR that says what was wrong."""
    assert check_jwr(jwr, context) == status, (jwr, context)
    body = jwr["body"]
    assert isinstance(body, dict), (jwr, context)
    assert isinstance(body.get("error"), str) and body["error"], (jwr, context)
    assert isinstance(body.get("message"), str) and body["message"], (jwr, context)


def assert_serves(server: ServerProcess) -> None:
    """The server is up and serves a fresh socket at once."""
    assert server.process.poll() is None, f"the server died:\n{server.stderr[-3000:]}"
    raw = RawSocket(server.port)
    try:
        raw.connect_namespace()
        raw.emit("get", {"url": "/health"}, 1)
        ack = raw.wait_ack(1, DEADLINE)
        assert ack is not None, "a fresh socket was not served"
        assert ack.data[0]["statusCode"] == 200
    finally:
        raw.close()


def _is_lone_surrogate_text(value: t.Any) -> bool:
    # As the wire carries it: JSON escapes, in which a high and a low
    # surrogate side by side are one character.
    if not isinstance(value, str):
        return False
    return bool(re.search("[\ud800-\udfff]", json.loads(json.dumps(value))))


def _refused_url(url: str, host: str) -> int | None:
    """The status a URL must be refused with, or None if it may be served."""
    if len(url) > 8192:
        return 414
    if _is_lone_surrogate_text(url.partition("#")[0]):
        return 400
    if re.search("[\x00-\x1f\x7f]", url.partition("#")[0]):
        return 400
    if not url.startswith("/") or url.startswith("//"):
        try:
            parts = urlsplit(url)
        except ValueError:
            return 400
        if parts.scheme not in ("", "http", "https", "ws", "wss"):
            return 400
        if parts.netloc.lower() != host.lower():
            return 400
        path = parts.path or "/"
    else:
        path = url.partition("?")[0].partition("#")[0]
    path = unquote(path, "latin-1")
    if path == "/socket.io" or path.startswith("/socket.io/"):
        return 400
    return None


# --- layer (a): random payloads through python-socketio's client ---------------------


@fuzz(60)
@given(event=st.sampled_from(METHODS), payload=PAYLOADS)
def test_any_payload_is_answered_without_a_server_error(
    conn: Connection, app_server: ServerProcess, event: str, payload: t.Any
) -> None:
    if isinstance(payload, dict) and isinstance(payload.get("url"), str):
        payload["url"] = payload["url"].replace("{host}", app_server.host)
    # Over Engine.IO's message limit the server closes the socket, as it must:
    # that is the oversized-frame test's business.
    assume(_wire_size(payload) < MAX_MESSAGE * 0.9)
    jwr = conn.call(event, payload)
    status = check_jwr(jwr, (event, payload))
    assert 200 <= status < 500, (status, jwr["body"], event, payload)
    if 400 <= status < 500 and isinstance(jwr["body"], dict) and "error" in jwr["body"]:
        check_client_error(jwr, (event, payload), status)
    assert conn.client.connected, "the server closed a socket for a valid frame"
    health = conn.call("get", {"url": "/health"})
    assert (health["statusCode"], health["body"]) == (200, "ok")


@fuzz(40)
@given(event=st.sampled_from(BODY_METHODS), data=CLEAN_JSON)
def test_json_data_reaches_the_view_as_sent(
    conn: Connection, event: str, data: t.Any
) -> None:
    jwr = conn.call(event, {"url": "/echo", "data": data})
    assert check_jwr(jwr, data) == 200, jwr["body"]
    body = jwr["body"]
    raw = bytes.fromhex(body["body_hex"])
    if data is None:
        assert raw == b""
    elif isinstance(data, str):
        assert raw == data.encode()
        assert body["content_type"] == "text/plain; charset=utf-8"
    else:
        assert body["content_type"] == "application/json"
        assert json.loads(raw, parse_constant=_refuse) == data
    assert body["content_length"] == (str(len(raw)) if data is not None else None)


@fuzz(30)
@given(event=st.sampled_from(BODY_METHODS), data=st.binary(max_size=200_000))
def test_binary_data_reaches_the_view_byte_for_byte(
    conn: Connection, event: str, data: bytes
) -> None:
    jwr = conn.call(event, {"url": "/echo", "data": data})
    assert check_jwr(jwr, data) == 200, jwr["body"]
    assert jwr["body"]["body_hex"] == data.hex()
    assert jwr["body"]["content_type"] == "application/octet-stream"


def _refuse(name: str) -> t.NoReturn:
    raise ValueError(f"{name} is not JSON")


POISONS = {
    # data that no JSON or WSGI request can carry: always a 400
    "surrogate-string": lambda text: f"a{text}b",
    "surrogate-in-get": lambda text: {"q": f"x{text}"},
    "surrogate-key-in-get": lambda text: {f"k{text}": "1"},
    "surrogate-in-form": lambda text: {"q": text},
    "nan": lambda text: {"a": [1, float("nan")]},
    "infinity": lambda text: {"a": {"b": float("inf")}},
    "minus-infinity": lambda text: [float("-inf")],
    "nan-in-get": lambda text: {"a": float("nan")},
    "binary-in-object": lambda text: {"a": b"\x00\xff"},
    "binary-in-array": lambda text: [1, b"\x01"],
    "binary-deep": lambda text: {"a": [{"b": b"x"}]},
}


@fuzz(40)
@given(
    event=st.sampled_from(BODY_METHODS),
    kind=st.sampled_from(sorted(POISONS)),
    surrogate=st.characters(categories=["Cs"]),
)
def test_malformed_data_is_a_400(
    conn: Connection, event: str, kind: str, surrogate: str
) -> None:
    data = POISONS[kind](surrogate)
    payload: dict[str, t.Any] = {"url": "/echo", "data": data}
    if kind.endswith("-in-get"):
        event = "get"
    elif kind == "surrogate-in-form":
        payload["headers"] = {"Content-Type": "application/x-www-form-urlencoded"}
    check_client_error(conn.call(event, payload), (event, payload))


def check_url(conn: Connection, server: ServerProcess, event: str, url: t.Any) -> None:
    if isinstance(url, str):
        url = url.replace("{host}", server.host)
    jwr = conn.call(event, {"url": url})
    status = check_jwr(jwr, url)
    assert 200 <= status < 500, (status, jwr["body"], url)
    if not isinstance(url, str) or not url:
        check_client_error(jwr, url)
        return
    refused = _refused_url(url, server.host)
    if refused is not None:
        check_client_error(jwr, url, refused)


@pytest.mark.parametrize("event", ["get", "post"])
def test_every_hostile_url_is_refused_or_served(
    conn: Connection, app_server: ServerProcess, event: str
) -> None:
    for url in HOSTILE_URLS:
        check_url(conn, app_server, event, url)


@fuzz(40)
@given(event=st.sampled_from(METHODS), url=URLS)
def test_random_urls_are_refused_or_served(
    conn: Connection, app_server: ServerProcess, event: str, url: t.Any
) -> None:
    check_url(conn, app_server, event, url)


def _header_text(value: t.Any) -> str | None:
    """What a header value becomes, as JavaScript's String() would make it,
    or None if it is not a valid header value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return None  # checked by the any-payload test only
    if not isinstance(value, str):
        return None
    if re.search("[\x00-\x08\x0a-\x1f\x7f]", value):
        return None
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return None
    return value


#: Payload headers that belong to the connection and are dropped: whether an
#: invalid value in one of them is refused or dropped with it is left open.
DROPPED = {
    "host",
    "cookie",
    "cookie2",
    "origin",
    "forwarded",
    "x-real-ip",
    "via",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "keep-alive",
    "te",
    "trailer",
    "expect",
}


def _is_dropped(name: str) -> bool:
    name = _fold(name)
    return name in DROPPED or name.startswith(("x-forwarded-", "proxy-", "sec-"))


def _fold(name: str) -> str:
    # X-A_b and x-a-B are one WSGI key, HTTP_X_A_B.
    return name.lower().replace("_", "-")


TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


FZ_NAMES = st.from_regex(r"X-Fz-[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}", fullmatch=True)
LATIN_1_VALUES = st.text(
    st.characters(max_codepoint=0xFF, exclude_characters="\x7f"), max_size=24
).filter(lambda value: not re.search("[\x00-\x08\x0a-\x1f]", value))


@fuzz(50)
@given(
    headers=st.dictionaries(
        st.one_of(FZ_NAMES, FZ_NAMES, FZ_NAMES, HEADER_NAMES),
        st.one_of(LATIN_1_VALUES, LATIN_1_VALUES, HEADER_VALUES),
        min_size=1,
        max_size=5,
    )
)
def test_headers_are_refused_or_delivered_as_sent(
    conn: Connection, headers: dict[str, t.Any]
) -> None:
    jwr = conn.call("get", {"url": "/headers", "headers": headers})
    status = check_jwr(jwr, headers)
    if any(isinstance(value, float) for value in headers.values()):
        assert 200 <= status < 500, (jwr, headers)
        return
    if not all(TOKEN.fullmatch(name) for name in headers):
        check_client_error(jwr, headers)
        return
    invalid = [name for name, value in headers.items() if _header_text(value) is None]
    if any(not _is_dropped(name) for name in invalid):
        check_client_error(jwr, headers)
        return
    if invalid:  # only in headers that are dropped anyway: either answer
        assert status in (200, 400), (jwr, headers)
        return
    assert status == 200, (jwr, headers)
    seen = {_fold(name): value for name, value in jwr["body"].items()}
    merged: dict[str, list[str]] = {}
    for name, value in headers.items():
        if _fold(name).startswith("x-fz-"):
            merged.setdefault(_fold(name), []).append(t.cast(str, _header_text(value)))
    for name, values in merged.items():
        assert seen.get(name) == ", ".join(values), (name, values, jwr["body"])


# --- layer (b): raw frames ------------------------------------------------------------


class Step(t.NamedTuple):
    """One frame of a raw sequence.

    ``ack_id`` is set for a well-formed request event; ``violation`` marks a
    frame that breaks the protocol, after which the server may close.
    """

    opcode: int
    payload: bytes
    ack_id: int | None = None
    violation: bool = True


def _request_step(event: str, url: str, ack_id: int) -> Step:
    text = f"42{ack_id}{json.dumps([event, {'url': url}])}"
    return Step(1, text.encode(), ack_id, violation=False)


def _text_step(text: str, violation: bool = True) -> Step:
    return Step(1, text.encode("utf-8", "surrogatepass"), None, violation)


REQUEST_URLS = ["/health", "/whoami", "/public", "/slow?s=0.2", "/private", "/nope"]
ACK_IDS = st.integers(0, 3) | st.integers(0, 2**53) | st.just(10**99 - 1)
BROKEN_JSON = st.builds(
    lambda text, cut: text[:cut],
    st.sampled_from(
        [
            '["get",{"url":"/health"}]',
            '["post",{"url":"/upload","data":{"a":[1,2,{"b":null}]}}]',
            '{"get":1}',
            '"get"',
            "[]",
            "[null]",
            '["get"]',
            '["get",null,1,2]',
            '[1,{"url":"/health"}]',
            '["get",{"url":"/health"},{"_placeholder":true,"num":0}]',
        ]
    ),
    st.integers(0, 60),
)
SIO_TYPES = st.sampled_from(list("0123456789") + ["", "a", "-", " ", "\ud800"])
ATTACHMENTS = st.sampled_from(["", "0-", "1-", "2-", "9-", "-1-", "99999999999-", "x-"])
NAMESPACES = st.sampled_from(["", "/,", "/nope,", "/?x=1,", "/socket.io,", "/\ud800,"])
ID_TEXT = st.one_of(
    st.just(""),
    st.integers(0, 10**6).map(str),
    st.integers(1, 130).map(lambda n: "9" * n),
    st.sampled_from(["-1", "1.5", "0x10", "01"]),
)
PLACEHOLDER_EVENT = st.builds(
    lambda count, nums, binaries, ident: [
        _text_step(
            f"45{count}-{ident}"
            + json.dumps(
                [
                    "post",
                    {
                        "url": "/upload",
                        "data": [{"_placeholder": True, "num": n} for n in nums],
                    },
                ]
            )
        ),
        *[Step(2, data) for data in binaries],
    ],
    st.integers(0, 3),
    st.lists(st.integers(-1, 4), max_size=3),
    st.lists(st.binary(max_size=16), max_size=3),
    st.sampled_from(["", "7"]),
)
GARBAGE_STEP = st.one_of(
    st.builds(
        lambda kind, att, ns, ident, data: _text_step(f"4{kind}{att}{ns}{ident}{data}"),
        SIO_TYPES,
        ATTACHMENTS,
        NAMESPACES,
        ID_TEXT,
        BROKEN_JSON | st.just("") | st.builds(lambda d: json.dumps(d), CLEAN_JSON),
    ),
    st.builds(lambda text: _text_step(text), st.text(ODD_CHARACTERS, max_size=40)),
    st.sampled_from(
        ["", "0", "3", "5", "6", "7", "9", "b", "bAAA", "b!!", "4", "40"]
    ).map(_text_step),
    st.builds(lambda data: Step(2, data), st.binary(max_size=64)),
    st.builds(lambda data: Step(1, b"42" + data), st.binary(min_size=1, max_size=16)),
    st.builds(lambda depth: _text_step("42" + "[" * depth), st.integers(100, 100_000)),
    st.builds(
        lambda n: _text_step('42["post",{"url":"/upload","data":"' + "x" * n + '"}]'),
        st.integers(MAX_MESSAGE, MAX_MESSAGE + 100_000),
    ),
    st.builds(
        lambda n: Step(2, b"\x00" * n), st.integers(MAX_MESSAGE, MAX_MESSAGE + 10)
    ),
)
REQUEST_STEP = st.builds(
    _request_step, st.sampled_from(METHODS[:2]), st.sampled_from(REQUEST_URLS), ACK_IDS
)
STEPS = st.lists(
    st.one_of(
        REQUEST_STEP.map(lambda step: [step]),
        GARBAGE_STEP.map(lambda step: [step]),
        PLACEHOLDER_EVENT,
    ),
    min_size=1,
    max_size=6,
).map(lambda groups: [step for group in groups for step in group])


def _send(raw: RawSocket, step: Step) -> None:
    raw.send_frame(step.payload, step.opcode)


def _claimed_id(step: Step) -> int | None:
    """The ack id python-socketio reads in a frame, if any (a random frame
    can be a valid request by chance: its ack is allowed, not required)."""
    if step.opcode != 1:
        return None
    try:
        text = step.payload.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text.startswith("4"):
        return None
    rest = text[2:]
    dash = rest.find("-")
    if dash > 0 and rest[:dash].isdigit():
        rest = rest[dash + 1 :]
    if rest.startswith("/"):
        comma = rest.find(",")
        rest = "" if comma < 0 else rest[comma + 1 :]
    digits = 0
    while digits < min(len(rest), 100) and rest[digits].isdigit():
        digits += 1
    return int(rest[:digits]) if digits else None


def check_raw_sequence(
    server: ServerProcess, steps: list[Step], connect_first: bool
) -> None:
    raw = RawSocket(server.port)
    try:
        if connect_first:
            raw.connect_namespace()
        for step in steps:
            _send(raw, step)
        if not connect_first and not raw.closed:
            raw.send_text("40")
        marker = 2**60
        if not raw.closed:
            raw.emit("get", {"url": "/health"}, marker)
        # A request sent before connecting to its namespace breaks the
        # protocol: the server closes the connection, as the JavaScript
        # Socket.IO server does.
        violation = any(step.violation for step in steps) or (
            not connect_first and any(step.ack_id is not None for step in steps)
        )
        requests_sent: dict[int, int] = {}
        for step in steps:
            if step.ack_id is not None:
                requests_sent[step.ack_id] = requests_sent.get(step.ack_id, 0) + 1
        expected = dict(requests_sent)
        expected[marker] = 1

        def settled() -> bool:
            return raw.closed or all(
                len(raw.acks(ack_id)) >= count for ack_id, count in expected.items()
            )

        deadline = time.monotonic() + DEADLINE
        while not settled() and raw.pump(deadline):
            pass
        allowed = {_claimed_id(step) for step in steps} | set(expected)
        for packet in raw.packets:
            if packet.type in (3, 6):
                assert packet.id in allowed, ("an ack for no request", packet, steps)
                status = check_jwr(packet.data[0] if packet.data else None, steps)
                assert status < 500, (packet, steps)
        for ack_id, count in expected.items():
            got = len(raw.acks(ack_id))
            assert got <= count, (f"{got} acks for ack id {ack_id}", steps)
            if not raw.closed:
                assert got == count, (
                    f"silence: {got} of {count} acks for ack id {ack_id} within"
                    f" {DEADLINE}s and the socket still open",
                    steps,
                )
        if raw.closed:
            assert violation, ("the server closed a socket for valid frames", steps)
    finally:
        raw.abort()
    assert_serves(server)


@fuzz(40)
@given(steps=STEPS, connect_first=st.booleans() | st.just(True))
@example(
    steps=[
        _text_step(
            '451-["post",{"url":"/upload","data":{"_placeholder":true,"num":0}}]'
        )
    ],
    connect_first=True,
)
def test_raw_frames_never_silence_a_socket_or_the_server(
    secure_server: ServerProcess, steps: list[Step], connect_first: bool
) -> None:
    check_raw_sequence(secure_server, steps, connect_first)


# --- the defects found, one minimal reproduction each ---------------------------------


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("get", {"url": "/x\ud800"}),
        ("get", {"url": "/echo?q=\ud800"}),
        ("post", {"url": "/echo", "data": "\ud800"}),
        ("get", {"url": "/echo", "data": {"q": "\udfff"}}),
        ("get", {"url": "/echo", "data": {"\ud800": "1"}}),
        (
            "post",
            {
                "url": "/echo",
                "data": {"q": "\ud800"},
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            },
        ),
        ("post", {"url": "/echo", "data": {"a": b"\x00"}}),
        ("put", {"url": "/echo", "data": [b"\x00"]}),
        ("get", {"url": "/headers", "headers": {"X-Euro": "\u20ac"}}),
        ("get", {"url": "/headers", "headers": {"X-Lone": "\ud800"}}),
        ("post", {"url": "/echo", "data": float("nan")}),
        ("post", {"url": "/echo", "data": {"a": [float("inf")]}}),
        ("patch", {"url": "/echo", "data": {"a": float("-inf")}}),
    ],
    ids=[
        "surrogate-url",
        "surrogate-query",
        "surrogate-string-data",
        "surrogate-get-data",
        "surrogate-get-key",
        "surrogate-form-data",
        "binary-in-object",
        "binary-in-array",
        "header-not-latin-1",
        "header-surrogate",
        "nan",
        "infinity",
        "minus-infinity",
    ],
)
def test_malformed_input_is_a_400(
    conn: Connection, event: str, payload: dict[str, t.Any]
) -> None:
    check_client_error(conn.call(event, payload), payload)


def test_reused_ack_id_in_flight_is_refused_not_lost(
    secure_server: ServerProcess,
) -> None:
    log_start = len(secure_server.stderr)
    raw = RawSocket(secure_server.port)
    try:
        raw.connect_namespace()
        raw.emit("get", {"url": "/slow?s=0.5"}, 7)
        raw.emit("get", {"url": "/slow?s=0.5"}, 7)
        deadline = time.monotonic() + DEADLINE
        while len(raw.acks(7)) < 2 and raw.pump(deadline):
            pass
        if not raw.closed:
            statuses = sorted(p.data[0]["statusCode"] for p in raw.acks(7))
            assert statuses == [200, 400], statuses
            # Once answered, the id may be used again.
            raw.emit("get", {"url": "/health"}, 7)
            deadline = time.monotonic() + DEADLINE
            while len(raw.acks(7)) < 3 and raw.pump(deadline):
                pass
            assert [p.data[0]["statusCode"] for p in raw.acks(7)][2:] == [200]
    finally:
        raw.abort()
    # Nothing was answered late, so nothing may be logged as a 504.
    wait_until(lambda: secure_server.stderr.count("/slow?s=0.5 SOCKET", log_start) >= 2)
    log = secure_server.stderr[log_start:]
    assert not re.search(r'SOCKET" 504 ', log), log
    assert "Dropped the late" not in log, log
    assert_serves(secure_server)


@pytest.mark.parametrize(
    "frames",
    [
        # one attachment announced, none sent
        ['451-["post",{"url":"/upload","data":{"_placeholder":true,"num":0}}]'],
        # two announced, one sent
        ['452-["post",{"url":"/upload","data":[{"_placeholder":true,"num":0}]}]', b"a"],
        # a placeholder past the attachments
        ['451-["post",{"url":"/upload","data":{"_placeholder":true,"num":5}}]', b"a"],
        ['451-["post",{"url":"/upload","data":{"_placeholder":true,"num":-1}}]', b"a"],
        # no attachment announced for a binary event
        ['450-["post",{"url":"/upload","data":"x"}]'],
        ['45["post",{"url":"/upload","data":"x"}]'],
    ],
    ids=[
        "none-sent",
        "one-of-two",
        "num-out-of-range",
        "num-negative",
        "zero",
        "no-count",
    ],
)
def test_lying_binary_event_closes_the_socket_instead_of_silencing_it(
    secure_server: ServerProcess, frames: list[str | bytes]
) -> None:
    raw = RawSocket(secure_server.port)
    try:
        raw.connect_namespace()
        for frame in frames:
            if isinstance(frame, bytes):
                raw.send_binary(frame)
            else:
                raw.send_text(frame)
        raw.emit("get", {"url": "/health"}, 1)
        ack = raw.wait_ack(1, DEADLINE)
        assert ack is not None or raw.closed, (
            f"the socket went silent after {frames!r}: neither answered nor closed"
        )
    finally:
        raw.abort()
    assert_serves(secure_server)


def test_request_before_the_namespace_connect_is_answered_or_closed(
    secure_server: ServerProcess,
) -> None:
    raw = RawSocket(secure_server.port)
    try:
        raw.emit("get", {"url": "/health"}, 1)
        ack = raw.wait_ack(1, 2.0)
        if ack is None:
            assert raw.wait_closed(DEADLINE - 2.0), (
                "a request sent before the namespace connect got no answer and"
                " the socket stayed open"
            )
        else:
            check_client_error(ack.data[0], "before connect", ack.data[0]["statusCode"])
            assert 400 <= ack.data[0]["statusCode"] < 500
    finally:
        raw.abort()
    assert_serves(secure_server)


def test_huge_ack_id_is_answered_once(secure_server: ServerProcess) -> None:
    raw = RawSocket(secure_server.port)
    try:
        raw.connect_namespace()
        big = 10**99 - 1  # 99 digits: the most python-socketio reads
        raw.emit("get", {"url": "/health"}, big)
        ack = raw.wait_ack(big, DEADLINE)
        assert ack is not None and ack.data[0]["statusCode"] == 200
        raw.emit("get", {"url": "/health"}, 2)
        assert raw.wait_ack(2, DEADLINE) is not None
        assert len(raw.acks(big)) == 1
    finally:
        raw.close()


# python-socketio's client is left out: its disconnect() closes the socket
# without flushing what emit() queued, so its request may never be received.
@pytest.mark.parametrize("how", ["close", "namespace-disconnect", "one-write"])
def test_request_received_just_before_a_disconnect_runs_its_view(
    app_server: ServerProcess, fuzz_pool: Clients, how: str
) -> None:
    # A "save" clicked just before the tab closes must be saved: only the
    # answer is dropped.
    traces = []
    for _ in range(4):
        trace = f"fuzz-{uuid.uuid4().hex}"
        traces.append(trace)
        payload = {
            "url": "/echo",
            "data": {"save": trace},
            "headers": {"X-Trace": trace},
        }
        raw = RawSocket(app_server.port)
        raw.connect_namespace()
        if how == "one-write":
            # The request, the namespace disconnect and the close frame in
            # one TCP segment, as a closing tab may send them.
            event = f"421{json.dumps(['post', payload])}".encode()
            frames = ws_frame(event) + ws_frame(b"41") + ws_frame(b"\x03\xe8", 8)
            raw.sock.sendall(frames)
            raw.abort()
            continue
        raw.emit("post", payload, 1)
        if how == "namespace-disconnect":
            raw.send_text("41")  # as python-socketio's disconnect() sends
        raw.close()

    def ran(trace: str) -> bool:
        records = requests.get(f"{app_server.url}/records/{trace}", timeout=5).json()
        return ["request_finished", 200] in records

    wait_until(lambda: all(ran(trace) for trace in traces), DEADLINE)
    missing = [trace for trace in traces if not ran(trace)]
    assert not missing, f"{len(missing)} of {len(traces)} received requests never ran"
    assert_serves(app_server)


def test_forwarded_host_is_trusted_only_behind_proxy_fix(
    start_server: t.Callable[..., ServerProcess], mode: str, fuzz_pool: Clients
) -> None:
    url = "http://evil.example/hello/1"
    plain = fuzz_pool.connect(
        start_server(mode), headers={"X-Forwarded-Host": "evil.example"}
    )
    jwr = plain.call("get", {"url": url}, timeout=CALL_TIMEOUT)
    check_client_error(jwr, url)
    # Behind ProxyFix the app's host is the forwarded one, and Engine.IO
    # checks the Origin against it, as a browser on that host would send it.
    proxied = fuzz_pool.connect(
        start_server(mode, "--proxy-fix"),
        headers={"X-Forwarded-Host": "evil.example"},
        origin="http://evil.example",
    )
    jwr = proxied.call("get", {"url": url}, timeout=CALL_TIMEOUT)
    assert jwr["statusCode"] == 200, jwr


def test_oversized_frame_closes_only_its_socket(secure_server: ServerProcess) -> None:
    bystander = RawSocket(secure_server.port)
    raw = RawSocket(secure_server.port)
    try:
        bystander.connect_namespace()
        raw.connect_namespace()
        raw.send_text('42["post",{"url":"/upload","data":"' + "x" * MAX_MESSAGE + '"}]')
        assert raw.wait_closed(DEADLINE), "an oversized frame left its socket open"
        bystander.emit("get", {"url": "/health"}, 1)
        assert bystander.wait_ack(1, DEADLINE) is not None
    finally:
        raw.abort()
        bystander.close()
    assert_serves(secure_server)
