"""The connection's cookie jar, ``flask_sockreq.cookies``, as a browser's:
what a ``Set-Cookie`` sets, replaces, deletes, and what each request sends.

Against a fixed clock; the real-world Cookie headers are in
``test_cookies_corpus.py``.
"""

from __future__ import annotations

import typing as t

import pytest

from flask_sockreq import cookies
from flask_sockreq.cookies import _default_path
from flask_sockreq.cookies import _domain_matches
from flask_sockreq.cookies import _parse_set_cookie
from flask_sockreq.cookies import _path_matches
from flask_sockreq.cookies import CookieJar
from flask_sockreq.cookies import parse_cookie_header

HOST = "app.example.com"
#: 2023-11-14 22:13:20 UTC.
NOW = 1700000000.0


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> t.Iterator[list[float]]:
    now = [NOW]
    monkeypatch.setattr(cookies, "_now", lambda: now[0])
    yield now


def jar_with(
    *set_cookies: str, header: str | None = None, path: str = "/"
) -> CookieJar:
    jar = CookieJar(header, HOST)
    jar.update(list(set_cookies), path)
    return jar


# --- the pristine jar ----------------------------------------------------------


def test_pristine_jar_serves_the_handshake_header_as_it_is():
    header = "b=2;a=1 ;  c"
    jar = CookieJar(header, HOST)
    assert jar.header_for("/any/path", False) is header
    assert jar.header_for("/", True) is header
    assert len(jar) == 3


@pytest.mark.parametrize("header", [None, ""])
def test_pristine_jar_without_cookies(header):
    jar = CookieJar(header, HOST)
    assert jar.header_for("/", False) is None
    assert len(jar) == 0


def test_host_is_lower_cased():
    jar = CookieJar(None, "App.Example.COM")
    assert jar.host == HOST
    jar.update(["a=1; Domain=example.com"], "/")
    assert jar.header_for("/", False) == "a=1"


def test_set_cookies_that_are_all_refused_leave_the_jar_pristine():
    header = "session=abc"
    jar = jar_with("=nameless", "novalue", "x=1; Domain=other.org", header=header)
    assert jar.header_for("/", False) is header
    assert jar._cookies is None


def test_the_current_time_is_the_clock():
    assert abs(cookies._now() - __import__("time").time()) < 5


# --- setting, replacing, ordering ---------------------------------------------


def test_a_set_cookie_joins_the_handshake_cookies(clock):
    jar = jar_with("new=1", header="old=0; other=x")
    assert jar.header_for("/", False) == "old=0; other=x; new=1"
    assert len(jar) == 3


def test_a_set_cookie_replaces_a_handshake_cookie_in_its_place(clock):
    jar = jar_with("a=NEW; Path=/", header="a=old; b=2")
    assert jar.header_for("/", False) == "a=NEW; b=2"
    assert len(jar) == 2


def test_name_and_value_whitespace(clock):
    jar = jar_with(" \tspaced \t=\t value with space \t; Path=/")
    assert jar.header_for("/", False) == "spaced=value with space"
    jar = jar_with("nbsp=x\xa0")
    assert jar.header_for("/", False) == "nbsp=x\xa0"


@pytest.mark.parametrize("header", ["noequals", "=value", " =value", "; a=1"])
def test_set_cookie_without_a_name_is_ignored(header):
    assert _parse_set_cookie(header, HOST, "/") is None


def test_set_cookie_with_an_empty_value(clock):
    assert jar_with("empty=").header_for("/", False) == "empty="
    assert jar_with("eq=a=b").header_for("/", False) == "eq=a=b"


def test_the_longest_path_is_sent_first_then_the_oldest(clock):
    jar = jar_with(
        "root=1; Path=/",
        "mid=2; Path=/a",
        "deep=3; Path=/a/b",
        "mid2=4; Path=/a",
        header="hs=0",
    )
    assert jar.header_for("/a/b/c", False) == "deep=3; mid=2; mid2=4; hs=0; root=1"
    assert jar.header_for("/a/x", False) == "mid=2; mid2=4; hs=0; root=1"
    assert jar.header_for("/b", False) == "hs=0; root=1"


def test_no_matching_cookie_sends_no_header(clock):
    jar = jar_with("a=1; Path=/only")
    assert jar.header_for("/other", False) is None


def test_a_nameless_handshake_cookie_is_sent_as_it_came(clock):
    jar = jar_with("a=1", header="lonely; b=2")
    assert jar.header_for("/", False) == "lonely; b=2; a=1"


def test_duplicate_handshake_names_keep_their_order(clock):
    jar = jar_with("other=1", header="a=deep; a=root; c=3")
    assert jar.header_for("/", False) == "a=deep; a=root; c=3; other=1"
    jar.update(["a=new"], "/")
    assert jar.header_for("/", False) == "a=deep; a=new; c=3; other=1"


# --- Path ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_path", "default"),
    [
        ("/", "/"),
        ("/a", "/"),
        ("/a/", "/a"),
        ("/a/b", "/a"),
        ("/a/b/c", "/a/b"),
        ("", "/"),
        ("a/b", "/"),
    ],
)
def test_default_path(request_path, default):
    assert _default_path(request_path) == default
    cookie = _parse_set_cookie("x=1", HOST, request_path)
    assert cookie is not None and cookie.path == default


@pytest.mark.parametrize(
    ("attribute", "path"),
    [
        ("Path=/p", "/p"),
        ("path=/p/", "/p/"),
        ("PATH = /p ", "/p"),
        ("Path=relative", "/a"),
        ("Path=", "/a"),
        ("Path", "/a"),
    ],
)
def test_path_attribute(attribute, path):
    cookie = _parse_set_cookie(f"x=1; {attribute}", HOST, "/a/b")
    assert cookie is not None and cookie.path == path


@pytest.mark.parametrize(
    ("request_path", "cookie_path", "matches"),
    [
        ("/a", "/a", True),
        ("/a/b", "/a", True),
        ("/a/", "/a", True),
        ("/ab", "/a", False),
        ("/a", "/a/", False),
        ("/a/b", "/a/", True),
        ("/", "/", True),
        ("/x", "/", True),
        ("/b", "/a", False),
        ("/", "/a", False),
    ],
)
def test_path_matching(request_path, cookie_path, matches):
    assert _path_matches(request_path, cookie_path) is matches


def test_a_cookie_set_under_a_path_is_sent_under_it_only(clock):
    jar = jar_with("p=1", path="/api/login")
    assert jar.header_for("/api/users", False) == "p=1"
    assert jar.header_for("/api", False) == "p=1"
    assert jar.header_for("/apix", False) is None
    assert jar.header_for("/", False) is None


# --- Domain ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "attribute",
    [
        "Domain=app.example.com",
        "Domain=.app.example.com",
        "Domain=example.com",
        "Domain=.Example.COM",
        "domain = example.com ",
    ],
)
def test_domains_of_the_host_are_accepted(attribute, clock):
    cookie = _parse_set_cookie(f"d=1; {attribute}", HOST, "/")
    assert cookie is not None
    assert cookie.host_only is False
    assert cookie.domain == attribute.split("=")[1].strip().lstrip(".").lower()
    assert jar_with(f"d=1; {attribute}").header_for("/", False) == "d=1"


@pytest.mark.parametrize(
    "attribute",
    [
        "Domain=other.example.com",
        "Domain=xample.com",
        "Domain=pp.example.com",
        "Domain=sub.app.example.com",
        "Domain=org",
        "Domain=Xexample.com",
        "Domain=..example.com.",
    ],
)
def test_other_domains_are_refused(attribute, clock):
    assert _parse_set_cookie(f"d=1; {attribute}", HOST, "/") is None
    assert jar_with(f"d=1; {attribute}").header_for("/", False) is None


def test_an_empty_domain_is_a_host_cookie():
    cookie = _parse_set_cookie("d=1; Domain=", HOST, "/")
    assert cookie is not None
    assert (cookie.domain, cookie.host_only) == (HOST, True)
    cookie = _parse_set_cookie("d=1", HOST, "/")
    assert cookie is not None
    assert (cookie.domain, cookie.host_only) == (HOST, True)


@pytest.mark.parametrize(
    ("host", "domain", "matches"),
    [
        ("a.b.c", "a.b.c", True),
        ("a.b.c", "b.c", True),
        ("a.b.c", "c", True),
        ("a.b.c", "x.b.c", False),
        ("ab.c", "b.c", False),
        ("10.0.0.1", "10.0.0.1", True),
        ("10.0.0.1", "0.0.1", False),
        ("10.0.0.1", "1", False),
        ("::1", "1", False),
        ("fe80::1", "::1", False),
        ("[::1]", "1]", False),
        ("x1.example", "example", True),
        ("::ffff:1.2.3.4", "2.3.4", False),
        ("::ffff:1.2.3.4", "::ffff:1.2.3.4", True),
    ],
)
def test_domain_matching(host, domain, matches):
    assert _domain_matches(host, domain) is matches


def test_a_domain_cookie_and_a_host_cookie_of_one_name_are_both_kept(clock):
    jar = jar_with("a=host", "a=dom; Domain=example.com")
    assert jar.header_for("/", False) == "a=host; a=dom"
    assert len(jar) == 2


# --- Secure ----------------------------------------------------------------------


@pytest.mark.parametrize("attribute", ["Secure", "secure", " SECURE ", "Secure=1"])
def test_secure_cookies_only_over_tls(attribute, clock):
    jar = jar_with(f"s=1; {attribute}", "p=2")
    assert jar.header_for("/", True) == "s=1; p=2"
    assert jar.header_for("/", False) == "p=2"
    cookie = _parse_set_cookie(f"s=1; {attribute}", HOST, "/")
    assert cookie is not None and cookie.secure is True
    cookie = _parse_set_cookie("s=1; HttpOnly; SameSite=Lax", HOST, "/")
    assert cookie is not None and cookie.secure is False


# --- Expires and Max-Age -----------------------------------------------------------


def test_a_session_cookie_has_no_expiry():
    cookie = _parse_set_cookie("s=1", HOST, "/")
    assert cookie is not None and cookie.expires is None


def test_max_age(clock):
    cookie = _parse_set_cookie("m=1; Max-Age=60", HOST, "/")
    assert cookie is not None and cookie.expires == NOW + 60
    jar = jar_with("m=1; Max-Age=60")
    clock[0] = NOW + 59.9
    assert jar.header_for("/", False) == "m=1"
    clock[0] = NOW + 60
    assert jar.header_for("/", False) is None
    assert len(jar) == 0


def test_max_age_one_second(clock):
    cookie = _parse_set_cookie("m=1; max-age=1", HOST, "/")
    assert cookie is not None and cookie.expires == NOW + 1


@pytest.mark.parametrize("value", ["0", "-1", "-60", "00"])
def test_max_age_zero_or_less_deletes(value, clock):
    cookie = _parse_set_cookie(f"m=1; Max-Age={value}", HOST, "/")
    assert cookie is not None and cookie.expires == 0.0
    jar = jar_with(f"m=1; Max-Age={value}", header="m=old; k=1")
    assert jar.header_for("/", False) == "k=1"


@pytest.mark.parametrize("value", ["", "-", "1.5", "+5", "5s", "\u0663", " ", "--1"])
def test_malformed_max_age_is_ignored(value, clock):
    cookie = _parse_set_cookie(f"m=1; Max-Age={value}", HOST, "/")
    assert cookie is not None and cookie.expires is None
    cookie = _parse_set_cookie(
        f"m=1; Max-Age={value}; Expires=Thu, 01 Jan 2037 00:00:00 GMT", HOST, "/"
    )
    assert cookie is not None and cookie.expires == 2114380800.0


@pytest.mark.parametrize(
    "attributes",
    [
        "Max-Age=60; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
        "Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=60",
    ],
)
def test_max_age_wins_over_expires(attributes, clock):
    cookie = _parse_set_cookie(f"m=1; {attributes}", HOST, "/")
    assert cookie is not None and cookie.expires == NOW + 60
    jar = jar_with(f"m=1; {attributes}")
    assert jar.header_for("/", False) == "m=1"
    cookie = _parse_set_cookie(
        "m=1; Max-Age=0; Expires=Thu, 01 Jan 2037 00:00:00 GMT", HOST, "/"
    )
    assert cookie is not None and cookie.expires == 0.0


@pytest.mark.parametrize(
    ("value", "timestamp"),
    [
        ("Thu, 01 Jan 2037 00:00:00 GMT", 2114380800.0),
        ("Thursday, 01-Jan-37 00:00:00 GMT", 2114380800.0),
        ("Thu Jan  1 00:00:00 2037", 2114380800.0),
        ("Thu, 01 Jan 2037 01:00:00 +0100", 2114380800.0),
        ("Wed, 31 Dec 1969 23:59:59 GMT", -1.0),
    ],
)
def test_expires_dates(value, timestamp):
    cookie = _parse_set_cookie(f"e=1; Expires={value}", HOST, "/")
    assert cookie is not None and cookie.expires == timestamp


@pytest.mark.parametrize(
    "value",
    ["", "tomorrow", "Thu, 99 Jan 2037 00:00:00 GMT", "Thu, 01 Jan 99999 00:00:00 GMT"],
)
def test_unreadable_expires_is_ignored(value):
    cookie = _parse_set_cookie(f"e=1; Expires={value}", HOST, "/")
    assert cookie is not None and cookie.expires is None


def test_parse_expires_errors(monkeypatch):
    for error in (IndexError, OverflowError, ValueError):

        def fail(value: str, error: type = error) -> t.NoReturn:
            raise error("no")

        monkeypatch.setattr(cookies, "parse_date", fail)
        assert cookies._parse_expires("x") is None


def test_expires_in_the_future_and_the_past(clock):
    jar = jar_with("f=1; Expires=Thu, 01 Jan 2037 00:00:00 GMT", header="p=1")
    assert jar.header_for("/", False) == "p=1; f=1"
    jar.update(["p=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT"], "/")
    assert jar.header_for("/", False) == "f=1"
    clock[0] = 2114380800.0
    assert jar.header_for("/", False) is None


def test_an_expired_cookie_is_dropped_from_the_jar(clock):
    jar = jar_with("a=1; Max-Age=10", "b=2")
    assert len(jar) == 2
    clock[0] = NOW + 10
    assert jar.header_for("/", False) == "b=2"
    assert len(jar) == 1


def test_deleting_a_domain_cookie_deletes_the_handshake_cookie_too(clock):
    jar = jar_with("s=; Domain=example.com; Max-Age=0", header="s=abc; t=1")
    assert jar.header_for("/", False) == "t=1"
    # A host-only deletion of another path leaves the handshake cookie.
    jar = jar_with("s=; Path=/x; Max-Age=0", header="s=abc; t=1")
    assert jar.header_for("/", False) == "s=abc; t=1"
    # A deletion for another name leaves it too.
    jar = jar_with("u=; Domain=example.com; Max-Age=0", header="s=abc")
    assert jar.header_for("/", False) == "s=abc"


def test_deleting_a_cookie_that_is_not_there(clock):
    jar = jar_with("gone=; Max-Age=0")
    assert jar.header_for("/", False) is None
    assert len(jar) == 0


def test_an_expiry_at_this_very_moment_deletes(clock):
    jar = jar_with("now=1; Expires=Tue, 14 Nov 2023 22:13:20 GMT", header="now=0")
    assert jar.header_for("/", False) is None
    jar = jar_with("soon=1; Expires=Tue, 14 Nov 2023 22:13:21 GMT")
    assert jar.header_for("/", False) == "soon=1"


# --- parse_cookie_header ---------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "pairs"),
    [
        (None, []),
        ("", []),
        (";;", []),
        ("a=1", [("a", "1")]),
        ("a=1;b=2", [("a", "1"), ("b", "2")]),
        (" a = 1 ;\tb=2\t", [("a", "1"), ("b", "2")]),
        ('a=x y; b="q"', [("a", "x y"), ("b", '"q"')]),
        ("a==b=", [("a", "=b=")]),
        ("flag", [("", "flag")]),
        ("=v", [("", "v")]),
        ("a=1; a=2", [("a", "1"), ("a", "2")]),
        ("n=v\xa0", [("n", "v\xa0")]),
        ("\xa0n=v", [("\xa0n", "v")]),
        ("a=1;  ;b", [("a", "1"), ("", "b")]),
    ],
)
def test_parse_cookie_header(header, pairs):
    assert parse_cookie_header(header) == pairs


def test_only_spaces_and_tabs_are_stripped():
    # Not letters at the ends of names and values, whatever they are.
    assert parse_cookie_header("aX=Xb; X=X") == [("aX", "Xb"), ("X", "X")]
    cookie = _parse_set_cookie("nX=Xv; Path=/X", HOST, "/")
    assert cookie is not None
    assert (cookie.name, cookie.value, cookie.path) == ("nX", "Xv", "/X")
    cookie = _parse_set_cookie("n=v; XDomainX=example.com", HOST, "/")
    assert cookie is not None and cookie.host_only is True


def test_a_cookie_expiring_now_is_not_kept(clock):
    jar = jar_with("now=1; Expires=Tue, 14 Nov 2023 22:13:20 GMT")
    assert len(jar) == 0
    jar = jar_with("later=1; Expires=Tue, 14 Nov 2023 22:13:21 GMT")
    assert len(jar) == 1


def test_the_handshake_is_parsed_once(clock):
    # Two requests racing to the first Set-Cookie both materialize the jar:
    # the second must find the first's cookies, not parse the header again.
    jar = jar_with("set=1", header="hs=0")
    cookies = jar._cookies
    assert cookies is not None
    assert jar._materialize() is cookies
    assert jar.header_for("/", False) == "hs=0; set=1"
