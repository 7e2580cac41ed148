"""The pure functions of ``flask_sockreq.protocol``."""

from __future__ import annotations

import json

import pytest

from flask_sockreq.protocol import encode_jwr
from flask_sockreq.protocol import error_jwr
from flask_sockreq.protocol import METHODS
from flask_sockreq.protocol import parse_request
from flask_sockreq.protocol import ProtocolError
from flask_sockreq.protocol import wsgi_path

HOSTS = ("127.0.0.1:5000",)


def parse(method, payload):
    return parse_request(method, payload, HOSTS)


def error_of(method, payload) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        parse(method, payload)
    return info.value


def test_methods():
    assert METHODS == ("get", "post", "put", "patch", "delete", "head", "options")


def test_simple_get():
    req = parse("get", {"url": "/todos?done=1"})
    assert req.method == "GET"
    assert req.path == "/todos"
    assert req.query == "done=1"
    assert req.body is None
    assert req.headers == []
    assert req.url == "/todos?done=1"


def test_fragment_is_dropped():
    req = parse("get", {"url": "/a?b=1#frag"})
    assert (req.path, req.query) == ("/a", "b=1")


def test_absolute_url_of_the_connection_host():
    req = parse("get", {"url": "http://127.0.0.1:5000/x?y=2"})
    assert (req.path, req.query) == ("/x", "y=2")
    req = parse("get", {"url": "http://127.0.0.1:5000"})
    assert req.path == "/"


@pytest.mark.parametrize(
    ("payload", "code", "status"),
    [
        ("x", "invalid_payload", 400),
        (None, "invalid_payload", 400),
        ({}, "invalid_url", 400),
        ({"url": "x"}, "invalid_url", 400),
        ({"url": "http://other:5000/"}, "invalid_url", 400),
        ({"url": "/" + "a" * 8192}, "uri_too_long", 414),
        ({"url": "/", "headers": []}, "invalid_headers", 400),
        ({"url": "/", "headers": {"A": None}}, "invalid_headers", 400),
        ({"url": "/", "method": "put"}, "method_mismatch", 400),
        ({"url": "/", "data": {"a": {}}}, "invalid_data", 400),
    ],
)
def test_errors(payload, code, status):
    error = error_of("get", payload)
    assert (error.code, error.status) == (code, status)
    jwr = error.to_jwr()
    assert jwr == error_jwr(status, code, error.message)
    assert jwr["statusCode"] == status
    assert jwr["body"] == {"error": code, "message": error.message}


def test_get_data_goes_to_the_query():
    req = parse("get", {"url": "/s?a=1", "data": {"b": [1, True], "c": None}})
    assert req.query == "a=1&b=1&b=true&c="
    assert req.body is None


def test_get_empty_data_leaves_the_query():
    req = parse("get", {"url": "/s?a=1", "data": {}})
    assert req.query == "a=1"


def test_post_json_body():
    req = parse("post", {"url": "/s", "data": {"a": [1, "\u00e9"]}})
    assert json.loads(req.body) == {"a": [1, "\u00e9"]}
    assert ("CONTENT_TYPE", "application/json") in req.headers


def test_post_form_body():
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    req = parse(
        "post", {"url": "/s", "data": {"a": "x y", "b": [1, 2]}, "headers": headers}
    )
    assert req.body == b"a=x+y&b=1&b=2"
    assert req.headers == [("CONTENT_TYPE", "application/x-www-form-urlencoded")]


def test_raw_bodies():
    req = parse("put", {"url": "/s", "data": "t\u00e9xt"})
    assert req.body == "t\u00e9xt".encode()
    assert ("CONTENT_TYPE", "text/plain; charset=utf-8") in req.headers
    req = parse("put", {"url": "/s", "data": b"\x00\x01"})
    assert req.body == b"\x00\x01"
    assert ("CONTENT_TYPE", "application/octet-stream") in req.headers


def test_headers_in_wsgi_form():
    req = parse(
        "get",
        {
            "url": "/",
            "headers": {"X-Num": 7, "x-bool": False, "Host": "evil", "Sec-X": "1"},
        },
    )
    assert dict(req.headers) == {"HTTP_X_NUM": "7", "HTTP_X_BOOL": "false"}


def test_wsgi_path():
    assert wsgi_path("/plain") == "/plain"
    assert wsgi_path("/caf%C3%A9") == "/caf\u00e9".encode().decode("latin-1")
    assert wsgi_path("/a%2Fb") == "/a/b"


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("application/json", b'{"a": 1}', {"a": 1}),
        ("application/problem+json", b"[1]", [1]),
        ("application/json", b"not json", "not json"),
        ("text/plain; charset=utf-8", "\u00e9".encode(), "\u00e9"),
        ("text/html", b"<p>", "<p>"),
        ("application/x-thing; charset=latin-1", "\u00e9".encode("latin-1"), "\u00e9"),
        ("application/xml", b"<a/>", "<a/>"),
        ("image/png", b"\x89PNG", b"\x89PNG"),
        ("application/octet-stream", b"\xff", b"\xff"),
        ("", b"\x00", b"\x00"),
    ],
)
def test_encode_jwr_body(content_type, body, expected):
    headers = [("Content-Type", content_type)] if content_type else []
    jwr = encode_jwr(200, headers, body, "GET")
    assert jwr["body"] == expected
    assert type(jwr["body"]) is type(expected)
    assert jwr["statusCode"] == 200


@pytest.mark.parametrize(
    ("status", "method"), [(200, "HEAD"), (204, "GET"), (304, "GET")]
)
def test_encode_jwr_no_body(status, method):
    jwr = encode_jwr(status, [("Content-Type", "application/json")], b"{}", method)
    assert jwr["body"] is None
    assert jwr["statusCode"] == status


def test_encode_jwr_headers():
    headers = [
        ("Content-Type", "text/plain"),
        ("Set-Cookie", "a=1"),
        ("set-cookie", "b=2"),
        ("SET-COOKIE", "c=3"),
        ("Vary", "Cookie"),
        ("Vary", "Accept"),
    ]
    jwr = encode_jwr(200, headers, b"x", "GET")
    assert jwr["headers"] == {"Content-Type": "text/plain", "Vary": "Cookie, Accept"}
