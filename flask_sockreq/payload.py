"""Flask test-client arguments to a request payload, and a JWR back to a
response's parts: what the Python client and the test client share.

A request is described as for ``app.test_client()`` (``json=``, ``data=``,
``headers=``, ``query_string=``, ``content_type=``, ...); werkzeug's
:class:`~werkzeug.test.EnvironBuilder` encodes it exactly as it would for
HTTP, and the result becomes the payload of the event named after its method.

A body too large for one message (see :func:`build_upload_request`) becomes
an :class:`UploadBody`, read piece by piece as it is uploaded in stream
frames: a file object, an iterator of bytes, or a multipart form built
lazily around its files.
"""

from __future__ import annotations

import io
import json
import mimetypes
import os
import secrets
import typing as t
from collections.abc import Mapping
from urllib.parse import quote

from werkzeug.datastructures import FileStorage
from werkzeug.datastructures import Headers
from werkzeug.datastructures import MultiDict
from werkzeug.sansio.multipart import Data
from werkzeug.sansio.multipart import Epilogue
from werkzeug.sansio.multipart import Field
from werkzeug.sansio.multipart import File
from werkzeug.sansio.multipart import MultipartEncoder
from werkzeug.sansio.multipart import Preamble
from werkzeug.test import EnvironBuilder

from .protocol import FORBIDDEN_HEADERS
from .protocol import METHODS

_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_NO_JSON = object()


class Request(t.NamedTuple):
    """A socket request built from test-client arguments."""

    #: The event to emit, such as ``"post"``.
    event: str
    #: The event's argument ``{"url", "headers", "data"}``.
    payload: dict[str, t.Any]
    #: The WSGI environ the arguments describe, for ``response.request``.
    environ: dict[str, t.Any]


def build_request(
    builder_class: type[EnvironBuilder] | t.Callable[..., EnvironBuilder],
    *args: t.Any,
    **kwargs: t.Any,
) -> Request:
    """Build the payload of a request described by test-client arguments.

    A ``json=`` body of a method other than GET and HEAD is sent as the JSON
    value, as JavaScript clients send it; any other body is sent as its
    bytes (a binary attachment) with its ``Content-Type``, so form and
    multipart bodies arrive exactly as over HTTP.

    :param builder_class: Makes the :class:`~werkzeug.test.EnvironBuilder`
        from ``args`` and ``kwargs``, such as :class:`flask.testing.EnvironBuilder`
        bound to an app.
    :raise ValueError: If the method cannot be sent over a socket.
    """
    json_value = kwargs.get("json", _NO_JSON)
    builder, owned = _builder(builder_class, args, kwargs)
    try:
        return _request(builder, json_value)
    finally:
        if owned:
            builder.close()


def build_upload_request(
    builder_class: type[EnvironBuilder] | t.Callable[..., EnvironBuilder],
    *args: t.Any,
    inline_limit: int,
    **kwargs: t.Any,
) -> tuple[Request, UploadBody | None]:
    """Build a request as :func:`build_request` does, with its body split off
    as an :class:`UploadBody` when it must be uploaded as a stream: then the
    payload has no ``data``, and its headers the body's ``Content-Type``.

    A body is uploaded as a stream when it is longer than ``inline_limit``
    bytes, or of a length that cannot be known without reading it:

    - ``data=`` a file object (opened in binary mode; read from its current
      position) or ``input_stream=``;
    - ``data=`` an iterable of bytes, such as a generator, or an async
      iterable (for an asyncio client, see :attr:`UploadBody.is_async`);
    - ``data=`` a dict of form fields and files (``(file, filename)``
      tuples, file objects, :class:`~werkzeug.datastructures.FileStorage`),
      encoded as ``multipart/form-data`` exactly as werkzeug does, but
      lazily: a file is read only as its part is uploaded;
    - ``data=`` bytes or a string, ``json=``, or a form, once encoded.

    Smaller bodies stay in the payload, exactly as :func:`build_request`
    puts them there.

    :param inline_limit: The largest body sent in the payload, in bytes: the
        server's stream chunk size (``streams.chunkSize`` of its hello).
    :raise ValueError: If the method cannot be sent over a socket.
    :raise TypeError: If ``data`` is a file opened in text mode.
    """
    json_value = kwargs.get("json", _NO_JSON)
    upload = _raw_upload(kwargs, inline_limit)
    builder, owned = _builder(builder_class, args, kwargs)
    try:
        if upload is None and builder.input_stream is None and builder.files:
            upload = _form_upload(builder, inline_limit)
        request = _request(builder, json_value)
    finally:
        if owned:
            builder.close()
    payload = request.payload
    if upload is None and "data" in payload:
        size = int(request.environ.get("CONTENT_LENGTH") or 0)
        if size > inline_limit:
            body = request.environ["wsgi.input"].read()
            request.environ["wsgi.input"].seek(0)
            upload = UploadBody(body, len(body))
    if upload is not None:
        payload.pop("data", None)
        if upload.content_type is not None:
            payload["headers"]["Content-Type"] = upload.content_type
    return request, upload


def _builder(
    builder_class: type[EnvironBuilder] | t.Callable[..., EnvironBuilder],
    args: tuple[t.Any, ...],
    kwargs: dict[str, t.Any],
) -> tuple[EnvironBuilder, bool]:
    if args and isinstance(args[0], EnvironBuilder):
        return args[0], False
    return builder_class(*args, **kwargs), True


def _request(builder: EnvironBuilder, json_value: t.Any) -> Request:
    environ = builder.get_environ()
    method = environ["REQUEST_METHOD"].lower()
    if method not in METHODS:
        raise ValueError(
            f"A {method.upper()} request cannot be sent over a socket; the"
            f" methods are {', '.join(m.upper() for m in METHODS)}."
        )
    path = _quote_path(environ.get("SCRIPT_NAME", "")) + _quote_path(
        environ.get("PATH_INFO", "") or "/"
    )
    query = environ.get("QUERY_STRING", "")
    url = f"{path}?{query}" if query else path
    body = environ["wsgi.input"].read()
    environ["wsgi.input"].seek(0)
    headers: dict[str, str] = {}
    for name, value in builder.headers.items():
        key = name.upper().replace("-", "_")
        # The connection decides these (the server would drop them), and
        # Content-Type comes from the environ below.
        if key in FORBIDDEN_HEADERS or key == "CONTENT_TYPE":
            continue
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    content_type = environ.get("CONTENT_TYPE")
    if content_type:
        headers["Content-Type"] = content_type
    payload: dict[str, t.Any] = {"url": url, "headers": headers}
    if json_value is not _NO_JSON and method not in ("get", "head"):
        payload["data"] = json_value
    elif body:
        payload["data"] = body
    return Request(method, payload, environ)


class UploadBody:
    """A request body uploaded as a stream, read a piece at a time.

    :param source: Bytes (or any bytes-like object), a binary file object,
        an iterable of bytes (or of strings, sent as UTF-8), or an async
        iterable of them.
    :param length: Its length in bytes, or None if it is not known before
        the end.
    :param content_type: The ``Content-Type`` it must be sent with, if it
        decides it (a multipart form's boundary); None keeps the request's.
    """

    def __init__(
        self, source: t.Any, length: int | None, content_type: str | None = None
    ) -> None:
        #: The length in bytes, or None until the end.
        self.length = length
        #: The ``Content-Type`` the body requires, or None.
        self.content_type = content_type
        #: Whether ``source`` is an async iterable: read it with ``async
        #: for`` (:meth:`read` refuses it).
        self.is_async = hasattr(source, "__aiter__")
        #: Whether :meth:`read` may block on I/O (a file or an iterator): an
        #: asyncio client reads it in a thread.
        self.blocking = False
        self.source = source
        # Bytes, or what is left of the iterator's last piece.
        self._view: memoryview | None = None
        self._reader: t.Callable[[int], t.Any] | None = None
        self._iterator: t.Iterator[t.Any] | None = None
        if isinstance(source, (bytes, bytearray, memoryview)):
            self._view = memoryview(source).cast("B")
        elif hasattr(source, "read"):
            self._reader = source.read
            self.blocking = True
        elif not self.is_async:
            self._iterator = iter(source)
            self.blocking = True

    def read(self, size: int) -> bytes:
        """At most ``size`` bytes of the body, the next ones; ``b""`` at its
        end.

        :raise TypeError: If the source gives something that is not bytes,
            or is an async iterable.
        """
        if self._reader is not None:
            return _as_bytes(self._reader(size), "file")
        if self._view is None or not len(self._view):
            if self._iterator is None:
                if self._view is not None:
                    return b""
                raise TypeError(
                    "An async iterable can only be uploaded by an asyncio client."
                )
            self._view = None
            while self._view is None or not len(self._view):
                try:
                    piece = _as_bytes(next(self._iterator), "iterator")
                except StopIteration:
                    return b""
                self._view = memoryview(piece)
        view = self._view
        self._view = view[size:]
        return bytes(view[:size])

    def close(self) -> None:
        """Close an iterator source (a generator's ``finally`` runs); a file
        object stays open: it belongs to the caller."""
        close = getattr(self._iterator, "close", None)
        if close is not None:
            close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} length={self.length}>"


def _as_bytes(piece: t.Any, what: str) -> bytes:
    if isinstance(piece, bytes):
        return piece
    if isinstance(piece, (bytearray, memoryview)):
        return bytes(piece)
    if isinstance(piece, str):
        return piece.encode()
    raise TypeError(
        f"The upload's {what} gave {type(piece).__name__}, not bytes: open files"
        " in binary mode ('rb') and yield bytes."
    )


def _raw_upload(kwargs: dict[str, t.Any], inline_limit: int) -> UploadBody | None:
    """Take a body that is not a form out of ``kwargs`` if it must be
    uploaded: bytes over the limit, a file of unknown or large size, an
    iterable."""
    data = kwargs.get("data")
    key = "data"
    if data is None and kwargs.get("input_stream") is not None:
        data, key = kwargs["input_stream"], "input_stream"
    if data is None or isinstance(data, (str, Mapping)):
        return None
    if isinstance(data, (bytes, bytearray, memoryview)):
        size = memoryview(data).nbytes
        if size <= inline_limit:
            return None
        del kwargs[key]
        return UploadBody(data, size)
    if hasattr(data, "read"):
        if isinstance(data, io.TextIOBase):
            raise TypeError(
                "A file opened in text mode cannot be uploaded: open it in"
                " binary mode ('rb')."
            )
        remaining = _remaining_size(data)
        if remaining is not None and remaining <= inline_limit:
            return None
        del kwargs[key]
        return UploadBody(data, remaining)
    if hasattr(data, "__aiter__") or hasattr(data, "__iter__"):
        del kwargs[key]
        return UploadBody(data, None)
    return None


def _remaining_size(file: t.Any) -> int | None:
    """The bytes left to read in a file object, if it can tell without
    reading; its position does not change."""
    try:
        if not file.seekable():
            return None
        position = file.tell()
        end = file.seek(0, os.SEEK_END)
        file.seek(position)
        return max(int(end) - int(position), 0)
    except (OSError, ValueError, AttributeError, TypeError):
        return None


class _Part(t.NamedTuple):
    event: Field | File
    value: bytes | FileStorage
    size: int | None


def _form_upload(builder: EnvironBuilder, inline_limit: int) -> UploadBody | None:
    """A multipart form with files, as an :class:`UploadBody` built around
    its files, if it is larger than ``inline_limit`` or of unknown length;
    the builder is left without the form."""
    parts: list[_Part] = []
    for key, value in builder.form.items(multi=True):
        parts.append(_Part(Field(name=key, headers=Headers()), str(value).encode(), 0))
    for key, file in builder.files.items(multi=True):
        # As werkzeug's stream_encode_multipart does.
        filename = file.filename
        content_type = file.content_type or (
            filename and mimetypes.guess_type(filename)[0] or "application/octet-stream"
        )
        headers = Headers(file.headers)
        headers.set("Content-Type", content_type)
        event: Field | File = (
            Field(name=key, headers=headers)
            if filename is None
            else File(name=key, filename=filename, headers=headers)
        )
        parts.append(_Part(event, file, _remaining_size(file.stream)))
    boundary = f"---------------SockReqFormPart_{secrets.token_hex(16)}"
    length = _multipart_length(parts, boundary.encode())
    if length is not None and length <= inline_limit:
        return None
    builder.form = MultiDict()
    builder.files = type(builder.files)()
    return UploadBody(
        _multipart(parts, boundary.encode()),
        length,
        f'multipart/form-data; boundary="{boundary}"',
    )


def _multipart_length(parts: list[_Part], boundary: bytes) -> int | None:
    encoder = MultipartEncoder(boundary)
    total = len(encoder.send_event(Preamble(data=b"")))
    for part in parts:
        size = len(part.value) if isinstance(part.value, bytes) else part.size
        if size is None:
            return None
        total += len(encoder.send_event(part.event))
        if size:
            # The first piece of a part's data carries the CRLF after its
            # headers.
            total += len(encoder.send_event(Data(data=b"x", more_data=True))) - 1
            total += size
        total += len(encoder.send_event(Data(data=b"", more_data=False)))
    return total + len(encoder.send_event(Epilogue(data=b"")))


def _multipart(
    parts: list[_Part], boundary: bytes, piece_size: int = 65536
) -> t.Iterator[bytes]:
    encoder = MultipartEncoder(boundary)
    yield encoder.send_event(Preamble(data=b""))
    for part in parts:
        yield encoder.send_event(part.event)
        if isinstance(part.value, bytes):
            yield encoder.send_event(Data(data=part.value, more_data=False))
            continue
        read = part.value.stream.read
        while True:
            piece = _as_bytes(read(piece_size), "file")
            if not piece:
                yield encoder.send_event(Data(data=b"", more_data=False))
                break
            yield encoder.send_event(Data(data=piece, more_data=True))
    yield encoder.send_event(Epilogue(data=b""))


def response_parts(jwr: t.Any) -> tuple[bytes, int, Headers]:
    """The body, status and headers of a response from its JWR.

    A JSON body is encoded again, compactly and with a final newline as
    ``jsonify`` does; use ``get_json()`` to compare JSON responses. A text
    body is encoded in the charset of its ``Content-Type``.

    A response without a body (HEAD, 204, 304) keeps the headers it was
    sent with, ``Content-Length`` included.

    :raise ValueError: If ``jwr`` is not a JWR.
    """
    if not isinstance(jwr, dict) or not isinstance(jwr.get("headers", {}), dict):
        raise ValueError(
            f"The server answered with {jwr!r}, which is not a JWR"
            " {'body', 'headers', 'statusCode'}."
        )
    status = jwr.get("statusCode", 200)
    if not isinstance(status, int):
        raise ValueError(f"The JWR's statusCode {status!r} is not a number.")
    headers = Headers()
    for name, value in (jwr.get("headers") or {}).items():
        headers.add(name, str(value))
    body = jwr.get("body")
    if body is None:
        data = b""
    elif isinstance(body, (bytes, bytearray)):
        data = bytes(body)
    elif isinstance(body, str):
        data = body.encode(_charset(headers.get("Content-Type", "")), "replace")
    else:
        data = (json.dumps(body, separators=(",", ":")) + "\n").encode()
        headers.setdefault("Content-Type", "application/json")
    if body is not None:
        headers["Content-Length"] = str(len(data))
    return data, status, headers


def _charset(content_type: str) -> str:
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"')
            try:
                "".encode(charset)
            except (LookupError, UnicodeError):
                break
            return charset
    return "utf-8"


def _quote_path(path: str) -> str:
    # PATH_INFO holds the URL's bytes decoded as latin-1, as WSGI says.
    return quote(path.encode("latin-1"), safe=_PATH_SAFE)
