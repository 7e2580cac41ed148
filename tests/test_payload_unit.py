"""``flask_sockreq.payload``: test-client arguments to a request payload, a
body to upload in pieces, and a JWR back to a response's parts."""

from __future__ import annotations

import io
import os
import tempfile
import typing as t

import pytest
from werkzeug.datastructures import FileStorage
from werkzeug.datastructures import Headers
from werkzeug.test import EnvironBuilder

from flask_sockreq import payload as payload_module
from flask_sockreq.payload import _as_bytes
from flask_sockreq.payload import _charset
from flask_sockreq.payload import _multipart
from flask_sockreq.payload import _Part
from flask_sockreq.payload import _quote_path
from flask_sockreq.payload import _raw_upload
from flask_sockreq.payload import _remaining_size
from flask_sockreq.payload import build_request
from flask_sockreq.payload import build_upload_request
from flask_sockreq.payload import response_parts
from flask_sockreq.payload import UploadBody


def build(*args: t.Any, **kwargs: t.Any) -> t.Any:
    return build_request(EnvironBuilder, *args, **kwargs)


def upload_of(*args: t.Any, inline_limit: int = 100, **kwargs: t.Any) -> t.Any:
    return build_upload_request(
        EnvironBuilder, *args, inline_limit=inline_limit, **kwargs
    )


def read_all(upload: UploadBody, size: int = 7) -> bytes:
    return b"".join(iter(lambda: upload.read(size), b""))


# --- build_request -------------------------------------------------------------


def test_a_get():
    request = build("/todos", query_string={"done": "1", "q": "a b"})
    assert request.event == "get"
    assert request.payload == {"url": "/todos?done=1&q=a+b", "headers": {}}
    assert request.environ["REQUEST_METHOD"] == "GET"


def test_a_json_post_sends_the_value():
    request = build("/todos", method="POST", json={"title": "x", "n": [1]})
    assert request.event == "post"
    assert request.payload == {
        "url": "/todos",
        "headers": {"Content-Type": "application/json"},
        "data": {"title": "x", "n": [1]},
    }
    # The environ still holds the body the JSON was encoded to, from its start.
    assert request.environ["wsgi.input"].read() == b'{"title": "x", "n": [1]}'


@pytest.mark.parametrize("value", [None, 0, "", [], False])
def test_a_falsy_json_value_is_sent_too(value):
    request = build("/v", method="PUT", json=value)
    assert request.payload["data"] == value
    assert type(request.payload["data"]) is type(value)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_json_of_a_get_is_sent_as_its_bytes(method):
    request = build("/v", method=method, json={"a": 1})
    assert request.payload["data"] == b'{"a": 1}'
    assert request.payload["headers"] == {"Content-Type": "application/json"}


def test_bytes_and_forms_are_sent_as_their_bytes():
    request = build("/b", method="PUT", data=b"\x00\xffraw", content_type="image/png")
    assert request.payload == {
        "url": "/b",
        "headers": {"Content-Type": "image/png"},
        "data": b"\x00\xffraw",
    }
    request = build("/f", method="POST", data={"a": "1", "b": "x y"})
    assert request.payload == {
        "url": "/f",
        "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        "data": b"a=1&b=x+y",
    }


def test_an_empty_body_sends_no_data():
    assert "data" not in build("/e", method="POST", data=b"").payload
    assert "data" not in build("/e", method="DELETE").payload


def test_headers_the_connection_decides_are_left_out():
    request = build(
        "/h",
        headers=[
            ("X-A", "1"),
            ("Cookie", "a=1"),
            ("Host", "evil"),
            ("Origin", "x"),
            ("Content-Type", "text/plain"),
            ("x-a", "2"),
            ("X-A", "3"),
            ("Accept", "*/*"),
        ],
    )
    assert request.payload["headers"] == {
        "X-A": "1, 3",
        "x-a": "2",
        "Accept": "*/*",
        "Content-Type": "text/plain",
    }


def test_the_script_root_and_the_path_are_percent_encoded():
    request = build("/caf\u00e9/a b", base_url="http://localhost/r\u00f6\u00f6t")
    assert request.payload["url"] == "/r%C3%B6%C3%B6t/caf%C3%A9/a%20b"
    request = build("/keep/:@!$&'()*+,;=-._~")
    assert request.payload["url"] == "/keep/:@!$&'()*+,;=-._~"
    request = build("/q?x=%20")
    assert request.payload["url"] == "/q?x=%20"


def test_an_empty_path_is_the_root():
    request = build("", base_url="http://localhost/app")
    assert request.payload["url"] == "/app/"
    assert _quote_path("/\u00e9") == "/%E9"
    assert _quote_path("/caf\u00e9".encode().decode("latin-1")) == "/caf%C3%A9"


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND"])
def test_methods_a_socket_cannot_send(method):
    with pytest.raises(ValueError) as info:
        build("/", method=method)
    assert str(info.value) == (
        f"A {method} request cannot be sent over a socket; the methods are GET,"
        " POST, PUT, PATCH, DELETE, HEAD, OPTIONS."
    )


def test_a_builder_given_is_used_and_left_open():
    builder = EnvironBuilder("/given", method="PATCH", data=b"x")
    request = build_request(EnvironBuilder, builder)
    assert request.event == "patch"
    assert request.payload["data"] == b"x"
    assert builder.closed is False
    builder.close()


def test_a_builder_made_is_closed(monkeypatch):
    made: list[EnvironBuilder] = []

    def factory(*args: t.Any, **kwargs: t.Any) -> EnvironBuilder:
        made.append(EnvironBuilder(*args, **kwargs))
        return made[-1]

    build_request(factory, "/x", data={"f": (io.BytesIO(b"1"), "f.txt")})
    assert made[0].closed is True
    build_upload_request(factory, "/x", inline_limit=10)
    assert made[1].closed is True


def test_a_failing_build_still_closes_its_builder():
    made: list[EnvironBuilder] = []

    def factory(*args: t.Any, **kwargs: t.Any) -> EnvironBuilder:
        made.append(EnvironBuilder(*args, **kwargs))
        return made[-1]

    with pytest.raises(ValueError):
        build_request(factory, "/x", method="TRACE")
    with pytest.raises(ValueError):
        build_upload_request(factory, "/x", method="TRACE", inline_limit=10)
    assert [builder.closed for builder in made] == [True, True]


# --- build_upload_request ------------------------------------------------------


def test_a_body_at_the_limit_stays_inline():
    request, upload = upload_of("/u", method="POST", data=b"x" * 100)
    assert upload is None
    assert request.payload["data"] == b"x" * 100


def test_a_body_over_the_limit_is_uploaded():
    request, upload = upload_of("/u", method="POST", data=b"x" * 101)
    assert upload is not None and upload.length == 101
    assert "data" not in request.payload
    assert read_all(upload) == b"x" * 101


def test_json_over_the_limit_is_uploaded_as_its_text():
    request, upload = upload_of("/u", method="POST", json=["y" * 100])
    assert upload is not None
    assert "data" not in request.payload
    assert request.payload["headers"] == {"Content-Type": "application/json"}
    assert read_all(upload) == b'["' + b"y" * 100 + b'"]'
    assert upload.length == 104
    assert upload.content_type is None
    request, upload = upload_of("/u", method="POST", json=["y" * 95])
    assert upload is None and request.payload["data"] == ["y" * 95]


def test_a_long_get_body_is_uploaded_too():
    request, upload = upload_of("/u", method="GET", data=b"g" * 101)
    assert upload is not None and read_all(upload) == b"g" * 101
    assert "data" not in request.payload


def test_a_small_form_stays_inline():
    request, upload = upload_of("/u", method="POST", data={"a": "1"})
    assert upload is None
    assert request.payload["data"] == b"a=1"


def test_a_large_form_is_uploaded_as_it_was_encoded():
    request, upload = upload_of("/u", method="POST", data={"a": "z" * 200})
    assert upload is not None
    assert read_all(upload) == b"a=" + b"z" * 200
    assert request.payload["headers"] == {
        "Content-Type": "application/x-www-form-urlencoded"
    }


def test_input_stream_is_uploaded():
    stream = io.BytesIO(b"s" * 300)
    request, upload = upload_of(
        "/u", method="PUT", input_stream=stream, content_type="text/csv"
    )
    assert upload is not None and upload.length == 300
    assert upload.source is stream
    assert request.payload["headers"] == {"Content-Type": "text/csv"}
    assert read_all(upload) == b"s" * 300


def test_a_multipart_form_is_uploaded_lazily():
    big = b"B" * 500
    request, upload = upload_of(
        "/u",
        method="POST",
        data={
            "doc": (io.BytesIO(big), "doc.txt"),
            "raw": (io.BytesIO(b"r"), "raw"),
            "field": FileStorage(io.BytesIO(b"fs"), name="field"),
            "typed": (io.BytesIO(b"t"), "t.bin", "image/png"),
            "note": "hello",
        },
    )
    assert upload is not None
    content_type = request.payload["headers"]["Content-Type"]
    assert upload.content_type == content_type
    assert content_type.startswith('multipart/form-data; boundary="')
    boundary = content_type.split('boundary="')[1].rstrip('"')
    assert boundary.startswith("---------------SockReqFormPart_")
    assert len(boundary) == len("---------------SockReqFormPart_") + 32
    body = read_all(upload, 1000)
    assert upload.length == len(body)
    assert b'Content-Disposition: form-data; name="note"\r\n\r\nhello\r\n' in body
    assert (
        b'Content-Disposition: form-data; name="doc"; filename="doc.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\n" + big + b"\r\n"
    ) in body
    assert (
        b'name="raw"; filename="raw"\r\nContent-Type: application/octet-stream\r\n'
        in body
    )
    assert b'name="field"\r\nContent-Type: application/octet-stream\r\n\r\nfs' in body
    assert b'filename="t.bin"\r\nContent-Type: image/png\r\n\r\nt\r\n' in body
    assert body.endswith(f"--{boundary}--\r\n".encode())
    assert "data" not in request.payload


def test_a_multipart_form_with_a_stream_of_unknown_length():
    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self.left = [b"p" * 150, b"q" * 150]

        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

        def read(self, size: int = -1) -> bytes:
            return self.left.pop(0) if self.left else b""

    request, upload = upload_of(
        "/u", method="POST", data={"f": (Pipe(), "p.bin")}, inline_limit=10**6
    )
    assert upload is not None and upload.length is None
    body = read_all(upload, 64)
    assert b"p" * 150 + b"q" * 150 + b"\r\n" in body


def test_multipart_pieces():
    storage = FileStorage(io.BytesIO(b"abcde"), filename="f")
    part = _Part(
        payload_module.File(name="f", filename="f", headers=Headers()), storage, 5
    )
    pieces = list(_multipart([part], b"BOUND", piece_size=2))
    assert b"".join(pieces[2:-2]) == b"\r\nabcde"
    assert pieces[-1] == b"\r\n--BOUND--\r\n"


# --- UploadBody ----------------------------------------------------------------


def test_upload_body_of_bytes():
    upload = UploadBody(b"abcdefgh", 8)
    assert (upload.length, upload.content_type) == (8, None)
    assert (upload.is_async, upload.blocking) == (False, False)
    assert [upload.read(3), upload.read(3), upload.read(3), upload.read(3)] == [
        b"abc",
        b"def",
        b"gh",
        b"",
    ]
    assert upload.read(3) == b""
    assert repr(upload) == "<UploadBody length=8>"
    assert repr(UploadBody(b"", None, "a/b")) == "<UploadBody length=None>"
    upload.close()


def test_upload_body_of_other_buffers():
    assert read_all(UploadBody(bytearray(b"xyz"), 3), 2) == b"xyz"
    words = memoryview(bytes(range(8))).cast("H")
    upload = UploadBody(words, 8)
    assert [upload.read(5), upload.read(5)] == [bytes(range(5)), bytes(range(5, 8))]
    assert type(UploadBody(b"ab", 2).read(1)) is bytes


def test_upload_body_of_a_file_reads_it_and_leaves_it_open():
    file = io.BytesIO(b"0123456789")
    file.seek(2)
    upload = UploadBody(file, 8, "text/csv")
    assert upload.content_type == "text/csv"
    assert (upload.is_async, upload.blocking) == (False, True)
    assert upload.read(5) == b"23456"
    assert upload.read(5) == b"789"
    assert upload.read(5) == b""
    upload.close()
    assert not file.closed


def test_upload_body_of_an_iterator():
    finished: list[bool] = []

    def pieces() -> t.Iterator[t.Any]:
        try:
            yield b""
            yield "caf\u00e9"
            yield b""
            yield bytearray(b"!!")
            yield memoryview(b"?")
        finally:
            finished.append(True)

    upload = UploadBody(pieces(), None)
    assert (upload.is_async, upload.blocking) == (False, True)
    assert upload.read(2) == b"ca"
    assert upload.read(10) == b"f\xc3\xa9"
    assert upload.read(1) == b"!"
    assert upload.read(10) == b"!"
    assert upload.read(10) == b"?"
    assert upload.read(10) == b""
    assert finished == [True]


def test_upload_body_close_closes_a_generator():
    finished: list[bool] = []

    def pieces() -> t.Iterator[bytes]:
        try:
            yield b"a"
            yield b"b"
        finally:
            finished.append(True)

    upload = UploadBody(pieces(), None)
    assert upload.read(1) == b"a"
    upload.close()
    assert finished == [True]
    UploadBody(iter([b"x"]), None).close()  # a list iterator has no close


def test_upload_body_of_an_async_iterable():
    async def pieces() -> t.AsyncIterator[bytes]:
        yield b"x"

    source = pieces()
    upload = UploadBody(source, None)
    assert (upload.is_async, upload.blocking) == (True, False)
    assert upload.source is source
    with pytest.raises(TypeError) as info:
        upload.read(1)
    assert str(info.value) == (
        "An async iterable can only be uploaded by an asyncio client."
    )


@pytest.mark.parametrize("piece", [1, None, [b"x"]])
def test_upload_pieces_must_be_bytes(piece):
    upload = UploadBody(iter([piece]), None)
    with pytest.raises(TypeError) as info:
        upload.read(1)
    assert str(info.value) == (
        f"The upload's iterator gave {type(piece).__name__}, not bytes: open files"
        " in binary mode ('rb') and yield bytes."
    )
    with pytest.raises(TypeError, match="The upload's file gave int"):
        _as_bytes(5, "file")


# --- _raw_upload and _remaining_size -------------------------------------------


def test_raw_upload_leaves_small_bodies_and_forms():
    for data in ("text", {"a": "1"}, b"x" * 10, bytearray(10), None, 5):
        kwargs = {"data": data}
        assert _raw_upload(kwargs, 10) is None
        assert kwargs == {"data": data}
    assert _raw_upload({}, 10) is None


def test_raw_upload_takes_large_bodies():
    kwargs: dict[str, t.Any] = {"data": memoryview(b"x" * 11), "method": "POST"}
    upload = _raw_upload(kwargs, 10)
    assert upload is not None and upload.length == 11
    assert kwargs == {"method": "POST"}


def test_raw_upload_of_files():
    small = io.BytesIO(b"x" * 10)
    assert _raw_upload({"data": small}, 10) is None
    large = io.BytesIO(b"x" * 11)
    kwargs = {"data": large}
    upload = _raw_upload(kwargs, 10)
    assert upload is not None and upload.length == 11 and kwargs == {}
    with pytest.raises(TypeError) as info:
        _raw_upload({"data": io.StringIO("text")}, 10)
    assert str(info.value) == (
        "A file opened in text mode cannot be uploaded: open it in binary mode ('rb')."
    )
    kwargs = {"data": None, "input_stream": io.BytesIO(b"y" * 11)}
    upload = _raw_upload(kwargs, 10)
    assert upload is not None and upload.length == 11
    assert kwargs == {"data": None}


def test_raw_upload_of_iterables():
    kwargs: dict[str, t.Any] = {"data": [b"a", b"b"]}
    upload = _raw_upload(kwargs, 10**6)
    assert upload is not None and upload.length is None and kwargs == {}
    assert read_all(upload) == b"ab"

    async def agen() -> t.AsyncIterator[bytes]:
        yield b"x"

    kwargs = {"data": agen()}
    upload = _raw_upload(kwargs, 10**6)
    assert upload is not None and upload.is_async and kwargs == {}


def test_remaining_size():
    file = io.BytesIO(b"0123456789")
    assert _remaining_size(file) == 10
    file.seek(4)
    assert _remaining_size(file) == 6
    assert file.tell() == 4
    file.seek(20)
    assert _remaining_size(file) == 0
    assert file.tell() == 20

    class Unseekable(io.RawIOBase):
        def seekable(self) -> bool:
            return False

    assert _remaining_size(Unseekable()) is None

    class Broken(io.RawIOBase):
        def seekable(self) -> bool:
            return True

        def tell(self) -> int:
            raise OSError("gone")

    assert _remaining_size(Broken()) is None
    assert _remaining_size(object()) is None
    closed = io.BytesIO(b"x")
    closed.close()
    assert _remaining_size(closed) is None


def test_remaining_size_of_a_real_file():
    with tempfile.TemporaryFile() as file:
        file.write(b"z" * 1000)
        file.seek(250)
        assert _remaining_size(file) == 750
        assert file.tell() == 250
        file.seek(0, os.SEEK_END)
        assert _remaining_size(file) == 0


# --- response_parts ------------------------------------------------------------


def test_response_parts_of_json():
    data, status, headers = response_parts(
        {"body": {"a": [1, "\u00e9"]}, "headers": {"X-N": 5}, "statusCode": 201}
    )
    assert data == b'{"a":[1,"\\u00e9"]}\n'
    assert status == 201
    assert headers.to_wsgi_list() == [
        ("X-N", "5"),
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(data))),
    ]


def test_response_parts_keep_a_json_content_type():
    data, _, headers = response_parts(
        {"body": [], "headers": {"Content-Type": "application/problem+json"}}
    )
    assert data == b"[]\n"
    assert headers["Content-Type"] == "application/problem+json"
    data, _, _ = response_parts({"body": 0, "headers": {}})
    assert data == b"0\n"
    data, _, _ = response_parts({"body": False, "headers": {}})
    assert data == b"false\n"


def test_response_parts_of_bytes_are_whole():
    blob = bytes(range(256)) * 10
    data, status, headers = response_parts(
        {"body": bytearray(blob), "headers": {"Content-Length": "3"}, "statusCode": 200}
    )
    assert data == blob and type(data) is bytes
    assert headers["Content-Length"] == str(len(blob))
    assert "Content-Type" not in headers


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("text/plain; charset=utf-8", "caf\u00e9", b"caf\xc3\xa9"),
        ("text/plain; charset=latin-1", "caf\u00e9", b"caf\xe9"),
        ('text/plain; charset="latin-1"', "caf\u00e9", b"caf\xe9"),
        ("text/plain; Charset = cp1252 ", "\u20ac", b"\x80"),
        ("text/plain; charset=latin-1", "\u20ac", b"?"),
        ("text/plain; charset=no-such", "\u00e9", b"\xc3\xa9"),
        ("text/plain; charset=", "\u00e9", b"\xc3\xa9"),
        ("text/plain; format=flowed; charset=latin-1", "\u00e9", b"\xe9"),
        ("charset=latin-1", "\u00e9", b"\xc3\xa9"),
        ("", "\u00e9", b"\xc3\xa9"),
    ],
)
def test_response_parts_of_text(content_type, body, expected):
    headers = {"Content-Type": content_type} if content_type else {}
    data, _, out = response_parts({"body": body, "headers": headers})
    assert data == expected
    assert out["Content-Length"] == str(len(expected))


def test_charset():
    assert _charset("text/plain; charset=latin-1") == "latin-1"
    assert _charset("text/plain; charset=bogus; charset=latin-1") == "utf-8"
    assert _charset("text/plain; charset=; charset=latin-1") == "latin-1"
    assert _charset("text/plain") == "utf-8"


def test_response_parts_without_a_body_keep_their_headers():
    data, status, headers = response_parts(
        {"body": None, "headers": {"Content-Length": "42"}, "statusCode": 204}
    )
    assert (data, status) == (b"", 204)
    assert headers.to_wsgi_list() == [("Content-Length", "42")]
    data, status, headers = response_parts({})
    assert (data, status, headers.to_wsgi_list()) == (b"", 200, [])
    data, status, headers = response_parts({"body": ""})
    assert (data, headers["Content-Length"]) == (b"", "0")


@pytest.mark.parametrize("jwr", [None, [1], "x", {"headers": []}, {"headers": "x"}])
def test_response_parts_of_what_is_not_a_jwr(jwr):
    with pytest.raises(ValueError) as info:
        response_parts(jwr)
    assert str(info.value) == (
        f"The server answered with {jwr!r}, which is not a JWR"
        " {'body', 'headers', 'statusCode'}."
    )


@pytest.mark.parametrize("status", ["200", None, 2.5])
def test_response_parts_status_must_be_a_number(status):
    with pytest.raises(ValueError) as info:
        response_parts({"statusCode": status})
    assert str(info.value) == f"The JWR's statusCode {status!r} is not a number."


# --- what the mutation tests found uncovered -------------------------------------


def test_the_environ_of_an_uploaded_body_still_holds_it():
    request, upload = upload_of("/u", method="POST", json=["z" * 200])
    assert upload is not None
    body = b'["' + b"z" * 200 + b'"]'
    assert request.environ["wsgi.input"].read() == body
    assert read_all(upload) == body


def test_the_environ_of_an_uploaded_form_has_no_body():
    request, upload = upload_of(
        "/u", method="POST", data={"f": (io.BytesIO(b"x" * 500), "a.txt"), "n": "1"}
    )
    assert upload is not None
    assert request.environ["wsgi.input"].read() == b""
    assert "CONTENT_LENGTH" not in request.environ
    assert "data" not in request.payload


def test_an_environ_without_the_optional_keys():
    class Bare(EnvironBuilder):
        def get_environ(self) -> dict[str, t.Any]:
            environ = super().get_environ()
            for key in ("SCRIPT_NAME", "PATH_INFO", "QUERY_STRING"):
                environ.pop(key)
            return environ

    request = build_request(Bare, "/ignored?q=1")
    assert request.payload["url"] == "/"


def test_a_content_type_header_in_any_case_is_sent_once():
    request = build(
        "/c", method="POST", data=b"a,b", headers={"content-type": "text/csv"}
    )
    assert request.payload["headers"] == {"Content-Type": "text/csv"}


def test_a_file_that_reads_other_than_bytes():
    class Odd:
        def read(self, size: int) -> t.Any:
            return 5

    with pytest.raises(TypeError) as info:
        UploadBody(Odd(), None).read(10)
    assert str(info.value) == (
        "The upload's file gave int, not bytes: open files in binary mode ('rb')"
        " and yield bytes."
    )
    storage = FileStorage(Odd(), filename="odd.bin")  # type: ignore[arg-type]
    part = _Part(
        payload_module.File(name="f", filename="f", headers=Headers()), storage, 1
    )
    with pytest.raises(TypeError, match="The upload's file gave int"):
        list(_multipart([part], b"B"))


def test_a_form_with_repeated_names_keeps_every_value():
    request, upload = upload_of(
        "/u",
        method="POST",
        data={
            "many": ["one", "two"],
            "files": [
                (io.BytesIO(b"A" * 200), "a.bin"),
                (io.BytesIO(b"B" * 200), "b.bin"),
            ],
        },
    )
    assert upload is not None
    body = read_all(upload, 1000)
    assert body.count(b'name="many"') == 2
    assert b"\r\n\r\none\r\n" in body and b"\r\n\r\ntwo\r\n" in body
    assert body.count(b'name="files"') == 2
    assert b"A" * 200 in body and b"B" * 200 in body


def test_a_file_storage_without_a_type_gets_its_filenames():
    request, upload = upload_of(
        "/u",
        method="POST",
        data={
            "notes": FileStorage(io.BytesIO(b"n" * 200), filename="notes.txt"),
            "blob": FileStorage(io.BytesIO(b"b" * 200), filename="blob.unknownext"),
        },
    )
    assert upload is not None
    body = read_all(upload, 1000)
    assert b'filename="notes.txt"\r\nContent-Type: text/plain\r\n' in body
    assert (
        b'filename="blob.unknownext"\r\nContent-Type: application/octet-stream\r\n'
        in body
    )


def test_an_alias_charset():
    # A codec alias that begins with an X: the charset is read whole.
    data, _, _ = response_parts(
        {
            "body": "\u65e5\u672c",
            "headers": {"Content-Type": 'text/plain; charset="X_MAC_JAPANESE"'},
        }
    )
    assert data == "\u65e5\u672c".encode("shift_jis")


def test_a_file_of_a_form_is_read_64_kib_at_a_time():
    class Recording(io.BytesIO):
        def __init__(self, data: bytes) -> None:
            super().__init__(data)
            self.sizes: list[int] = []

        def read(self, size: int | None = -1) -> bytes:
            self.sizes.append(-1 if size is None else size)
            return super().read(size)

    stream = Recording(b"z" * 150_000)
    storage = FileStorage(stream, filename="big.bin")
    part = _Part(
        payload_module.File(name="f", filename="big.bin", headers=Headers()),
        storage,
        150_000,
    )
    pieces = list(_multipart([part], b"B"))
    assert stream.sizes == [65536, 65536, 65536, 65536]
    assert [len(piece) for piece in pieces[2:5]] == [
        2 + 65536,
        65536,
        150_000 - 2 * 65536,
    ]


def test_a_charset_that_cannot_encode_anything_is_utf_8():
    # "undefined" is a codec that refuses every text: as for an unknown
    # charset, the text is sent as UTF-8 rather than failing.
    data, _, headers = response_parts(
        {"body": "\u00e9", "headers": {"Content-Type": "text/plain; charset=undefined"}}
    )
    assert data == b"\xc3\xa9"
    assert headers["Content-Length"] == "2"
