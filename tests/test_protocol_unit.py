"""The pure functions of ``flask_sockreq.protocol``."""

from __future__ import annotations

import json
import math

import pytest

from flask_sockreq import protocol
from flask_sockreq.codec import JWR
from flask_sockreq.codec import NonFinite
from flask_sockreq.codec import OrJSON
from flask_sockreq.codec import RawJSON
from flask_sockreq.codec import StdJSON
from flask_sockreq.protocol import _json_type
from flask_sockreq.protocol import encode_jwr
from flask_sockreq.protocol import error_jwr
from flask_sockreq.protocol import FORBIDDEN_HEADERS
from flask_sockreq.protocol import MAX_URL_LENGTH
from flask_sockreq.protocol import METHODS
from flask_sockreq.protocol import parse_request
from flask_sockreq.protocol import parse_stream
from flask_sockreq.protocol import ProtocolError
from flask_sockreq.protocol import SocketRequest
from flask_sockreq.protocol import StreamSpec
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


# --- parse_stream --------------------------------------------------------------


def stream_error(value) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        parse_stream(value)
    return info.value


def test_stream_absent():
    assert parse_stream(None) is None
    assert parse("get", {"url": "/"}).stream is None


def test_stream_minimal_and_full():
    assert parse_stream({"id": "s1"}) == StreamSpec("s1", None, False, None)
    assert parse_stream({"v": 1, "id": 7, "window": 1}) == StreamSpec(
        "7", 1, False, None
    )
    spec = parse_stream({"id": "a" * 64, "window": 2**53, "upload": {"length": 0}})
    assert spec == StreamSpec("a" * 64, 2**53, True, 0)
    assert parse_stream({"id": "u", "upload": True}) == StreamSpec(
        "u", None, True, None
    )
    assert parse_stream({"id": "u", "upload": {}}) == StreamSpec("u", None, True, None)
    assert parse_stream({"id": "u", "upload": False}) == StreamSpec(
        "u", None, False, None
    )
    assert parse_stream({"id": "u", "upload": {"length": 2**53}}).length == 2**53


@pytest.mark.parametrize(
    ("value", "code", "message"),
    [
        (
            "s1",
            "invalid_stream",
            "The payload's 'stream' must be an object such as"
            ' {"v": 1, "id": "s1"}, not a string.',
        ),
        (
            {"v": 2, "id": "s"},
            "unsupported_stream",
            "This server speaks version 1 of the stream frames, not 2.",
        ),
        (
            {"v": True, "id": "s"},
            "unsupported_stream",
            "This server speaks version 1 of the stream frames, not True.",
        ),
        (
            {"v": 1},
            "invalid_stream",
            "The stream needs an 'id': a string of 1 to 64 characters or an integer.",
        ),
        ({"id": ""}, "invalid_stream", None),
        ({"id": "a" * 65}, "invalid_stream", None),
        ({"id": True}, "invalid_stream", None),
        ({"id": 1.5}, "invalid_stream", None),
        (
            {"id": "s", "window": 0},
            "invalid_stream",
            "The stream's window must be an integer from 1 to 9007199254740992, not 0.",
        ),
        ({"id": "s", "window": 2**53 + 1}, "invalid_stream", None),
        ({"id": "s", "window": True}, "invalid_stream", None),
        ({"id": "s", "window": 1.0}, "invalid_stream", None),
        ({"id": "s", "window": "5"}, "invalid_stream", None),
        (
            {"id": "s", "upload": "yes"},
            "invalid_stream",
            "The stream's 'upload' must be an object such as {\"length\": 1024},"
            " or true.",
        ),
        (
            {"id": "s", "upload": {"length": -1}},
            "invalid_stream",
            "The stream's upload length must be an integer from 0 to"
            " 9007199254740992, not -1.",
        ),
        ({"id": "s", "upload": {"length": 2**53 + 1}}, "invalid_stream", None),
    ],
)
def test_stream_errors(value, code, message):
    error = stream_error(value)
    assert (error.code, error.status) == (code, 400)
    if message is not None:
        assert error.message == message
        assert str(error) == message


def test_stream_upload_request():
    req = parse("post", {"url": "/up", "stream": {"id": "s", "upload": True}})
    assert req.body is None
    assert req.headers == [("CONTENT_TYPE", "application/octet-stream")]
    assert req.stream == StreamSpec("s", None, True, None)
    headers = {"Content-Type": "text/csv"}
    req = parse(
        "put", {"url": "/up", "headers": headers, "stream": {"id": 1, "upload": {}}}
    )
    assert req.headers == [("CONTENT_TYPE", "text/csv")]
    error = error_of(
        "post", {"url": "/", "data": "x", "stream": {"id": "s", "upload": True}}
    )
    assert error.code == "invalid_stream"
    assert error.message == "A request whose body is uploaded in frames has no 'data'."


def test_stream_download_request_keeps_its_body():
    req = parse("post", {"url": "/d", "data": {"a": 1}, "stream": {"id": "s"}})
    assert req.body == b'{"a":1}'
    assert req.headers == [("CONTENT_TYPE", "application/json")]


# --- parse_request: the payload ------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (None, "null"),
        (True, "a boolean"),
        (3, "a number"),
        (1.5, "a number"),
        ("x", "a string"),
        (b"x", "binary data"),
        (bytearray(b"x"), "binary data"),
        ([], "an array"),
    ],
)
def test_payload_must_be_an_object(payload, kind):
    error = error_of("get", payload)
    assert error.code == "invalid_payload"
    assert error.message == (
        f"The request payload must be an object with a 'url', not {kind}."
    )


def test_json_type_of_other_objects():
    assert _json_type({}) == "an object"
    assert _json_type(object()) == "object"
    assert _json_type(StreamSpec) == "type"


def test_protocol_error_defaults_to_400():
    error = ProtocolError("x", "Y.")
    assert (error.code, error.message, error.status, str(error)) == (
        "x",
        "Y.",
        400,
        "Y.",
    )
    assert error.to_jwr() == {
        "body": {"error": "x", "message": "Y."},
        "headers": {"Content-Type": "application/json"},
        "statusCode": 400,
    }
    assert ProtocolError("x", "Y.", 414).to_jwr()["statusCode"] == 414


@pytest.mark.parametrize("declared", ["post", "POST", "Post"])
def test_declared_method_matches_in_any_case(declared):
    assert parse("post", {"url": "/", "method": declared}).method == "POST"


@pytest.mark.parametrize("declared", ["get", 5, True, ["post"]])
def test_declared_method_mismatch(declared):
    error = error_of("post", {"url": "/", "method": declared})
    assert error.code == "method_mismatch"
    assert error.message == (
        f"The payload's method {declared!r} does not match the event 'post' it"
        " was sent on."
    )


@pytest.mark.parametrize("method", METHODS)
def test_every_method_is_upper_cased(method):
    req = parse(method, {"url": "/m"})
    assert req.method == method.upper()
    assert req.url == "/m"


def test_socket_request_defaults():
    req = SocketRequest("GET", "/", "", [], None, "/")
    assert req.stream is None


# --- parse_request: the data ---------------------------------------------------


def test_text_data():
    req = parse("post", {"url": "/", "data": "h\u00e9"})
    assert req.body == b"h\xc3\xa9"
    assert req.headers == [("CONTENT_TYPE", "text/plain; charset=utf-8")]
    req = parse("post", {"url": "/", "data": "", "headers": {"content-type": "a/b"}})
    assert req.body == b""
    assert req.headers == [("CONTENT_TYPE", "a/b")]


def test_binary_data_is_kept_whole():
    blob = bytes(range(256)) * 40
    req = parse("put", {"url": "/", "data": blob})
    assert req.body == blob
    assert type(req.body) is bytes
    assert req.headers == [("CONTENT_TYPE", "application/octet-stream")]
    req = parse("put", {"url": "/", "data": bytearray(blob)})
    assert req.body == blob
    assert type(req.body) is bytes
    req = parse(
        "put", {"url": "/", "data": b"\x00", "headers": {"Content-Type": "image/png"}}
    )
    assert req.headers == [("CONTENT_TYPE", "image/png")]


@pytest.mark.parametrize("method", ["get", "head"])
def test_get_and_head_data_goes_to_the_query(method):
    req = parse(method, {"url": "/q", "data": {"a": "x y", "b": 1.5}})
    assert req.query == "a=x+y&b=1.5"
    assert req.body is None
    assert req.headers == []
    req = parse(method, {"url": "/q?z=0", "data": {"a": ""}})
    assert req.query == "z=0&a="


@pytest.mark.parametrize(
    ("data", "kind"), [([1], "an array"), ("s", None), (3, "a number")]
)
def test_get_data_must_be_an_object(data, kind):
    if kind is None:  # a string is a body, even for GET
        assert parse("get", {"url": "/", "data": data}).body == b"s"
        return
    error = error_of("head", {"url": "/", "data": data})
    assert error.code == "invalid_data"
    assert error.message == (
        "The data of a HEAD request is merged into the query string, so it"
        f" must be an object, not {kind}."
    )


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "options"])
def test_other_methods_send_json(method):
    req = parse(method, {"url": "/j", "data": [1, {"b": None}]})
    assert req.body == b'[1,{"b":null}]'
    assert req.headers == [("CONTENT_TYPE", "application/json")]
    assert req.query == ""


def test_json_data_keeps_a_given_content_type():
    headers = {"Content-Type": "application/merge-patch+json"}
    req = parse("patch", {"url": "/", "data": {"a": 1}, "headers": headers})
    assert req.body == b'{"a":1}'
    assert req.headers == [("CONTENT_TYPE", "application/merge-patch+json")]
    req = parse("post", {"url": "/", "data": False})
    assert req.body == b"false"
    req = parse("post", {"url": "/", "data": 0})
    assert req.body == b"0"


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded",
        "Application/X-WWW-Form-Urlencoded; charset=utf-8",
    ],
)
def test_form_data(content_type):
    req = parse(
        "post",
        {
            "url": "/f",
            "headers": {"Content-Type": content_type},
            "data": {"a": ["1", 2], "b": None, "c": True, "d": "\u00e9&="},
        },
    )
    assert req.body == b"a=1&a=2&b=&c=true&d=%C3%A9%26%3D"
    assert req.headers == [("CONTENT_TYPE", content_type)]


def test_form_data_must_be_an_object():
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    error = error_of("post", {"url": "/", "headers": headers, "data": [1]})
    assert error.code == "invalid_data"
    assert error.message == "Form-encoded data must be an object, not an array."


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (7, "7"),
        (-3, "-3"),
        (7.0, "7"),
        (-2.0, "-2"),
        (1.5, "1.5"),
        (1e20, "100000000000000000000"),
        (1e21, "1e%2B21"),
        (-1e21, "-1e%2B21"),
        (True, "true"),
        (False, "false"),
        (None, ""),
        ("", ""),
    ],
)
def test_query_values_are_written_as_javascript_does(value, text):
    assert parse("get", {"url": "/", "data": {"v": value}}).query == f"v={text}"


@pytest.mark.parametrize("value", [{"a": 1}, [[1]], b"x"])
def test_query_values_must_be_flat(value):
    error = error_of("get", {"url": "/", "data": {"k": value}})
    assert error.code == "invalid_data"
    kind = (
        "an object"
        if isinstance(value, dict)
        else ("an array" if isinstance(value, list) else "binary data")
    )
    assert error.message == (
        "The value of 'k' in the data must be a string, number, boolean, null"
        f" or a list of those, not {kind}."
    )


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused(value):
    # As the packet decoder gives them: a float subclass, which neither codec
    # turns into null.
    value = NonFinite(value)
    error = error_of("get", {"url": "/", "data": {"v": value}})
    assert error.code == "invalid_data"
    assert error.message == (
        f"{float(value)!r} is not a number JSON can carry; send a string."
    )
    error = error_of("get", {"url": "/", "headers": {"X-N": value}})
    assert error.code == "invalid_data"
    error = error_of("post", {"url": "/", "data": {"v": value}})
    assert error.code == "invalid_data"
    assert error.message == (
        "The data has NaN or Infinity, which are not JSON; send null or a string."
    )


def test_binary_inside_json_data_is_refused():
    error = error_of("post", {"url": "/", "data": {"a": b"\x00"}})
    assert error.code == "invalid_data"
    assert error.message == (
        "The data mixes binary parts into a JSON value; send the binary data"
        " alone as 'data', or encode it (for example as base64)."
    )


def test_lone_surrogates_in_data():
    for payload in (
        {"url": "/", "data": {"a": "\udfff"}},
        {"url": "/", "data": {"a": ["ok", "\ud800"]}},
    ):
        assert error_of("get", payload).code == "invalid_data"
    assert error_of("put", {"url": "/", "data": "\ud800"}).code == "invalid_data"
    error = error_of("post", {"url": "/", "data": "\ud800"})
    assert error.message == "The data has a lone surrogate, which UTF-8 cannot encode."
    error = error_of("get", {"url": "/", "data": {"a": "\ud800"}})
    assert error.message == (
        "The data has a string with a lone surrogate, which UTF-8 cannot encode."
    )


# --- parse_request: the URL ----------------------------------------------------


@pytest.mark.parametrize(
    ("url", "kind"),
    [(None, "null"), ("", "a string"), (5, "a number"), ({}, "an object")],
)
def test_url_is_required(url, kind):
    error = error_of("get", {"url": url})
    assert error.code == "invalid_url"
    assert error.message == (
        f"The request payload needs a 'url' string such as '/todos', not {kind}."
    )


def test_url_length_limit():
    longest = "/" + "a" * (MAX_URL_LENGTH - 1)
    assert parse("get", {"url": longest}).path == longest
    error = error_of("get", {"url": longest + "a"})
    assert (error.code, error.status) == ("uri_too_long", 414)
    assert error.message == "The url is 8193 characters long; the limit is 8192."
    assert MAX_URL_LENGTH == 8192


@pytest.mark.parametrize("char", ["\x00", "\x1f", "\x7f", "\n", "\t", "\r"])
def test_url_control_characters(char):
    error = error_of("get", {"url": f"/a{char}b"})
    assert error.code == "invalid_url"
    assert error.message == "The url contains a control character."


def test_url_with_printable_edges():
    assert parse("get", {"url": "/a b~"}).path == "/a b~"
    assert parse("get", {"url": "/\x80\u00ff"}).path == "/\x80\u00ff"


def test_url_lone_surrogate():
    error = error_of("get", {"url": "/x\ud800"})
    assert error.code == "invalid_url"
    assert error.message == "The url has a lone surrogate, which UTF-8 cannot encode."
    assert parse("get", {"url": "/caf\u00e9"}).path == "/caf\u00e9"


@pytest.mark.parametrize(
    ("url", "path", "query"),
    [
        ("http://127.0.0.1:5000/x?y=2", "/x", "y=2"),
        ("https://127.0.0.1:5000/x", "/x", ""),
        ("ws://127.0.0.1:5000/", "/", ""),
        ("wss://127.0.0.1:5000?q=1", "/", "q=1"),
        ("HTTP://127.0.0.1:5000/Case", "/Case", ""),
        ("http://LOCALHOST:5000/x", "/x", ""),
        ("//127.0.0.1:5000/p?q#f", "/p", "q"),
        ("http://127.0.0.1:5000/p#f?not=query", "/p", ""),
    ],
)
def test_absolute_urls(url, path, query):
    req = parse_request("get", {"url": url}, ("127.0.0.1:5000", "localhost:5000"))
    assert (req.path, req.query, req.url) == (path, query, url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "ftp://127.0.0.1:5000/x",
            "The url 'ftp://127.0.0.1:5000/x' must be a path such as '/todos' or"
            " an http(s) URL of this server.",
        ),
        (
            "todos",
            "The url 'todos' must start with '/': socket requests have no page to"
            " resolve a relative URL against.",
        ),
        (
            "http:/x",
            "The url 'http:/x' must start with '/': socket requests have no page"
            " to resolve a relative URL against.",
        ),
        (
            "http://127.0.0.1:5001/",
            "The url 'http://127.0.0.1:5001/' names another host; a socket request"
            " can only reach the server it is connected to.",
        ),
        (
            "//evil.example/x",
            "The url '//evil.example/x' names another host; a socket request can"
            " only reach the server it is connected to.",
        ),
        ("http://[::1/", "The url 'http://[::1/' is not valid."),
    ],
)
def test_bad_absolute_urls(url, message):
    error = error_of("get", {"url": url})
    assert (error.code, error.status, error.message) == ("invalid_url", 400, message)


def test_no_hosts_refuses_every_absolute_url():
    with pytest.raises(ProtocolError):
        parse_request("get", {"url": "http://127.0.0.1:5000/"})


@pytest.mark.parametrize(
    ("url", "path", "query"),
    [
        ("/a?b=1&c", "/a", "b=1&c"),
        ("/a#x", "/a", ""),
        ("/a?#x", "/a", ""),
        ("/a?b=c d", "/a", "b=c%20d"),
        ("/a?b=\u00e9", "/a", "b=%C3%A9"),
        ("/a?k=/?:@!$&'()*+,;=-._~%41[]", "/a", "k=/?:@!$&'()*+,;=-._~%41[]"),
        (
            "/a?k=/?:@!$&'()*+,;=-._~%41[] \"<>",
            "/a",
            "k=/?:@!$&'()*+,;=-._~%41[]%20%22%3C%3E",
        ),
        ('/a?"<>^`{|}', "/a", '"<>^`{|}'),
        ("/sp ace?q", "/sp ace", "q"),
    ],
)
def test_url_split(url, path, query):
    req = parse("get", {"url": url})
    assert (req.path, req.query) == (path, query)


# --- parse_request: the headers ------------------------------------------------


#: Every header the protocol drops, as a client would spell it.
DROPPED_HEADERS = [
    "Host",
    "Cookie",
    "Cookie2",
    "Origin",
    "Forwarded",
    "X-Real-IP",
    "Via",
    "Content-Length",
    "Transfer-Encoding",
    "Connection",
    "Upgrade",
    "Keep-Alive",
    "TE",
    "Trailer",
    "Expect",
    "X-Forwarded-For",
    "x-forwarded-host",
    "Proxy-Authorization",
    "Sec-Fetch-Mode",
    "sec-websocket-key",
]


@pytest.mark.parametrize("name", DROPPED_HEADERS)
def test_connection_headers_are_dropped(name):
    req = parse("get", {"url": "/", "headers": {name: "v", "X-Kept": "k"}})
    assert req.headers == [("HTTP_X_KEPT", "k")]


@pytest.mark.parametrize(
    "name", ["X-Forwarded", "Proxy", "Sec", "Hosts", "X-Via", "Expected", "Tea"]
)
def test_near_misses_are_kept(name):
    key = "HTTP_" + name.upper().replace("-", "_")
    assert parse("get", {"url": "/", "headers": {name: "v"}}).headers == [(key, "v")]


def test_forbidden_headers_are_the_documented_ones():
    assert FORBIDDEN_HEADERS == {
        name.upper().replace("-", "_")
        for name in DROPPED_HEADERS
        if not name.lower().startswith(("x-forwarded-", "proxy-", "sec-"))
    }


def test_extra_forbidden_headers():
    forbidden = FORBIDDEN_HEADERS | {"AUTHORIZATION"}
    req = parse_request(
        "get",
        {"url": "/", "headers": {"Authorization": "x", "Host": "h", "A": "1"}},
        HOSTS,
        forbidden,
    )
    assert req.headers == [("HTTP_A", "1")]
    req = parse_request(
        "get", {"url": "/", "headers": {"Host": "h"}}, HOSTS, frozenset()
    )
    assert req.headers == [("HTTP_HOST", "h")]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain", "plain"),
        ("tab\there", "tab\there"),
        ("caf\u00e9 \u00ff", "caf\u00e9 \u00ff"),
        (0, "0"),
        (7, "7"),
        (2.0, "2"),
        (0.5, "0.5"),
        (True, "true"),
        (False, "false"),
    ],
)
def test_header_values(value, text):
    assert parse("get", {"url": "/", "headers": {"X-V": value}}).headers == [
        ("HTTP_X_V", text)
    ]


@pytest.mark.parametrize(
    ("value", "kind"), [(None, "null"), ([1], "an array"), ({}, "an object")]
)
def test_header_value_types(value, kind):
    error = error_of("get", {"url": "/", "headers": {"X-V": value}})
    assert error.code == "invalid_headers"
    assert error.message == (
        f"The value of header 'X-V' must be a string, number or boolean, not {kind}."
    )


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "\x00", "a\x7f", "\x1f"])
def test_header_control_characters(value):
    error = error_of("get", {"url": "/", "headers": {"X-V": value}})
    assert error.code == "invalid_headers"
    assert error.message == "The value of header 'X-V' contains a control character."


@pytest.mark.parametrize("value", ["\u20ac", "\ud800", "ok\u0100"])
def test_header_values_outside_latin_1(value):
    error = error_of("get", {"url": "/", "headers": {"X-V": value}})
    assert error.code == "invalid_headers"
    assert error.message == (
        "The value of header 'X-V' has a character outside Latin-1, which HTTP"
        " headers cannot carry; encode it (for example with encodeURIComponent)."
    )


@pytest.mark.parametrize("name", ["", "X V", "X:V", "caf\u00e9", "a\nb", "(x)"])
def test_header_names(name):
    error = error_of("get", {"url": "/", "headers": {name: "v"}})
    assert error.code == "invalid_headers"
    assert error.message == f"{name!r} is not a valid header name."


def test_every_token_character_is_a_header_name():
    name = "!#$%&'*+-.^_`|~09AZaz"
    assert parse("get", {"url": "/", "headers": {name: "v"}}).headers == [
        ("HTTP_" + name.upper().replace("-", "_"), "v")
    ]


def test_headers_must_be_an_object():
    error = error_of("get", {"url": "/", "headers": "X: 1"})
    assert error.code == "invalid_headers"
    assert error.message == (
        "The payload's 'headers' must be an object of names to values, not a string."
    )
    assert parse("get", {"url": "/", "headers": None}).headers == []
    assert parse("get", {"url": "/", "headers": {}}).headers == []


def test_repeated_header_names_are_joined():
    req = parse(
        "get", {"url": "/", "headers": {"X-A": "1", "x-a": "2", "X_A": 3, "B": "b"}}
    )
    assert req.headers == [("HTTP_X_A", "1, 2, 3"), ("HTTP_B", "b")]
    req = parse(
        "post",
        {"url": "/", "headers": {"Content-Type": "a/b", "content-type": "c/d"}},
    )
    assert req.headers == [("CONTENT_TYPE", "a/b, c/d")]


def test_content_type_header_decides_the_body():
    req = parse(
        "post", {"url": "/", "headers": {"content-TYPE": "text/csv"}, "data": "a"}
    )
    assert req.headers == [("CONTENT_TYPE", "text/csv")]


# --- wsgi_path -----------------------------------------------------------------


def test_wsgi_path_decodes_to_latin_1():
    plain = "/plain/path"
    assert wsgi_path(plain) is plain
    assert wsgi_path("/caf\u00e9") == "/caf\u00c3\u00a9"
    assert wsgi_path("/%ff%2f") == "/\u00ff/"
    assert wsgi_path("/100%") == "/100%"


# --- encode_jwr and the body ---------------------------------------------------


def test_encode_jwr_set_cookies_are_collected():
    jar: list[str] = []
    headers = [
        ("Set-Cookie", "a=1"),
        ("X", "1"),
        ("set-cookie", "b=2; Path=/"),
        ("SET-COOKIE", "c=3"),
    ]
    jwr = encode_jwr(204, headers, b"", "GET", set_cookies=jar)
    assert jar == ["a=1", "b=2; Path=/", "c=3"]
    assert jwr == {"body": None, "headers": {"X": "1"}, "statusCode": 204}


def test_encode_jwr_content_type_in_any_case():
    jwr = encode_jwr(200, [("content-TYPE", "Application/JSON")], b"[1]", "GET")
    assert jwr["body"] == [1]
    assert jwr["headers"] == {"content-TYPE": "Application/JSON"}


def test_encode_jwr_joins_repeated_headers_in_order():
    headers = [("Vary", "A"), ("X", "1"), ("Vary", "B"), ("Vary", "C")]
    jwr = encode_jwr(200, headers, b"", "GET")
    assert jwr["headers"] == {"Vary": "A, B, C", "X": "1"}
    assert list(jwr["headers"]) == ["Vary", "X"]
    assert type(jwr) is JWR


@pytest.mark.parametrize(
    ("status", "method", "has_body"),
    [
        (100, "GET", False),
        (199, "GET", False),
        (200, "GET", True),
        (201, "POST", True),
        (203, "GET", True),
        (204, "GET", False),
        (205, "GET", True),
        (303, "GET", True),
        (304, "GET", False),
        (305, "GET", True),
        (404, "GET", True),
        (500, "HEAD", False),
        (200, "head", True),
    ],
)
def test_which_responses_have_a_body(status, method, has_body):
    jwr = encode_jwr(status, [("Content-Type", "text/plain")], b"x", method)
    assert jwr["body"] == ("x" if has_body else None)
    assert jwr["statusCode"] == status


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("text/plain", "\u00e9"),
        ("TEXT/HTML", "\u00e9"),
        ("application/javascript", "\u00e9"),
        ("application/xml", "\u00e9"),
        ("application/xhtml+xml", "\u00e9"),
        ("application/x-www-form-urlencoded", "\u00e9"),
        ("image/svg+xml", "\u00e9"),
        ("application/atom+xml", "\u00e9"),
        ("application/x-thing; charset=utf-8", "\u00e9"),
        ("application/x-thing; CHARSET=UTF-8", "\u00e9"),
        ("application/x-thing; foo=bar", "\u00e9".encode()),
        ("application/xml-dtd", "\u00e9"),
        ("application/octet-stream", "\u00e9".encode()),
        ("image/png", "\u00e9".encode()),
        ("textual/plain", "\u00e9".encode()),
        ("", "\u00e9".encode()),
    ],
)
def test_body_kinds(content_type, expected):
    headers = [("Content-Type", content_type)] if content_type else []
    body = encode_jwr(200, headers, "\u00e9".encode(), "GET")["body"]
    assert body == expected
    assert type(body) is type(expected)


def test_binary_body_is_kept_whole():
    blob = bytes(range(256)) * 64
    jwr = encode_jwr(200, [("Content-Type", "application/octet-stream")], blob, "GET")
    assert jwr["body"] == blob
    jwr = encode_jwr(200, [], blob, "GET", raw_json=True)
    assert jwr["body"] == blob


@pytest.mark.parametrize(
    ("params", "body", "expected"),
    [
        ("; charset=latin-1", "\u00e9".encode("latin-1"), "\u00e9"),
        ('; charset="latin-1"', "\u00e9".encode("latin-1"), "\u00e9"),
        (";charset = utf-16 ", "\u00e9".encode("utf-16"), "\u00e9"),
        ("; a=b; Charset=cp1252", b"\x80", "\u20ac"),
        ("; charset=", b"caf\xc3\xa9", "caf\u00e9"),
        ("; charset=no-such-charset", b"\xe9", b"\xe9"),
        ("", b"\xe9", b"\xe9"),
        ("; charset=ascii", b"\xe9", b"\xe9"),
        # A codec alias that begins with an X: the charset is read whole.
        ('; charset="X_MAC_JAPANESE"', "\u65e5".encode("shift_jis"), "\u65e5"),
    ],
)
def test_text_charsets(params, body, expected):
    jwr = encode_jwr(200, [("Content-Type", f"text/plain{params}")], body, "GET")
    assert jwr["body"] == expected
    assert type(jwr["body"]) is type(expected)


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("application/json", b'{"a": [1, 2.5, null]}', {"a": [1, 2.5, None]}),
        ("application/json; charset=utf-8", b'"\xc3\xa9"', "\u00e9"),
        (" Application/JSON ", b"true", True),
        ("application/vnd.api+json", b"{}", {}),
        ("application/json", "[1]".encode("utf-16"), [1]),
        ("application/json", "[1".encode("utf-16"), "[1".encode("utf-16")),
        ("application/json", "[NaN]".encode("utf-16"), "[NaN]".encode("utf-16")),
        ("application/json", b"NaN", "NaN"),
        ("application/json", b"[Infinity]", "[Infinity]"),
        ("application/json", b"[-Infinity]", "[-Infinity]"),
        ("application/json", b"{", "{"),
        ("application/json", b"\xff{", b"\xff{"),
        ("application/json", b"", ""),
        ("application/jsonx", b"[1]", b"[1]"),
    ],
)
def test_json_bodies(content_type, body, expected):
    jwr = encode_jwr(200, [("Content-Type", content_type)], body, "GET")
    assert jwr["body"] == expected
    assert type(jwr["body"]) is type(expected)


@pytest.mark.parametrize("codec_class", [StdJSON, OrJSON])
def test_raw_json_bodies(codec_class, monkeypatch):
    monkeypatch.setattr(protocol, "CODEC", codec_class)
    headers = [("Content-Type", "application/json")]
    jwr = encode_jwr(200, headers, b'{"a": 1}', "GET", raw_json=True)
    assert jwr["body"] == RawJSON(b'{"a": 1}')
    # Not JSON: as text, whether or not raw.
    jwr = encode_jwr(200, headers, b"{", "GET", raw_json=True)
    assert jwr["body"] == "{"
    jwr = encode_jwr(200, headers, b"[NaN]", "GET", raw_json=True)
    assert jwr["body"] == "[NaN]"
    # UTF-16 JSON is never passed on raw: the packet is UTF-8.
    jwr = encode_jwr(200, headers, "[1]".encode("utf-16"), "GET", raw_json=True)
    assert jwr["body"] == [1]
    # A lone surrogate escape is JSON that orjson refuses: still raw.
    jwr = encode_jwr(200, headers, b'"\\ud800"', "GET", raw_json=True)
    assert jwr["body"] == RawJSON(b'"\\ud800"')
    jwr = encode_jwr(200, headers, b'{"a": 1}', "GET")
    assert jwr["body"] == {"a": 1}


def test_a_charset_that_cannot_decode_anything_leaves_bytes():
    # "undefined" is a codec that refuses every byte: as for an unknown
    # charset, the body is sent as bytes rather than failing (over HTTP the
    # same response is a 200).
    headers = [("Content-Type", "text/plain; charset=undefined")]
    assert encode_jwr(200, headers, b"hello", "GET")["body"] == b"hello"
