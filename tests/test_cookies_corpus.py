"""The connection's cookie jar against Cookie headers real browsers send.

Unit tests of ``flask_sockreq.cookies`` first (a corpus of real-world
headers, ``Expires`` against a fixed clock), then the same corpus end to end:
a socket login with such a handshake keeps its session, and the app sees the
browser's cookies as it would over HTTP, in every async mode.
"""

from __future__ import annotations

import time
import typing as t

import pytest
import requests
import socketio
from werkzeug.sansio.http import parse_cookie

from flask_sockreq import cookies as jar_module
from flask_sockreq.cookies import CookieJar
from flask_sockreq.cookies import parse_cookie_header
from tests.helpers import call
from tests.helpers import Clients
from tests.helpers import ServerProcess

HOST = "127.0.0.1"

#: Cookie headers as browsers send them (the bytes on the wire), each with
#: the (name, value) pairs a lenient split must find in it.
CORPUS: dict[str, tuple[bytes, list[tuple[str, str]]]] = {
    "google-analytics": (
        b"_ga=GA1.2.1234567890.1600000000; _gid=GA1.2.987654321.1600000000;"
        b" _gat_UA-12345-1=1; _ga_ABC123XYZ=GS1.1.1700000000.5.1.1700000100.0.0.0",
        [
            ("_ga", "GA1.2.1234567890.1600000000"),
            ("_gid", "GA1.2.987654321.1600000000"),
            ("_gat_UA-12345-1", "1"),
            ("_ga_ABC123XYZ", "GS1.1.1700000000.5.1.1700000100.0.0.0"),
        ],
    ),
    "cloudflare": (
        b"__cf_bm=8Jx.s3a_Bv1Q6OtrnL5pZq2FHmoJb4Q3bP9Rr1GcXxY-1700000000-0-"
        b"AcJ2/Yp0mCzYbK+4w=; cf_clearance=abc123-1700000000-0-150",
        [
            (
                "__cf_bm",
                "8Jx.s3a_Bv1Q6OtrnL5pZq2FHmoJb4Q3bP9Rr1GcXxY-1700000000-0-"
                "AcJ2/Yp0mCzYbK+4w=",
            ),
            ("cf_clearance", "abc123-1700000000-0-150"),
        ],
    ),
    "json-ish": (
        b'prefs={"theme":"dark","lang":"en"}; cart=[1,2,3]; flag=true',
        [
            ("prefs", '{"theme":"dark","lang":"en"}'),
            ("cart", "[1,2,3]"),
            ("flag", "true"),
        ],
    ),
    "spaces": (
        b"note=hello world; greeting=good  morning; theme=dark",
        [("note", "hello world"), ("greeting", "good  morning"), ("theme", "dark")],
    ),
    "quotes": (
        b'quoted="a b c"; escaped="x\\"y"; half="open; theme=dark',
        [
            ("quoted", '"a b c"'),
            ("escaped", '"x\\"y"'),
            ("half", '"open'),
            ("theme", "dark"),
        ],
    ),
    "at-sign": (
        b"AMCV_0123456789ABCDEF@AdobeOrg=-1124106680%7CMCIDTS%7C19675;"
        b" user@example.com=1; token=abc",
        [
            ("AMCV_0123456789ABCDEF@AdobeOrg", "-1124106680%7CMCIDTS%7C19675"),
            ("user@example.com", "1"),
            ("token", "abc"),
        ],
    ),
    "equals-in-values": (
        b"b64=dGVzdA==; pair=a=b=c; OptanonConsent=isGpcEnabled=0&datestamp=Mon+Nov"
        b"+20+2023+10%3A00%3A00+GMT%2B0100+(CET)&groups=C0001%3A1%2CC0002%3A0",
        [
            ("b64", "dGVzdA=="),
            ("pair", "a=b=c"),
            (
                "OptanonConsent",
                "isGpcEnabled=0&datestamp=Mon+Nov+20+2023+10%3A00%3A00+GMT%2B0100"
                "+(CET)&groups=C0001%3A1%2CC0002%3A0",
            ),
        ],
    ),
    "empty-values": (
        b'empty=; alsoempty=""; x=1',
        [("empty", ""), ("alsoempty", '""'), ("x", "1")],
    ),
    "duplicates": (
        b"dup=from-the-longer-path; theme=dark; dup=from-root",
        [("dup", "from-the-longer-path"), ("theme", "dark"), ("dup", "from-root")],
    ),
    "non-ascii-utf8": (
        # UTF-8 on the wire, read as latin-1 by WSGI: "à" ends in 0xA0.
        "city=Zürich; voilà=voilà; emoji=\U0001f36a".encode(),
        [
            ("city", "Zürich".encode().decode("latin-1")),
            ("voilà".encode().decode("latin-1"), "voilà".encode().decode("latin-1")),
            ("emoji", "\U0001f36a".encode().decode("latin-1")),
        ],
    ),
    "latin-1-bytes": (
        b"legacy=caf\xe9; theme=dark",
        [("legacy", "caf\xe9"), ("theme", "dark")],
    ),
    "nameless": (
        b"justavalue; a=1",
        [("", "justavalue"), ("a", "1")],
    ),
    "brackets-and-commas": (
        b"ajs_anonymous_id=%22abc%22; list=a,b,c; obj=(1,2); mp_abc_mixpanel=%7B%22"
        b"distinct_id%22%3A%20%22x%22%7D",
        [
            ("ajs_anonymous_id", "%22abc%22"),
            ("list", "a,b,c"),
            ("obj", "(1,2)"),
            ("mp_abc_mixpanel", "%7B%22distinct_id%22%3A%20%22x%22%7D"),
        ],
    ),
    "hubspot": (
        b"hubspotutk=5f3b0b0c1d2e3f4a5b6c7d8e9f0a1b2c;"
        b" __hstc=12345.5f3b0b0c.1600000000000.1600000000000.1600000000000.1;"
        b" __hssrc=1",
        [
            ("hubspotutk", "5f3b0b0c1d2e3f4a5b6c7d8e9f0a1b2c"),
            ("__hstc", "12345.5f3b0b0c.1600000000000.1600000000000.1600000000000.1"),
            ("__hssrc", "1"),
        ],
    ),
}


def environ_value(raw: bytes) -> str:
    """The header as a WSGI environ holds it (PEP 3333: latin-1)."""
    return raw.decode("latin-1")


# --- unit: parsing and serving the handshake header --------------------------


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_split_keeps_every_cookie_as_sent(name: str) -> None:
    raw, pairs = CORPUS[name]
    assert parse_cookie_header(environ_value(raw)) == pairs


def test_split_tolerates_irregular_separators() -> None:
    header = "a=1;b=2 ;  c = 3 ;;\t d=\tx y\t; ;e"
    assert parse_cookie_header(header) == [
        ("a", "1"),
        ("b", "2"),
        ("c", "3"),
        ("d", "x y"),
        ("", "e"),
    ]
    assert parse_cookie_header("") == []
    assert parse_cookie_header(None) == []


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_pristine_jar_serves_the_handshake_header_itself(name: str) -> None:
    header = environ_value(CORPUS[name][0])
    jar = CookieJar(header, HOST)
    assert jar.header_for("/", False) is header
    assert jar.header_for("/deep/path", True) is header
    assert len(jar) == len(CORPUS[name][1])


def test_pristine_jar_keeps_no_copy() -> None:
    header = environ_value(CORPUS["google-analytics"][0])
    jar = CookieJar(header, HOST)
    assert not hasattr(jar, "__dict__")
    # Nothing parsed yet: the only state is the header and the host.
    assert jar._cookies is None
    # An update that sets nothing (a cookie for another domain) keeps it so.
    jar.update(["x=1; Domain=other.example"], "/")
    assert jar._cookies is None
    assert jar.header_for("/", False) is header


def test_empty_handshake_header() -> None:
    for header in (None, ""):
        jar = CookieJar(header, HOST)
        assert jar.header_for("/", False) is None
        assert len(jar) == 0
        jar.update(["a=1; Path=/"], "/")
        assert jar.header_for("/", False) == "a=1"


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_a_set_cookie_keeps_the_browser_cookies_byte_for_byte(name: str) -> None:
    header = environ_value(CORPUS[name][0])
    jar = CookieJar(header, HOST)
    jar.update(["session=s1; HttpOnly; Path=/"], "/login")
    assert jar.header_for("/", False) == f"{header}; session=s1"
    # werkzeug (request.cookies) reads the same cookies as from the browser.
    seen = parse_cookie(jar.header_for("/x", False))
    assert seen.pop("session") == "s1"
    assert list(seen.items(multi=True)) == list(parse_cookie(header).items(multi=True))


def test_set_cookie_replaces_a_handshake_cookie_in_place() -> None:
    jar = CookieJar("a=1; session=old value; b=2", HOST)
    jar.update(["session=new; Path=/"], "/")
    assert jar.header_for("/", False) == "a=1; session=new; b=2"
    jar.update(["session=; Max-Age=0; Path=/"], "/")
    assert jar.header_for("/", False) == "a=1; b=2"
    assert len(jar) == 2


def test_duplicate_names_are_all_kept_and_the_root_one_replaced() -> None:
    header = environ_value(CORPUS["duplicates"][0])
    jar = CookieJar(header, HOST)
    jar.update(["other=1"], "/")
    assert jar.header_for("/", False) == f"{header}; other=1"
    jar.update(["dup=new; Path=/"], "/")
    assert jar.header_for("/", False) == (
        "dup=from-the-longer-path; theme=dark; dup=new; other=1"
    )
    assert len(jar) == 4


def test_nameless_cookie_is_sent_as_browsers_send_it() -> None:
    jar = CookieJar("justavalue; a=1", HOST)
    jar.update(["b=2"], "/")
    assert jar.header_for("/", False) == "justavalue; a=1; b=2"


def test_set_cookie_value_keeps_non_ascii_bytes() -> None:
    # Set-Cookie values reach the jar as latin-1 WSGI strings too.
    value = "voilà".encode().decode("latin-1")
    assert value.endswith("\xa0")
    jar = CookieJar(None, HOST)
    jar.update([f"v={value}; Path=/"], "/")
    assert jar.header_for("/", False) == f"v={value}"


def test_deeper_paths_are_sent_first_and_secure_only_over_tls() -> None:
    jar = CookieJar("hs=1", HOST)
    jar.update(["deep=2; Path=/a/b", "mid=3; Path=/a", "tls=4; Secure"], "/")
    assert jar.header_for("/a/b/c", False) == "deep=2; mid=3; hs=1"
    assert jar.header_for("/a/b/c", True) == "deep=2; mid=3; hs=1; tls=4"
    assert jar.header_for("/ab", False) == "hs=1"


def test_domain_cookies() -> None:
    jar = CookieJar(None, "app.example.com")
    jar.update(
        [
            "parent=1; Domain=.example.com",
            "self=2; Domain=APP.example.com",
            "sibling=3; Domain=other.example.com",
            "tld=4; Domain=com.evil",
        ],
        "/",
    )
    assert jar.header_for("/", False) == "parent=1; self=2"
    ip = CookieJar(None, "10.0.0.1")
    ip.update(["a=1; Domain=0.0.1", "b=2; Domain=10.0.0.1"], "/")
    assert ip.header_for("/", False) == "b=2"


# --- unit: Expires and Max-Age against a fixed clock --------------------------

#: Sun, 06 Nov 1994 08:49:37 UTC, the date of RFC 9110's examples.
MOMENT = 784111777.0
EXPIRES_FORMS = [
    "Sun, 06 Nov 1994 08:49:37 GMT",  # IMF-fixdate
    "Sunday, 06-Nov-94 08:49:37 GMT",  # RFC 850
    "Sun Nov  6 08:49:37 1994",  # asctime: no zone, UTC
    "Sun, 06 Nov 1994 08:49:37 -0000",  # RFC 2822's "unknown zone": UTC
    "Sun, 06 Nov 1994 08:49:37 +0000",
    "Sun, 06 Nov 1994 10:49:37 +0200",
    "Sun, 06 Nov 1994 03:49:37 EST",
]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> t.Iterator[list[float]]:
    """A fixed clock for the jar, in a local zone far from UTC so that a
    date read as local time shows."""
    now = [MOMENT]
    monkeypatch.setattr(jar_module, "_now", lambda: now[0])
    monkeypatch.setenv("TZ", "IST-5:30")
    time.tzset()
    yield now
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("expires", EXPIRES_FORMS)
def test_expires_forms_are_read_as_rfc_6265_says(
    clock: list[float], expires: str
) -> None:
    jar = CookieJar(None, HOST)
    clock[0] = MOMENT - 1
    jar.update([f"a=1; Expires={expires}"], "/")
    assert jar.header_for("/", False) == "a=1"
    clock[0] = MOMENT
    assert jar.header_for("/", False) is None


@pytest.mark.parametrize("expires", EXPIRES_FORMS)
def test_expires_in_the_past_deletes(clock: list[float], expires: str) -> None:
    jar = CookieJar("a=0; b=1", HOST)
    clock[0] = MOMENT + 1
    jar.update([f"a=1; Expires={expires}"], "/")
    assert jar.header_for("/", False) == "b=1"


@pytest.mark.parametrize(
    "expires", ["", "tomorrow", "Sun, 06 Nov 1994", "99999999999", "Sun, 99 Foo 1994"]
)
def test_unreadable_expires_is_ignored(clock: list[float], expires: str) -> None:
    jar = CookieJar(None, HOST)
    jar.update([f"a=1; Expires={expires}"], "/")
    clock[0] = MOMENT + 10**9
    assert jar.header_for("/", False) == "a=1"


def test_max_age_wins_over_expires(clock: list[float]) -> None:
    jar = CookieJar(None, HOST)
    jar.update(
        [
            "long=1; Max-Age=100; Expires=Sun, 06 Nov 1994 08:49:36 GMT",
            "short=2; Expires=Sun, 06 Nov 2094 08:49:36 GMT; Max-Age=10",
        ],
        "/",
    )
    clock[0] = MOMENT + 9
    assert jar.header_for("/", False) == "long=1; short=2"
    clock[0] = MOMENT + 10
    assert jar.header_for("/", False) == "long=1"
    clock[0] = MOMENT + 100
    assert jar.header_for("/", False) is None


@pytest.mark.parametrize("max_age", ["0", "-1", "-100"])
def test_max_age_zero_or_negative_deletes(clock: list[float], max_age: str) -> None:
    jar = CookieJar("a=0; b=1", HOST)
    jar.update([f"a=1; Max-Age={max_age}"], "/")
    assert jar.header_for("/", False) == "b=1"


@pytest.mark.parametrize("max_age", ["1e3", "+5", "5_0", "", "-", "٣", "1.5"])
def test_malformed_max_age_is_ignored(clock: list[float], max_age: str) -> None:
    # RFC 6265, 5.2.2: digits with an optional "-", else the attribute is
    # ignored, and Expires (here, far away) decides.
    jar = CookieJar(None, HOST)
    jar.update([f"a=1; Max-Age={max_age}; Expires=Sun, 06 Nov 1994 09:49:37 GMT"], "/")
    clock[0] = MOMENT + 3599
    assert jar.header_for("/", False) == "a=1"
    clock[0] = MOMENT + 3600
    assert jar.header_for("/", False) is None


# --- end to end: a real server in every mode -----------------------------------


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _get(client: socketio.Client, url: str) -> dict[str, t.Any]:
    return call(client, "get", url)


#: websocket-client sends the handshake's headers as UTF-8, so the corpus
#: headers that are not UTF-8 are left to the unit tests.
E2E_CORPUS = sorted(name for name, (raw, _) in CORPUS.items() if _is_utf8(raw))


@pytest.mark.parametrize("name", E2E_CORPUS)
def test_socket_login_holds_with_real_browser_cookies(
    clients: Clients, secure_server: ServerProcess, name: str
) -> None:
    raw = CORPUS[name][0]
    header = environ_value(raw)
    client = clients.connect(secure_server, headers={"Cookie": raw.decode("utf-8")})
    assert _get(client, "/whoami")["body"]["cookie"] == header
    assert _get(client, "/me")["statusCode"] == 401
    jwr = call(client, "post", "/login", data={"name": "ann"})
    assert jwr["statusCode"] == 200
    me = _get(client, "/me")
    assert (me["statusCode"], me["body"]) == (200, {"user": "ann", "is_socket": True})
    # The app sees the browser's cookies unchanged, and the session after them.
    sent = _get(client, "/whoami")["body"]["cookie"]
    assert sent.startswith(f"{header}; session=")
    # ...and reads them as it reads them over HTTP.
    over_http = requests.get(
        f"{secure_server.url}/cookies", headers={"Cookie": header}, timeout=5
    ).json()
    over_socket = _get(client, "/cookies")["body"]
    assert over_socket.pop("session")
    assert over_socket == over_http


def test_http_session_with_real_browser_cookies_reaches_the_socket(
    clients: Clients, secure_server: ServerProcess
) -> None:
    http = requests.Session()
    assert http.post(f"{secure_server.url}/login", json={"name": "bob"}, timeout=5).ok
    session = http.cookies["session"]
    header = (
        f"_ga=GA1.2.1.1; note=hello world; session={session};"
        ' prefs={"a":1}; user@example.com=1'
    )
    client = clients.connect(secure_server, headers={"Cookie": header})
    assert _get(client, "/me")["body"] == {"user": "bob", "is_socket": True}
    # A cookie set over the socket keeps the session and the other cookies.
    assert call(client, "post", "/session", data={"value": 7})["statusCode"] == 200
    assert _get(client, "/me")["body"] == {"user": "bob", "is_socket": True}
    assert _get(client, "/session")["body"] == {"value": 7}
    sent = _get(client, "/whoami")["body"]["cookie"]
    assert sent.startswith("_ga=GA1.2.1.1; note=hello world; session=")
    assert sent.endswith('; prefs={"a":1}; user@example.com=1')
