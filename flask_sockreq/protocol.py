"""The wire protocol: payload validation and the JWR shape.

Pure functions with no I/O. A request arrives as the Socket.IO event named
after its method with a payload ``{"url", "data", "headers", "method"}``; the
answer is a JWR (JSON WebSocket Response) ``{"body", "headers", "statusCode"}``
sent back as the event's acknowledgement, as sails.io.js expects.
"""

from __future__ import annotations

import json
import math
import re
import typing as t
from urllib.parse import quote
from urllib.parse import unquote_to_bytes
from urllib.parse import urlencode
from urllib.parse import urlsplit

from .codec import CODEC
from .codec import JWR
from .codec import RawJSON

#: The events a client emits, one per HTTP method.
METHODS = ("get", "post", "put", "patch", "delete", "head", "options")

#: Payload headers that belong to the connection, not to one request. They are
#: dropped silently (as ``fetch`` drops forbidden header names), in WSGI form.
FORBIDDEN_HEADERS = frozenset(
    {
        "HOST",
        "COOKIE",
        "COOKIE2",
        "ORIGIN",
        "FORWARDED",
        "X_REAL_IP",
        "VIA",
        "CONTENT_LENGTH",
        "TRANSFER_ENCODING",
        "CONNECTION",
        "UPGRADE",
        "KEEP_ALIVE",
        "TE",
        "TRAILER",
        "EXPECT",
    }
)
FORBIDDEN_HEADER_PREFIXES = ("X_FORWARDED_", "PROXY_", "SEC_")

#: The longest URL served, as eventlet's server limits it; longer ones get 414.
MAX_URL_LENGTH = 8192

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_QUERY_SAFE = "/?:@!$&'()*+,;=-._~%[]"
_NO_BODY_STATUSES = frozenset({204, 304})
_TEXT_TYPES = (
    "text/",
    "application/javascript",
    "application/xml",
    "application/x-www-form-urlencoded",
)


class ProtocolError(Exception):
    """A malformed socket request. It becomes a 4xx JWR, never a crash.

    :param code: A short machine-readable name, such as ``"invalid_url"``.
    :param message: A sentence that says what was wrong.
    :param status: The JWR's status code.
    """

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def to_jwr(self) -> JWR:
        return error_jwr(self.status, self.code, self.message)


class StreamSpec(t.NamedTuple):
    """What a request's ``stream`` member asks for."""

    #: The client's id for the stream, unique among its streams in flight.
    id: str
    #: The download credit the client grants at the start, or None for the
    #: server's default.
    window: int | None
    #: Whether the body follows in ``sockreq:chunk`` events.
    upload: bool
    #: The declared length of an uploaded body, or None.
    length: int | None


#: The highest stream window or length a client may state (2**53, the largest
#: integer JavaScript counts exactly).
_MAX_STREAM_NUMBER = 2**53


def parse_stream(value: t.Any) -> StreamSpec | None:
    """Validate a request payload's ``stream`` member.

    ``{"v": 1, "id": "s1", "window": 262144}`` asks for the response body in
    frames; ``"upload": {"length": 20000000}`` (length null if unknown) says
    that the request body follows in frames.

    :raise ProtocolError: If it is malformed or of another version.
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ProtocolError(
            "invalid_stream",
            f"The payload's 'stream' must be an object such as"
            f' {{"v": 1, "id": "s1"}}, not {_json_type(value)}.',
        )
    version = value.get("v", 1)
    if version != 1 or isinstance(version, bool):
        raise ProtocolError(
            "unsupported_stream",
            f"This server speaks version 1 of the stream frames, not {version!r}.",
        )
    stream_id = value.get("id")
    if isinstance(stream_id, int) and not isinstance(stream_id, bool):
        stream_id = str(stream_id)
    if not isinstance(stream_id, str) or not 0 < len(stream_id) <= 64:
        raise ProtocolError(
            "invalid_stream",
            "The stream needs an 'id': a string of 1 to 64 characters or an integer.",
        )
    window = _stream_number(value.get("window"), "window", minimum=1)
    upload = value.get("upload")
    uploads = upload is not None and upload is not False
    length = None
    if uploads:
        if upload is True:
            upload = {}
        if not isinstance(upload, dict):
            raise ProtocolError(
                "invalid_stream",
                "The stream's 'upload' must be an object such as"
                ' {"length": 1024}, or true.',
            )
        length = _stream_number(upload.get("length"), "upload length", minimum=0)
    return StreamSpec(stream_id, window, uploads, length)


def _stream_number(value: t.Any, name: str, minimum: int) -> int | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not minimum <= value <= _MAX_STREAM_NUMBER
    ):
        raise ProtocolError(
            "invalid_stream",
            f"The stream's {name} must be an integer from {minimum} to"
            f" {_MAX_STREAM_NUMBER}, not {value!r}.",
        )
    return value


#: :attr:`SocketRequest.json` of a request whose body is not JSON data.
NO_JSON: t.Final = object()


class SocketRequest(t.NamedTuple):
    """A validated socket request, ready to become a WSGI environ."""

    method: str
    #: The path as sent, percent-encoded, with the script root still on it.
    path: str
    query: str
    #: ``(WSGI key, value)`` pairs, ``HTTP_*`` and ``CONTENT_TYPE`` only.
    headers: list[tuple[str, str]]
    body: bytes | None
    #: The URL as sent, for the access log.
    url: str
    #: What the ``stream`` member asks for, if anything.
    stream: StreamSpec | None = None
    #: The decoded value ``body`` is the JSON of, or :data:`NO_JSON`.
    json: t.Any = NO_JSON


def error_jwr(status: int, code: str, message: str) -> JWR:
    """Build the JWR for a request that never reached the app."""
    return JWR(
        body={"error": code, "message": message},
        headers={"Content-Type": "application/json"},
        statusCode=status,
    )


def parse_request(
    method: str,
    payload: t.Any,
    hosts: tuple[str, ...] = (),
    forbidden: frozenset[str] = FORBIDDEN_HEADERS,
) -> SocketRequest:
    """Validate a request payload.

    :param method: The event name, one of :data:`METHODS`.
    :param payload: The event's first argument as decoded by Socket.IO.
    :param hosts: The host names (with port) that an absolute URL may name:
        those of the connection's handshake.
    :param forbidden: The payload headers to drop, in WSGI form. Those
        starting with ``X_FORWARDED_``, ``PROXY_`` or ``SEC_`` always are.
    :raise ProtocolError: If anything in the payload is malformed.
    """
    if not isinstance(payload, dict):
        raise ProtocolError(
            "invalid_payload",
            f"The request payload must be an object with a 'url', not"
            f" {_json_type(payload)}.",
        )
    declared = payload.get("method")
    if declared is not None and (
        not isinstance(declared, str) or declared.lower() != method
    ):
        raise ProtocolError(
            "method_mismatch",
            f"The payload's method {declared!r} does not match the event"
            f" {method!r} it was sent on.",
        )
    path, query = _split_url(payload.get("url"), hosts)
    headers, content_type = _parse_headers(payload.get("headers"), forbidden)
    stream = parse_stream(payload.get("stream"))
    data = payload.get("data")
    body: bytes | None = None
    if stream is not None and stream.upload:
        if data is not None:
            raise ProtocolError(
                "invalid_stream",
                "A request whose body is uploaded in frames has no 'data'.",
            )
        if content_type is None:
            headers.append(("CONTENT_TYPE", "application/octet-stream"))
    elif data is None:
        pass
    elif isinstance(data, (str, bytes, bytearray)):
        if isinstance(data, str):
            body = _utf8(data, "The data")
            default_type = "text/plain; charset=utf-8"
        else:
            body = bytes(data)
            default_type = "application/octet-stream"
        if content_type is None:
            headers.append(("CONTENT_TYPE", default_type))
    elif method in ("get", "head"):
        if not isinstance(data, dict):
            raise ProtocolError(
                "invalid_data",
                f"The data of a {method.upper()} request is merged into the"
                f" query string, so it must be an object, not"
                f" {_json_type(data)}.",
            )
        extra = _encode_query(data)
        if extra:
            query = f"{query}&{extra}" if query else extra
    elif content_type is not None and content_type.lower().startswith(
        "application/x-www-form-urlencoded"
    ):
        if not isinstance(data, dict):
            raise ProtocolError(
                "invalid_data",
                f"Form-encoded data must be an object, not {_json_type(data)}.",
            )
        body = _encode_query(data).encode("ascii")
    else:
        body = _json_data(data)
        if content_type is None:
            headers.append(("CONTENT_TYPE", "application/json"))
        return SocketRequest(
            method.upper(), path, query, headers, body, payload["url"], stream, data
        )
    return SocketRequest(
        method.upper(), path, query, headers, body, payload["url"], stream
    )


def wsgi_path(path: str) -> str:
    """Decode a percent-encoded path the way a WSGI server does."""
    if "%" not in path and path.isascii():
        return path
    return unquote_to_bytes(path).decode("latin-1")


def encode_jwr(
    status: int,
    headers: t.Iterable[tuple[str, str]],
    body: bytes,
    method: str,
    raw_json: bool = False,
    set_cookies: list[str] | None = None,
) -> JWR:
    """Turn a WSGI response into a JWR.

    The body is the JSON value for a JSON response, a str for a textual one
    and bytes otherwise. HEAD, 204 and 304 responses carry ``None``.
    ``Set-Cookie`` headers are left out: scripts must never see them.

    :param raw_json: Give a valid JSON body as :class:`RawJSON`, for a packet
        encoder that splices it in as it is.
    :param set_cookies: Where to put the values of the ``Set-Cookie``
        headers, for the connection's cookie jar.
    """
    jwr_headers: dict[str, str] = {}
    content_type = ""
    for name, value in headers:
        lower = name.lower()
        if lower == "set-cookie":
            if set_cookies is not None:
                set_cookies.append(value)
            continue
        if lower == "content-type":
            content_type = value
        if name in jwr_headers:
            jwr_headers[name] = f"{jwr_headers[name]}, {value}"
        else:
            jwr_headers[name] = value
    return JWR(
        body=_decode_body(status, content_type, body, method, raw_json),
        headers=jwr_headers,
        statusCode=status,
    )


def _decode_body(
    status: int, content_type: str, body: bytes, method: str, raw_json: bool
) -> t.Any:
    if method == "HEAD" or status in _NO_BODY_STATUSES or status < 200:
        return None
    mimetype, _, params = content_type.partition(";")
    mimetype = mimetype.strip().lower()
    if mimetype == "application/json" or mimetype.endswith("+json"):
        value = _json_body(body, raw_json)
        if value is _NOT_JSON:  # or NaN, which JavaScript refuses: as text
            return _decode_text(body, params)
        return value
    if (
        mimetype.startswith(_TEXT_TYPES)
        or mimetype.endswith("+xml")
        or ("charset=" in params.lower())
    ):
        return _decode_text(body, params)
    return body


def _reject_constant(name: str) -> t.NoReturn:
    raise ValueError(f"{name} is not valid JSON.")


_JSON = json.JSONDecoder(parse_constant=_reject_constant)
_NOT_JSON = object()


def _json_body(body: bytes, raw_json: bool) -> t.Any:
    # Checked even when passed on raw: an invalid JSON text would corrupt the
    # packet, and the client's connection with it.
    if raw_json and CODEC.validate(body):
        return RawJSON(body)
    try:
        text = body.decode()
    except UnicodeDecodeError:  # UTF-16 or UTF-32 JSON, never passed raw
        try:
            return json.loads(body, parse_constant=_reject_constant)
        except ValueError:
            return _NOT_JSON
    try:
        value = _JSON.decode(text)
    except ValueError:
        return _NOT_JSON
    return RawJSON(body) if raw_json else value


def _decode_text(body: bytes, params: str) -> str | bytes:
    charset = "utf-8"
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value:
            charset = value.strip().strip('"')
    try:
        return body.decode(charset)
    except (LookupError, UnicodeError):  # "undefined" refuses everything
        return body


def _split_url(url: t.Any, hosts: tuple[str, ...]) -> tuple[str, str]:
    if not isinstance(url, str) or not url:
        raise ProtocolError(
            "invalid_url",
            f"The request payload needs a 'url' string such as '/todos', not"
            f" {_json_type(url)}.",
        )
    if len(url) > MAX_URL_LENGTH:
        raise ProtocolError(
            "uri_too_long",
            f"The url is {len(url)} characters long; the limit is {MAX_URL_LENGTH}.",
            414,
        )
    if _CONTROL.search(url):
        raise ProtocolError("invalid_url", "The url contains a control character.")
    if not url.isascii():
        _utf8(url, "The url")
    if not url.startswith("/") or url.startswith("//"):
        try:
            parts = urlsplit(url)
        except ValueError:
            raise ProtocolError(
                "invalid_url", f"The url {url!r} is not valid."
            ) from None
        if parts.scheme not in ("http", "https", "ws", "wss", ""):
            raise ProtocolError(
                "invalid_url",
                f"The url {url!r} must be a path such as '/todos' or an"
                " http(s) URL of this server.",
            )
        if not parts.netloc:
            raise ProtocolError(
                "invalid_url",
                f"The url {url!r} must start with '/': socket requests have no"
                " page to resolve a relative URL against.",
            )
        if parts.netloc.lower() not in hosts:
            raise ProtocolError(
                "invalid_url",
                f"The url {url!r} names another host; a socket request can"
                " only reach the server it is connected to.",
            )
        url = parts.path or "/"
        if parts.query:
            url = f"{url}?{parts.query}"
    path, _, query = url.partition("?")
    query = query.partition("#")[0]
    path = path.partition("#")[0]
    if not query.isascii() or " " in query:
        query = quote(query, safe=_QUERY_SAFE)
    return path, query


def _parse_headers(
    headers: t.Any, forbidden: frozenset[str]
) -> tuple[list[tuple[str, str]], str | None]:
    if headers is None:
        return [], None
    if not isinstance(headers, dict):
        raise ProtocolError(
            "invalid_headers",
            f"The payload's 'headers' must be an object of names to values,"
            f" not {_json_type(headers)}.",
        )
    result: dict[str, str] = {}
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name):
            raise ProtocolError(
                "invalid_headers", f"{name!r} is not a valid header name."
            )
        if isinstance(value, str):
            if _CONTROL.search(value.replace("\t", " ")):
                raise ProtocolError(
                    "invalid_headers",
                    f"The value of header {name!r} contains a control character.",
                )
            if not value.isascii():
                try:
                    value.encode("latin-1")
                except UnicodeEncodeError:
                    raise ProtocolError(
                        "invalid_headers",
                        f"The value of header {name!r} has a character outside"
                        " Latin-1, which HTTP headers cannot carry; encode it"
                        " (for example with encodeURIComponent).",
                    ) from None
        elif isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (int, float)):
            value = _number_to_str(value)
        else:
            raise ProtocolError(
                "invalid_headers",
                f"The value of header {name!r} must be a string, number or"
                f" boolean, not {_json_type(value)}.",
            )
        key = name.upper().replace("-", "_")
        if key in forbidden or key.startswith(FORBIDDEN_HEADER_PREFIXES):
            continue
        if key != "CONTENT_TYPE":
            key = f"HTTP_{key}"
        if key in result:
            result[key] = f"{result[key]}, {value}"
        else:
            result[key] = value
    return list(result.items()), result.get("CONTENT_TYPE")


def _number_to_str(value: float) -> str:
    # Match JavaScript's String(): sails.io.js clients send 7 and expect "7".
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ProtocolError(
                "invalid_data",
                f"{value!r} is not a number JSON can carry; send a string.",
            )
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    return str(value)


def _encode_query(data: dict[str, t.Any]) -> str:
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        if isinstance(value, list):
            for item in value:
                pairs.append((key, _query_value(key, item)))
        else:
            pairs.append((key, _query_value(key, value)))
    try:
        return urlencode(pairs)
    except UnicodeEncodeError:
        raise ProtocolError(
            "invalid_data",
            "The data has a string with a lone surrogate, which UTF-8 cannot encode.",
        ) from None


def _json_data(data: t.Any) -> bytes:
    try:
        return CODEC.dumps_bytes(data)
    except ValueError:
        raise ProtocolError(
            "invalid_data",
            "The data has NaN or Infinity, which are not JSON; send null or a string.",
        ) from None
    except TypeError:
        raise ProtocolError(
            "invalid_data",
            "The data mixes binary parts into a JSON value; send the binary"
            " data alone as 'data', or encode it (for example as base64).",
        ) from None


def _utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise ProtocolError(
            "invalid_data" if what == "The data" else "invalid_url",
            f"{what} has a lone surrogate, which UTF-8 cannot encode.",
        ) from None


def _query_value(key: str, value: t.Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _number_to_str(value)
    if value is None:
        return ""
    raise ProtocolError(
        "invalid_data",
        f"The value of {key!r} in the data must be a string, number, boolean,"
        f" null or a list of those, not {_json_type(value)}.",
    )


def _json_type(value: t.Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (bytes, bytearray)):
        return "binary data"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
