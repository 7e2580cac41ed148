"""Flask test-client arguments to a request payload, and a JWR back to a
response's parts: what the Python client and the test client share.

A request is described as for ``app.test_client()`` (``json=``, ``data=``,
``headers=``, ``query_string=``, ``content_type=``, ...); werkzeug's
:class:`~werkzeug.test.EnvironBuilder` encodes it exactly as it would for
HTTP, and the result becomes the payload of the event named after its method.
"""

from __future__ import annotations

import json
import typing as t
from urllib.parse import quote

from werkzeug.datastructures import Headers
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
    if args and isinstance(args[0], EnvironBuilder):
        builder = args[0]
    else:
        builder = builder_class(*args, **kwargs)
    try:
        environ = builder.get_environ()
    finally:
        if builder is not (args[0] if args else None):
            builder.close()
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
            except LookupError:
                break
            return charset
    return "utf-8"


def _quote_path(path: str) -> str:
    # PATH_INFO holds the URL's bytes decoded as latin-1, as WSGI says.
    return quote(path.encode("latin-1"), safe=_PATH_SAFE)
