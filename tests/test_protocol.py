"""The wire protocol over a real connection: malformed payloads, data, headers.

Every malformed request is followed by a valid one on the same connection,
which must still be served.
"""

from __future__ import annotations

import pytest

from tests.helpers import assert_serves
from tests.helpers import call


def assert_error(jwr: dict, status: int, code: str) -> None:
    assert jwr["statusCode"] == status, jwr
    assert jwr["body"]["error"] == code
    message = jwr["body"]["message"]
    assert isinstance(message, str) and message.endswith(".") and len(message) > 10
    assert jwr["headers"]["Content-Type"] == "application/json"


# --- malformed payloads ---------------------------------------------------


@pytest.mark.parametrize(
    "payload", ["/hello/1", ["/hello/1"], 42, True], ids=["str", "list", "int", "bool"]
)
def test_payload_not_an_object(sio_client, payload):
    jwr = sio_client.call("get", payload, timeout=5)
    assert_error(jwr, 400, "invalid_payload")
    assert_serves(sio_client)


def test_payload_missing(sio_client):
    jwr = sio_client.call("get", timeout=5)
    assert_error(jwr, 400, "invalid_payload")
    assert_serves(sio_client)


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"url": None},
        {"url": 42},
        {"url": ["/hello/1"]},
        {"url": ""},
        {"url": "hello/1"},
        {"url": "./hello/1"},
        {"url": "?x=1"},
        {"url": "http://evil.example.com/hello/1"},
        {"url": "https://evil.example.com/hello/1"},
        {"url": "//evil.example.com/hello/1"},
        {"url": "ftp://127.0.0.1/hello/1"},
        {"url": "javascript:alert(1)"},
        {"url": "/hello/1\r\nX-Injected: 1"},
        {"url": "/hello/1\x00"},
    ],
    ids=lambda p: repr(p.get("url", "<missing>")),
)
def test_invalid_url(sio_client, payload):
    jwr = call(sio_client, "get", **payload)
    assert_error(jwr, 400, "invalid_url")
    assert_serves(sio_client)


@pytest.mark.parametrize(
    "url",
    [
        "/socket.io/?EIO=4&transport=polling",
        "/socket.io/",
        "/socket.io",
        "http://{host}/socket.io/?EIO=4&transport=polling",
        # Percent-encoded: the WSGI PATH_INFO is /socket.io/ all the same.
        "/%73ocket.io/?EIO=4&transport=polling",
        "/socket%2Eio/?EIO=4&transport=polling",
        "http://{host}/%73ocket.io/?EIO=4&transport=polling",
    ],
)
def test_url_under_socketio_path_is_refused(sio_client, server, url):
    jwr = call(sio_client, "get", url.format(host=server.host))
    assert_error(jwr, 400, "invalid_url")
    assert_serves(sio_client)


def test_absolute_url_to_own_host_is_served(sio_client, server):
    jwr = call(sio_client, "get", f"http://{server.host}/hello/2?x=1#frag")
    assert jwr["statusCode"] == 200
    assert jwr["body"] == {"n": 2, "args": {"x": ["1"]}}


def test_absolute_url_to_own_host_on_another_port_is_refused(sio_client, server):
    jwr = call(sio_client, "get", f"http://127.0.0.1:{server.port + 1}/hello/2")
    assert_error(jwr, 400, "invalid_url")
    assert_serves(sio_client)


def test_url_too_long(sio_client):
    url = "/echo?q=" + "a" * 8200
    jwr = call(sio_client, "get", url)
    assert_error(jwr, 414, "uri_too_long")
    assert_serves(sio_client)


def test_url_at_the_length_limit_is_served(sio_client):
    url = "/echo?q="
    url += "b" * (8192 - len(url))
    assert len(url) == 8192
    jwr = call(sio_client, "get", url)
    assert jwr["statusCode"] == 200
    assert jwr["body"]["args"]["q"] == ["b" * (8192 - len("/echo?q="))]


@pytest.mark.parametrize(
    "headers",
    [
        "X-A: b",
        ["X-A", "b"],
        42,
        {"X-A": {"b": 1}},
        {"X-A": ["b", "c"]},
        {"X-A": None},
        {"Bad Name": "v"},
        {"X-A:": "v"},
        {"": "v"},
        {"X-\u00e9": "v"},
        {"X-A": "one\r\nX-Injected: two"},
    ],
    ids=repr,
)
def test_invalid_headers(sio_client, headers):
    jwr = call(sio_client, "get", "/headers", headers=headers)
    assert_error(jwr, 400, "invalid_headers")
    assert_serves(sio_client)


@pytest.mark.parametrize(
    ("event", "declared"),
    [("get", "post"), ("post", "get"), ("delete", "put"), ("get", 1), ("get", "")],
)
def test_method_mismatch(sio_client, event, declared):
    jwr = call(sio_client, event, "/echo", method=declared)
    assert_error(jwr, 400, "method_mismatch")
    assert_serves(sio_client)


@pytest.mark.parametrize("declared", ["get", "GET", "Get"])
def test_method_agreeing_with_the_event_is_served(sio_client, declared):
    jwr = call(sio_client, "get", "/echo", method=declared)
    assert jwr["statusCode"] == 200
    assert jwr["body"]["method"] == "GET"


@pytest.mark.parametrize(
    "data",
    [{"a": {"b": 1}}, {"a": [{"b": 1}]}, {"a": [[1, 2]]}, [1, 2], 5, True],
    ids=repr,
)
@pytest.mark.parametrize("method", ["get", "head"])
def test_get_data_that_is_not_a_flat_object(sio_client, method, data):
    jwr = call(sio_client, method, "/echo", data=data)
    assert_error(jwr, 400, "invalid_data")
    assert_serves(sio_client)


def test_form_data_that_is_not_an_object(sio_client):
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    jwr = call(sio_client, "post", "/echo", data=[1, 2], headers=headers)
    assert_error(jwr, 400, "invalid_data")
    assert_serves(sio_client)


def test_many_malformed_requests_do_not_break_the_connection(sio_client):
    for payload in (None, 1, {"url": 1}, {"url": "/x", "headers": 1}, {"url": "x"}):
        jwr = sio_client.call("post", payload, timeout=5)
        assert jwr["statusCode"] == 400
    assert_serves(sio_client)


# --- data ----------------------------------------------------------------


def test_get_data_is_merged_into_the_query_string(sio_client):
    data = {
        "a": "b",
        "list": [1, "two", 3.5],
        "yes": True,
        "no": False,
        "nothing": None,
        "float": 2.5,
        "int": 7,
        "whole_float": 3.0,
        "text": "caf\u00e9 & cr\u00e8me=1",
    }
    jwr = call(sio_client, "get", "/echo?x=1&a=first", data=data)
    assert jwr["statusCode"] == 200
    assert jwr["body"]["args"] == {
        "x": ["1"],
        "a": ["first", "b"],
        "list": ["1", "two", "3.5"],
        "yes": ["true"],
        "no": ["false"],
        "nothing": [""],
        "float": ["2.5"],
        "int": ["7"],
        "whole_float": ["3"],
        "text": ["caf\u00e9 & cr\u00e8me=1"],
    }
    assert jwr["body"]["body_hex"] == ""
    assert jwr["body"]["content_type"] is None


def test_head_data_is_accepted(sio_client):
    jwr = call(sio_client, "head", "/hello/4", data={"x": 1})
    assert jwr["statusCode"] == 200
    assert jwr["body"] is None


def test_unencoded_query_in_the_url(sio_client):
    jwr = call(sio_client, "get", "/echo?q=a b&r=\u00e9t\u00e9&s=%C3%A9")
    assert jwr["statusCode"] == 200
    assert jwr["body"]["args"] == {
        "q": ["a b"],
        "r": ["\u00e9t\u00e9"],
        "s": ["\u00e9"],
    }


def test_percent_encoded_path(sio_client):
    jwr = call(sio_client, "get", "/hello/%34%32")
    assert jwr["statusCode"] == 200
    assert jwr["body"]["n"] == 42


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize(
    "data",
    [{"a": 1, "nested": {"b": [1, None, True]}}, [1, "two"], 5, False],
    ids=["object", "array", "number", "boolean"],
)
def test_data_becomes_a_json_body(sio_client, method, data):
    jwr = call(sio_client, method, "/echo", data=data)
    assert jwr["statusCode"] == 200
    body = jwr["body"]
    assert body["method"] == method.upper()
    assert body["json"] == data
    assert body["content_type"] == "application/json"
    assert int(body["content_length"]) == len(bytes.fromhex(body["body_hex"]))
    assert body["args"] == {}


def test_json_body_keeps_unicode(sio_client):
    jwr = call(sio_client, "post", "/echo", data={"name": "caf\u00e9 \u2615"})
    assert jwr["body"]["json"] == {"name": "caf\u00e9 \u2615"}


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=utf-8",
    ],
)
def test_form_encoded_data(sio_client, content_type):
    jwr = call(
        sio_client,
        "post",
        "/echo",
        data={"a": "1", "b": ["x", "y"], "t": True, "u": "\u00fcber"},
        headers={"Content-Type": content_type},
    )
    assert jwr["statusCode"] == 200
    body = jwr["body"]
    assert body["form"] == {
        "a": ["1"],
        "b": ["x", "y"],
        "t": ["true"],
        "u": ["\u00fcber"],
    }
    assert body["json"] is None
    assert body["content_type"] == content_type


def test_lowercase_content_type_header_selects_form_encoding(sio_client):
    jwr = call(
        sio_client,
        "put",
        "/echo",
        data={"a": "1"},
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert jwr["body"]["form"] == {"a": ["1"]}


def test_string_data_is_a_raw_body(sio_client):
    jwr = call(sio_client, "post", "/echo", data="h\u00e9llo, world")
    body = jwr["body"]
    assert bytes.fromhex(body["body_hex"]) == "h\u00e9llo, world".encode()
    assert body["content_type"] == "text/plain; charset=utf-8"
    assert body["content_length"] == str(len("h\u00e9llo, world".encode()))
    assert body["json"] is None


def test_string_data_with_a_content_type(sio_client):
    xml = "<note><to>Tove</to></note>"
    headers = {"Content-Type": "application/xml"}
    jwr = call(sio_client, "put", "/echo", data=xml, headers=headers)
    assert bytes.fromhex(jwr["body"]["body_hex"]) == xml.encode()
    assert jwr["body"]["content_type"] == "application/xml"


def test_string_data_that_is_json_text(sio_client):
    headers = {"Content-Type": "application/json"}
    jwr = call(sio_client, "post", "/echo", data='{"raw": true}', headers=headers)
    assert jwr["body"]["json"] == {"raw": True}


def test_bytes_data_is_a_raw_body(sio_client):
    raw = bytes(range(256))
    jwr = call(sio_client, "post", "/echo", data=raw)
    body = jwr["body"]
    assert bytes.fromhex(body["body_hex"]) == raw
    assert body["content_type"] == "application/octet-stream"
    assert body["content_length"] == "256"


def test_bytes_data_with_a_content_type(sio_client):
    raw = b"\x89PNG\r\n\x1a\n\x00\x01"
    jwr = call(
        sio_client, "patch", "/echo", data=raw, headers={"Content-Type": "image/png"}
    )
    assert bytes.fromhex(jwr["body"]["body_hex"]) == raw
    assert jwr["body"]["content_type"] == "image/png"


def test_no_data_means_no_body(sio_client):
    jwr = call(sio_client, "post", "/echo")
    assert jwr["statusCode"] == 200
    assert jwr["body"]["body_hex"] == ""
    assert jwr["body"]["json"] is None
    assert jwr["body"]["content_type"] is None


# --- headers -------------------------------------------------------------


def test_header_numbers_and_booleans_become_strings(sio_client):
    headers = {
        "X-Int": 7,
        "X-Float": 2.5,
        "X-Whole": 3.0,
        "X-True": True,
        "X-False": False,
    }
    jwr = call(sio_client, "get", "/headers", headers=headers)
    assert jwr["statusCode"] == 200
    got = jwr["body"]
    assert got["X-Int"] == "7"
    assert got["X-Float"] == "2.5"
    assert got["X-Whole"] == "3"
    assert got["X-True"] == "true"
    assert got["X-False"] == "false"


def test_payload_headers_reach_the_view(sio_client):
    headers = {"X-Custom": "value", "Authorization": "Bearer abc", "Accept": "text/csv"}
    jwr = call(sio_client, "get", "/headers", headers=headers)
    got = jwr["body"]
    assert got["X-Custom"] == "value"
    assert got["Authorization"] == "Bearer abc"
    assert got["Accept"] == "text/csv"


FORBIDDEN = {
    "Host": "evil.example.com",
    "Cookie": "stolen=1",
    "Origin": "http://evil.example.com",
    "X-Forwarded-For": "6.6.6.6",
    "X-Forwarded-Host": "evil.example.com",
    "X-Forwarded-Proto": "https",
    "Forwarded": "for=6.6.6.6;proto=https",
    "X-Real-IP": "6.6.6.6",
    "Transfer-Encoding": "chunked",
    "Connection": "close",
    "Upgrade": "h2c",
    "Sec-Fetch-Mode": "cors",
    "Sec-WebSocket-Key": "x",
    "Proxy-Authorization": "Basic eA==",
}


@pytest.mark.parametrize(
    "spelling",
    [str, str.lower, str.upper, lambda name: name.replace("-", "_")],
    ids=["as-is", "lower", "upper", "underscore"],
)
def test_connection_headers_in_the_payload_are_dropped(sio_client, server, spelling):
    headers = {spelling(name): value for name, value in FORBIDDEN.items()}
    headers["X-Allowed"] = "yes"
    jwr = call(sio_client, "get", "/headers", headers=headers)
    assert jwr["statusCode"] == 200
    got = {name.lower(): value for name, value in jwr["body"].items()}
    assert got["host"] == server.host
    assert got["x-allowed"] == "yes"
    for name in FORBIDDEN:
        if name.lower() in ("host", "origin"):
            assert got.get(name.lower()) != FORBIDDEN[name]
        else:
            assert name.lower() not in got, name
    environ = call(sio_client, "get", "/environ", headers=headers)["body"]
    assert environ["remote_addr"] == "127.0.0.1"
    assert environ["scheme"] == "http"
    assert environ["host"] == server.host
    cookies = call(sio_client, "get", "/cookies", headers=headers)["body"]
    assert cookies == {}


def test_payload_content_length_is_ignored(sio_client):
    headers = {"Content-Length": "999", "content_length": "3"}
    jwr = call(sio_client, "post", "/echo", data={"a": 1}, headers=headers)
    assert jwr["statusCode"] == 200
    assert jwr["body"]["json"] == {"a": 1}
    assert jwr["body"]["content_length"] == str(len('{"a":1}'))


def test_header_values_may_contain_tabs(sio_client):
    jwr = call(sio_client, "get", "/headers", headers={"X-Tab": "a\tb"})
    assert jwr["statusCode"] == 200
    assert jwr["body"]["X-Tab"] == "a\tb"
