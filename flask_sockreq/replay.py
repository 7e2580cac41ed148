"""Replaying a socket request through the Flask app's WSGI pipeline."""

from __future__ import annotations

import inspect
import io
import logging
import sys
import threading
import typing as t

from flask import Flask
from flask import has_app_context
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import InternalServerError
from werkzeug.wrappers import Request as WerkzeugRequest

from .protocol import NO_JSON
from .protocol import ProtocolError
from .protocol import SocketRequest
from .protocol import wsgi_path

if t.TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment

logger = logging.getLogger("flask_sockreq")

#: The environ key that holds the :class:`~flask_sockreq.sockets.Socket`.
SOCKET_KEY = "flask_sockreq.socket"

# What a request inherits from its connection's handshake besides HTTP_*.
_CONNECTION_KEYS = (
    "wsgi.version",
    "wsgi.url_scheme",
    "wsgi.errors",
    "wsgi.multithread",
    "wsgi.multiprocess",
    "wsgi.run_once",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "SCRIPT_NAME",
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "REMOTE_USER",
    "HTTPS",
    "flask.app",
)
# Handshake headers that describe the upgrade request itself, not the client.
_REQUEST_HEADERS = frozenset(
    {
        "HTTP_CONNECTION",
        "HTTP_UPGRADE",
        "HTTP_ACCEPT",
        "HTTP_ACCEPT_ENCODING",
        "HTTP_CACHE_CONTROL",
        "HTTP_PRAGMA",
        "HTTP_RANGE",
        "HTTP_TRANSFER_ENCODING",
        "HTTP_TE",
        "HTTP_EXPECT",
        "HTTP_KEEP_ALIVE",
        "HTTP_CONTENT_LENGTH",
        "HTTP_CONTENT_TYPE",
        "HTTP_PRIORITY",
    }
)
_REQUEST_HEADER_PREFIXES = ("HTTP_SEC_WEBSOCKET_", "HTTP_SEC_FETCH_", "HTTP_IF_")


def environ_template(handshake: WSGIEnvironment) -> dict[str, t.Any]:
    """Take from a handshake environ what belongs to the connection.

    That is the peer address, scheme, host, script root, cookies, the headers
    a reverse proxy added and those that describe the client. Never the input
    stream, the content keys, server socket keys or the handshake's request
    line. Values ProxyFix rewrote are put back so that it runs afresh on each
    replayed request.
    """
    template = {key: handshake[key] for key in _CONNECTION_KEYS if key in handshake}
    for key, value in handshake.items():
        if (
            key.startswith("HTTP_")
            and key not in _REQUEST_HEADERS
            and not key.startswith(_REQUEST_HEADER_PREFIXES)
        ):
            template[key] = value
    original = handshake.get("werkzeug.proxy_fix.orig")
    if original:
        for key, value in original.items():
            if value is None:
                template.pop(key, None)
            else:
                template[key] = value
    return template


def build_environ(
    template: dict[str, t.Any],
    req: SocketRequest,
    socket: object,
    socketio_path: str = "/socket.io/",
    cookie: str | None = None,
) -> dict[str, t.Any]:
    """Make the WSGI environ for one socket request.

    :param cookie: The ``Cookie`` header from the connection's cookie jar.

    :param socketio_path: Where the Socket.IO server answers, with slashes
        around it. Such URLs are refused: they would reach Engine.IO.
    :raise ProtocolError: If the URL is under ``socketio_path``.
    """
    environ = template.copy()
    path = req.path
    script_name = environ.get("SCRIPT_NAME", "")
    if script_name and (path == script_name or path.startswith(f"{script_name}/")):
        path = path[len(script_name) :]
    path_info = wsgi_path(path)
    if path_info.startswith(socketio_path) or path_info == socketio_path[:-1]:
        raise ProtocolError(
            "invalid_url",
            f"The url {req.url!r} is under the Socket.IO path"
            f" {socketio_path!r}, which socket requests cannot reach.",
        )
    environ["REQUEST_METHOD"] = req.method
    environ["PATH_INFO"] = path_info
    environ["QUERY_STRING"] = req.query
    environ["REQUEST_URI"] = environ["RAW_URI"] = (
        f"{req.path}?{req.query}" if req.query else req.path
    )
    body = req.body
    if body is None:
        environ["wsgi.input"] = io.BytesIO()
    else:
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
    environ.update(req.headers)
    if cookie is None:
        environ.pop("HTTP_COOKIE", None)
    else:
        environ["HTTP_COOKIE"] = cookie
    environ[SOCKET_KEY] = socket
    return environ


class Dispatcher:
    """How a socket request runs through one app.

    Through ``app.wsgi_app`` (WSGI middleware, such as ProxyFix, runs as it
    does for HTTP), or, when nothing wraps it, straight through Flask's
    request handling: the steps of ``Flask.wsgi_app`` with the response
    object read as it is, without turning it into WSGI and back.

    :param app: The Flask app.
    :param wsgi_app: The WSGI callable to run, with Flask-SocketIO's
        middleware (which only hands a request on) skipped.
    """

    __slots__ = ("app", "wsgi_app", "direct")

    def __init__(self, app: Flask, wsgi_app: WSGIApplication) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.direct = (
            getattr(wsgi_app, "__self__", None) is app
            and getattr(wsgi_app, "__func__", None) is Flask.wsgi_app
            and not inspect.signature(app.full_dispatch_request).parameters
        )

    def __call__(
        self,
        environ: WSGIEnvironment,
        stream_above: int | None = None,
        json: t.Any = NO_JSON,
    ) -> Reply:
        """Run ``environ`` and buffer the response, or begin to stream it.

        An exception that escapes the app (``PROPAGATE_EXCEPTIONS``) is
        logged and answered with a 500, since the client must always get its
        acknowledgement.

        :param stream_above: For a client that takes streamed responses: a
            response that is produced as it goes (a generator, a file) or
            longer than this many bytes comes back unbuffered, with its first
            piece and the rest of its iterable in the :class:`Reply`.
        :param json: The value the request's JSON body encodes, as the
            Socket.IO packet brought it: ``request.get_json()`` returns it
            instead of parsing the body again, where that cannot differ (see
            :func:`_seed_json`).
        """
        if has_app_context():
            # A request context would reuse an outer app context of the same
            # app (Flask <= 3.1), leaking g and skipping teardown_appcontext.
            with self.app.app_context():
                return self._run(environ, stream_above, json)
        return self._run(environ, stream_above, json)

    def _run(
        self, environ: WSGIEnvironment, stream_above: int | None, json: t.Any
    ) -> Reply:
        try:
            if self.direct and _PRESERVE not in environ:
                return self._run_direct(environ, stream_above, json)
            return _run_wsgi(self.wsgi_app, environ, stream_above)
        except Exception as exc:
            logger.exception(
                "Exception on socket request %s %s",
                environ.get("REQUEST_METHOD"),
                environ.get("REQUEST_URI"),
            )
            _escaped.error = exc
            return _run_wsgi(InternalServerError(), environ, None)

    def _run_direct(
        self, environ: WSGIEnvironment, stream_above: int | None, json: t.Any
    ) -> Reply:
        app = self.app
        ctx = app.request_context(environ)
        if json is not NO_JSON:
            _seed_json(app, ctx.request, json)
        error: BaseException | None = None
        try:
            try:
                ctx.push()
                response = app.full_dispatch_request()
            except Exception as exc:
                error = exc
                response = app.handle_exception(exc)
            except:  # noqa: E722 - as Flask.wsgi_app: pop with the error, re-raise
                error = sys.exc_info()[1]
                raise
            headers = response.get_wsgi_headers(environ)
            app_iter = response.get_app_iter(environ)
        finally:
            if error is not None and app.should_ignore_error(error):
                error = None
            ctx.pop(error)
        if stream_above is not None and not (
            response.is_sequence and sum(map(len, response.response)) <= stream_above
        ):
            return _begin_stream(response.status_code, headers, app_iter, [])
        try:
            body = b"".join(app_iter)
        finally:
            app_iter.close()  # type: ignore[attr-defined]
        return Reply(response.status_code, headers, body)


_GET_JSON = getattr(WerkzeugRequest, "get_json", None)
_CACHE_KNOWN = isinstance(getattr(WerkzeugRequest, "_cached_json", None), tuple)


def _seed_json(app: Flask, request: t.Any, value: t.Any) -> None:
    """Have ``request.get_json()`` return ``value``, which the request's JSON
    body encodes, without parsing the body: for a large body that is a
    second parse, and a second set of objects for the garbage collector.

    Only where the result is the one parsing would give: the app's JSON
    provider is Flask's default (the standard module's ``loads``, which the
    Socket.IO decoder matches), the request class keeps Werkzeug's
    ``get_json`` and its cache, the request's content type is JSON and its
    length within ``MAX_CONTENT_LENGTH`` (the cache is read before either
    is checked, and reading the body is what answers 413).
    """
    if (
        _CACHE_KNOWN
        and type(app.json) is DefaultJSONProvider
        and type(request).get_json is _GET_JSON
        and request.is_json
        and _within_limit(app, request)
    ):
        request._cached_json = (value, value)


def _within_limit(app: Flask, request: t.Any) -> bool:
    # The app's limit: the context that request.max_content_length reads is
    # not pushed yet. A limit a hook sets on one request (Flask 3.1) is not
    # seen; the body is no larger than the packet the server already took.
    limit = app.config.get("MAX_CONTENT_LENGTH")
    return limit is None or (request.content_length or 0) <= limit


# The last exception that escaped the app in this thread (or greenlet).
_escaped = threading.local()


def take_escaped_error() -> BaseException | None:
    """The exception that last escaped the app (``PROPAGATE_EXCEPTIONS``) in
    this thread, answered with a 500; cleared by the call. The test client
    raises it, as Flask's does, since it runs the request in its own
    thread."""
    error: BaseException | None = getattr(_escaped, "error", None)
    _escaped.error = None
    return error


class Reply(t.NamedTuple):
    """A response: buffered, or the start of a streamed one."""

    status: int
    #: ``(name, value)`` pairs.
    headers: t.Iterable[tuple[str, str]]
    body: bytes
    #: For a streamed response, the rest of the body after :attr:`body` (its
    #: first piece), to close when done.
    app_iter: t.Iterable[bytes] | None = None


_PRESERVE = "werkzeug.debug.preserve_context"


def _begin_stream(
    status: int,
    headers: t.Iterable[tuple[str, str]],
    app_iter: t.Iterable[bytes],
    written: list[bytes],
) -> Reply:
    """Take the first piece of a streamed body; a body that turns out empty is
    buffered."""
    iterator = iter(app_iter)
    try:
        first = next(iterator)
    except StopIteration:
        close = getattr(app_iter, "close", None)
        if close is not None:
            close()
        return Reply(status, headers, b"".join(written))
    except BaseException:
        close = getattr(app_iter, "close", None)
        if close is not None:
            close()
        raise
    return Reply(
        status, headers, b"".join([*written, first]), _Rest(iterator, app_iter)
    )


class _Rest:
    """The rest of a body whose first piece was taken, closed as its whole."""

    __slots__ = ("iterator", "app_iter")

    def __init__(
        self, iterator: t.Iterator[bytes], app_iter: t.Iterable[bytes]
    ) -> None:
        self.iterator = iterator
        self.app_iter = app_iter

    def __iter__(self) -> t.Iterator[bytes]:
        return self.iterator

    def close(self) -> None:
        close = getattr(self.app_iter, "close", None)
        if close is not None:
            close()


def _short(app_iter: t.Iterable[bytes], response: list[t.Any], limit: int) -> bool:
    """Whether a body is whole and at most ``limit`` bytes: a list of pieces,
    or the body of a response already started with such a Content-Length
    (behind middleware a whole response is an iterable of its own)."""
    if isinstance(app_iter, (list, tuple)):
        return sum(map(len, app_iter)) <= limit
    if not response:
        return False
    for name, value in response[1]:
        if name.lower() == "content-length":
            return value.isdigit() and int(value) <= limit
    return False


def _run_wsgi(
    wsgi_app: WSGIApplication, environ: WSGIEnvironment, stream_above: int | None
) -> Reply:
    response: list[t.Any] = []
    chunks: list[bytes] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: t.Any = None
    ) -> t.Callable[[bytes], object]:
        response[:] = (status, headers)
        return chunks.append

    app_iter = wsgi_app(environ, start_response)
    if stream_above is not None and not _short(app_iter, response, stream_above):
        # An app may call start_response as it yields its first piece.
        reply = _begin_stream(0, (), app_iter, chunks)
        status, headers = response
        return reply._replace(status=int(status[:3]), headers=headers)
    try:
        chunks.extend(app_iter)
    finally:
        close = getattr(app_iter, "close", None)
        if close is not None:
            close()
    status, headers = response
    return Reply(int(status[:3]), headers, b"".join(chunks))
