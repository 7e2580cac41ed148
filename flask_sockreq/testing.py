"""The test client: Flask's test client, over an in-process socket.

:class:`SockReqTestClient` is a :class:`flask.testing.FlaskClient` whose
requests go over a Socket.IO connection instead of straight to the WSGI app.
It drives the app's real python-socketio server in-process through
Flask-SocketIO's :class:`~flask_socketio.test_client.SocketIOTestClient`,
so every request takes the path of a real socket request: the event
handler, payload validation, the connection's cookie jar, the replay through
the WSGI pipeline, the JWR, the stream frames and the packet encoding both
ways. Everything else is Flask's: the arguments of ``open()``, the
:class:`~werkzeug.test.TestResponse`, redirects, cookies, sessions and
``with client:``.
"""

from __future__ import annotations

import collections
import json
import threading
import time
import typing as t
import weakref
from collections.abc import Mapping
from urllib.parse import urlsplit

from flask import got_request_exception
from flask import request as current_request
from flask.testing import EnvironBuilder as FlaskEnvironBuilder
from flask.testing import FlaskClient
from flask_socketio.test_client import SocketIOTestClient
from werkzeug.datastructures import EnvironHeaders
from werkzeug.datastructures import Headers
from werkzeug.http import parse_cookie
from werkzeug.test import EnvironBuilder
from werkzeug.test import TestResponse
from werkzeug.wrappers import Request as BaseRequest
from werkzeug.wsgi import get_current_url

from .connection import Connection
from .cookies import CookieJar
from .payload import build_upload_request
from .payload import Request as SocketRequest
from .payload import response_parts
from .payload import UploadBody
from .replay import SOCKET_KEY
from .replay import take_escaped_error
from .sockets import AUTH_KEY
from .streams import CANCEL
from .streams import CHUNK
from .streams import CREDIT
from .streams import END
from .streams import ERROR

if t.TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import WSGIEnvironment
    from flask import Flask

    from .extension import SockReqState

# Keys of the request environ: what open() hands to run_wsgi_app(), and the
# acknowledgement, for SocketTestResponse.jwr.
_UPLOAD_KEY = "flask_sockreq.test.upload"
_JSON_KEY = "flask_sockreq.test.json"
_JWR_KEY = "flask_sockreq.test.jwr"
# Flask's test client puts this in the environ inside ``with client:``; the
# app calls it with the contexts to keep.
_PRESERVE = "werkzeug.debug.preserve_context"
_FRAMES = frozenset({CHUNK, CREDIT, END, ERROR})
# How often a wait looks whether the server closed the connection.
_POLL = 0.1
# A request refused for too many streams in flight is sent again after this
# delay, doubled up to the maximum, within the client's timeout.
_RETRY_DELAY = 0.005
_RETRY_DELAY_MAX = 0.1


class StreamError(Exception):
    """The streamed body of a response broke off: the server sent
    ``sockreq:error`` (the view's generator raised, or the stream was idle for
    ``SOCKREQ_STREAM_IDLE_TIMEOUT``), or the client was disconnected. (Where
    the view's generator raised, Flask's client raises that exception; the
    socket carries only that the stream failed.)

    :param code: The error's ``error`` member, such as ``"stream_failed"``,
        ``"timeout"`` or ``"disconnected"``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class SocketTestResponse(TestResponse):
    """A :class:`~werkzeug.test.TestResponse` that came over the socket.

    It is the app's ``response_class`` too, as Flask's test client makes
    its responses. A streamed response (``buffered=False`` and a body that
    the server streams) iterates as its chunks arrive: ``response.response``,
    ``iter_encoded()``; ``data`` waits for all of it, and ``close()`` before
    the end cancels the stream.
    """

    @property
    def jwr(self) -> dict[str, t.Any]:
        """The acknowledgement as it was received: ``{"body", "headers",
        "statusCode"}``, with ``"stream"`` for a streamed body (then
        ``"body"`` is None) and ``"joined"`` or ``"left"`` when the view
        changed the socket's rooms."""
        jwr: dict[str, t.Any] = self.request.environ[_JWR_KEY]
        return jwr


class SockReqTestClient(FlaskClient):
    """Send requests to an app over an in-process Socket.IO connection, with
    the API of Flask's test client: it is a
    :class:`~flask.testing.FlaskClient`, and ``get``, ``post``, ...,
    ``open`` take the same arguments and return the same
    :class:`~werkzeug.test.TestResponse` (a :class:`SocketTestResponse`).

    Redirects, ``ClientRedirectError``, ``set_cookie``, ``get_cookie``,
    ``delete_cookie``, ``session_transaction()``, ``environ_base`` and
    ``with client:`` are Flask's. The client's cookies are the ones the
    socket sends: before each request they are the connection's cookie jar,
    and the cookies the response set come back into them (and into the
    response's headers, as ``Set-Cookie``, though the wire never carries
    them). With ``PROPAGATE_EXCEPTIONS`` (``app.testing``), an exception that
    escapes the app is raised, as Flask's client raises it.

    ``buffered=False`` (the default, as for Flask) asks the server for
    streams: a body that the view produces as it goes, or a long one, comes
    back as it is produced, in stream frames, and the response iterates as
    they arrive. ``buffered=True`` gets the whole body in the
    acknowledgement. A request body longer than a frame, or ``data=`` an
    iterator of bytes, is uploaded in chunks within the server's credit.

    Create one with :meth:`SockReq.test_client
    <flask_sockreq.SockReq.test_client>` or :func:`test_client`.

    :param app: The app, with :class:`~flask_sockreq.SockReq` set up.
    :param flask_test_client: A Flask test client to share cookies with: the
        two clients have one cookie jar, as if one browser made both kinds of
        request (``use_cookies`` is then that client's).
    :param headers: Headers of the Socket.IO handshake, such as
        ``Authorization``; a ``Cookie`` header puts its cookies in the
        client's cookie jar.
    :param namespace: The namespace to connect to: ``SOCKREQ_NAMESPACE``, the
        only one where the app answers requests.
    :param query_string: The handshake's query string.
    :param auth: The Socket.IO ``auth`` data of the connection.
    :param use_cookies: Keep the cookies responses set, and send them, as
        Flask's client does.
    :param allow_subdomain_redirects: Follow redirects to subdomains, as
        Flask's client does.
    :param timeout: How long to wait, in seconds, for an answer, upload
        credit or the next piece of a streamed body before raising
        :exc:`TimeoutError`; None waits for ever. The server answers a view
        slower than ``SOCKREQ_TIMEOUT`` with a 504 first.
    :raise RuntimeError: If SockReq is not set up on the app, the app has a
        message queue, or its ``connect`` handler refuses the connection.
    :raise ValueError: If ``namespace`` is not ``SOCKREQ_NAMESPACE``.
    """

    def __init__(
        self,
        app: Flask,
        flask_test_client: FlaskClient | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        namespace: str | None = None,
        query_string: str | None = None,
        auth: dict[str, t.Any] | None = None,
        use_cookies: bool = True,
        allow_subdomain_redirects: bool = False,
        timeout: float | None = 60.0,
    ) -> None:
        state: SockReqState | None = app.extensions.get("sockreq")
        if state is None:
            raise RuntimeError(
                "The app has no 'SockReq': call 'SockReq(app)' or"
                " 'sockreq.init_app(app)' before creating its test client."
            )
        if namespace is not None and namespace != state.namespace:
            raise ValueError(
                f"The app serves socket requests on the namespace"
                f" {state.namespace!r} (SOCKREQ_NAMESPACE), not {namespace!r}:"
                " the test client must connect there."
            )
        super().__init__(
            app,
            None,
            use_cookies=use_cookies,
            allow_subdomain_redirects=allow_subdomain_redirects,
        )
        # Set here rather than passed: werkzeug before 3.0 would wrap a
        # TestResponse subclass in TestResponse again, which cannot be done.
        self.response_wrapper = type(
            "SocketTestResponse", (SocketTestResponse, app.response_class), {}
        )
        self._state = state
        #: The Flask test client whose cookie jar this client shares.
        self.flask_test_client = flask_test_client
        #: The Socket.IO namespace of the connection.
        self.namespace: str = namespace or state.namespace
        #: How long to wait for an answer or a piece of a body, in seconds.
        self.timeout = timeout
        if flask_test_client is not None:
            self._cookies = flask_test_client._cookies
        headers = dict(headers or {})
        cookie_header = _pop_header(headers, "Cookie")
        if cookie_header is not None:
            self._seed_cookies(cookie_header, headers)
        self._wake = state.socketio.server.eio.create_event()
        self._stream_ids = 0
        # Streamed responses not yet read to their end nor closed, oldest
        # first: the server keeps at most SOCKREQ_STREAM_MAX of a socket's.
        self._open_bodies: list[_StreamedBody] = []
        self._escaped: BaseException | None = None
        #: The Flask-SocketIO test client that carries the packets. It shares
        #: this client's ``environ_base`` and cookies at the handshake.
        self.socketio_client: _Wire = _Wire(
            app,
            state.socketio,
            wake=self._wake,
            namespace=self.namespace,
            query_string=query_string,
            headers=headers,
            auth=auth,
            flask_test_client=self,
        )
        if not self.socketio_client.is_connected(self.namespace):
            raise RuntimeError(
                f"The test client could not connect to the namespace"
                f" {self.namespace!r}: the app's connect handler refused it."
            )
        self._sid = self._find_sid()
        if auth is not None:
            # As a real connection's handshake keeps it, for request.socket.auth.
            handshake = state.socketio.server.get_environ(self._sid, self.namespace)
            handshake.setdefault(AUTH_KEY, {})[self.namespace] = auth
        _clients[self._sid] = self
        # One receiver for all clients, held strongly: a bound method held
        # weakly would outlive its function in a test that unloads modules.
        got_request_exception.connect(_on_exception, weak=False)

    # -- the socket -------------------------------------------------------

    @property
    def sid(self) -> str:
        """The socket's session id, ``request.sid`` in the views.

        :raise RuntimeError: If the client is not connected.
        """
        if not self.connected:
            raise RuntimeError("The test client is not connected.")
        return self._sid

    @property
    def connected(self) -> bool:
        """Whether the socket is connected (False after :meth:`disconnect`,
        or once the server closed it)."""
        return bool(self.socketio_client.is_connected(self.namespace))

    def emit(self, event: str, *args: t.Any, callback: bool = False) -> t.Any:
        """Emit any other event on the connection, as Flask-SocketIO's test
        client does; with ``callback=True``, return the acknowledgement (its
        argument, or the list of its arguments if not one)."""
        wire = self.socketio_client
        wire.answers.clear()
        wire.emit(event, *args, callback=callback, namespace=self.namespace)
        if not callback or not wire.answers:
            return None
        answer = wire.answers.popleft()
        return answer[0] if len(answer) == 1 else answer

    def get_received(self) -> list[dict[str, t.Any]]:
        """The events the server pushed to this socket since the last call,
        as ``{"name", "args", "namespace"}``; the frames of the client's own
        streams are not among them."""
        return t.cast(
            "list[dict[str, t.Any]]",
            self.socketio_client.get_received(namespace=self.namespace),
        )

    def disconnect(self) -> None:
        """Disconnect from the server; safe to call twice. Streamed bodies
        still arriving then fail with :exc:`StreamError`."""
        _clients.pop(self._sid, None)
        if self.connected:
            self.socketio_client.disconnect(namespace=self.namespace)
        for stream in self.socketio_client.streams.values():
            stream.receive(
                ERROR,
                [{"error": "disconnected", "message": "The client disconnected."}],
            )
        self.socketio_client.streams.clear()
        self._open_bodies.clear()

    # -- FlaskClient's API, typed with the socket's response --------------

    def open(
        self,
        *args: t.Any,
        buffered: bool = False,
        follow_redirects: bool = False,
        **kwargs: t.Any,
    ) -> SocketTestResponse:
        """Send a request over the socket, with the arguments of
        :meth:`FlaskClient.open <flask.testing.FlaskClient.open>`.

        ``data`` may also be an iterator of bytes, uploaded in chunks as it
        yields (Flask's client refuses one).

        :param buffered: False (the default) to take a streamed body as it
            arrives; True to have it in the acknowledgement (or, for an
            upload, read to its end before returning).
        :param follow_redirects: Follow redirects over the socket, as Flask's
            client does: ``history``, and
            :exc:`~werkzeug.test.ClientRedirectError` for a loop.
        :raise RuntimeError: If the client is not connected.
        :raise ValueError: If the method cannot go over a socket (TRACE).
        :raise TimeoutError: If nothing came within :attr:`timeout`.
        """
        if not (args and isinstance(args[0], (EnvironBuilder, dict, BaseRequest))):
            # As Flask's client: those come whole, and the keywords are unused.
            kwargs = self._mark_body(kwargs)
        return t.cast(
            SocketTestResponse,
            super().open(
                *args, buffered=buffered, follow_redirects=follow_redirects, **kwargs
            ),
        )

    def get(self, *args: t.Any, **kw: t.Any) -> SocketTestResponse:
        """Call :meth:`open` with ``method`` set to ``GET``."""
        kw["method"] = "GET"
        return self.open(*args, **kw)

    def post(self, *args: t.Any, **kw: t.Any) -> SocketTestResponse:
        """Call :meth:`open` with ``method`` set to ``POST``."""
        kw["method"] = "POST"
        return self.open(*args, **kw)

    def put(self, *args: t.Any, **kw: t.Any) -> SocketTestResponse:
        """Call :meth:`open` with ``method`` set to ``PUT``."""
        kw["method"] = "PUT"
        return self.open(*args, **kw)

    def delete(self, *args: t.Any, **kw: t.Any) -> SocketTestResponse:
        """Call :meth:`open` with ``method`` set to ``DELETE``."""
        kw["method"] = "DELETE"
        return self.open(*args, **kw)

    def patch(self, *args: t.Any, **kw: t.Any) -> SocketTestResponse:
        """Call :meth:`open` with ``method`` set to ``PATCH``."""
        kw["method"] = "PATCH"
        return self.open(*args, **kw)

    def options(self, *args: t.Any, **kw: t.Any) -> SocketTestResponse:
        """Call :meth:`open` with ``method`` set to ``OPTIONS``."""
        kw["method"] = "OPTIONS"
        return self.open(*args, **kw)

    def head(self, *args: t.Any, **kw: t.Any) -> SocketTestResponse:
        """Call :meth:`open` with ``method`` set to ``HEAD``."""
        kw["method"] = "HEAD"
        return self.open(*args, **kw)

    def trace(self, *args: t.Any, **kw: t.Any) -> SocketTestResponse:
        """TRACE cannot go over a socket: raises :exc:`ValueError`, as
        :meth:`open` does for it."""
        kw["method"] = "TRACE"
        return self.open(*args, **kw)

    def __enter__(self) -> SockReqTestClient:
        super().__enter__()
        return self

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.application.name!r} on {self.namespace!r}>"
        )

    # -- the transport: werkzeug's Client calls this for each request -----

    def run_wsgi_app(
        self, environ: WSGIEnvironment, buffered: bool = False
    ) -> tuple[t.Iterable[bytes], str, Headers]:
        """Send the request ``environ`` describes over the socket and wait for
        its answer: what werkzeug's client would get from the WSGI app.

        :meta private:
        """
        source = environ.pop(_UPLOAD_KEY, None)
        as_json = bool(environ.pop(_JSON_KEY, False))
        if not self.connected:
            raise RuntimeError(
                "The test client is not connected: create a new one with"
                " 'sockreq.test_client(app)'."
            )
        self._add_cookies_to_wsgi(environ)
        conn = self._connection()
        _check_host(environ, conn.template)
        request, upload = self._socket_request(environ, source, as_json)
        # The client's cookies are the truth: the connection's jar starts
        # each request from those the client sends, and records what the
        # response sets.
        jar = _RecordingJar(environ.get("HTTP_COOKIE"), conn.jar.host)
        conn.jar = jar
        if _PRESERVE in environ:
            conn.template[_PRESERVE] = environ[_PRESERVE]
        else:
            conn.template.pop(_PRESERVE, None)
        take_escaped_error()
        self._escaped = None
        try:
            jwr, stream = self._exchange(request, upload, streamed=not buffered)
        finally:
            if upload is not None:
                upload.close()
        error = take_escaped_error() or self._escaped
        self._escaped = None
        if error is not None:
            if stream is not None:
                _StreamedBody(self, stream).close()
            raise error
        url = urlsplit(get_current_url(environ))
        set_cookies = [header for _, headers in jar.received for header in headers]
        self._update_cookies_from_response(
            url.hostname or "localhost", url.path, set_cookies
        )
        data, status, headers = response_parts(jwr)
        for header in set_cookies:
            headers.add("Set-Cookie", header)
        environ[_JWR_KEY] = jwr
        body: t.Iterable[bytes] = [data] if data else []
        if stream is not None:
            streamed = _StreamedBody(self, stream)
            if buffered:
                body = [b"".join(streamed)]
            else:
                self._open_bodies.append(streamed)
                body = streamed
        return body, str(status), headers

    # -- internals --------------------------------------------------------

    def _mark_body(self, kwargs: dict[str, t.Any]) -> dict[str, t.Any]:
        """Take an iterator ``data`` (which werkzeug cannot encode) aside, and
        note a ``json`` body, for :meth:`run_wsgi_app`."""
        data = kwargs.get("data")
        marks: dict[str, t.Any] = {}
        if _is_iterator(data):
            if hasattr(data, "__aiter__") and not hasattr(data, "__iter__"):
                raise TypeError(
                    "An async iterable cannot be uploaded by the test client:"
                    " give an iterator of bytes."
                )
            marks[_UPLOAD_KEY] = data
            kwargs = {key: value for key, value in kwargs.items() if key != "data"}
        if kwargs.get("json") is not None:
            marks[_JSON_KEY] = True
        if marks:
            kwargs = dict(kwargs)
            kwargs["environ_overrides"] = {
                **(kwargs.get("environ_overrides") or {}),
                **marks,
            }
        return kwargs

    def _socket_request(
        self, environ: WSGIEnvironment, source: t.Any, as_json: bool
    ) -> tuple[SocketRequest, UploadBody | None]:
        extra: dict[str, t.Any] = {}
        if source is not None:
            extra["data"] = source
        elif as_json and environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            # Sent as the JSON value, as JavaScript clients send it.
            stream = environ["wsgi.input"]
            body = stream.read()
            stream.seek(0)
            try:
                value = json.loads(body, parse_constant=_refuse_constant)
            except ValueError:
                value = body  # NaN and friends: sent as the bytes
            # Data that is a string is a text body on the wire, not JSON.
            if not isinstance(value, (str, bytes)):
                extra["json"] = value
        return build_upload_request(
            EnvironBuilder,
            _EnvironAsBuilder(environ),
            inline_limit=self._state.stream_limits.chunk_size,
            **extra,
        )

    def _exchange(
        self, request: SocketRequest, upload: UploadBody | None, streamed: bool
    ) -> tuple[t.Any, _Stream | None]:
        """Send the request, upload its body, and wait for the answer: the
        JWR, and the stream its body follows in, if it does. A request
        refused because the socket has too many streams in flight is sent
        again, as the streams given up finish on the server."""
        delay = _RETRY_DELAY
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            jwr, stream = self._exchange_once(request, upload, streamed)
            if not _too_many_streams(jwr) or (
                deadline is not None and time.monotonic() + delay > deadline
            ):
                return jwr, stream
            self._state.socketio.server.sleep(delay)
            delay = min(delay * 2, _RETRY_DELAY_MAX)

    def _exchange_once(
        self, request: SocketRequest, upload: UploadBody | None, streamed: bool
    ) -> tuple[t.Any, _Stream | None]:
        wire = self.socketio_client
        payload = request.payload
        stream = None
        if streamed or upload is not None:
            limits = self._state.stream_limits
            # Bodies that have all arrived are no longer the server's concern.
            self._open_bodies = [b for b in self._open_bodies if not b.stream.over]
            while len(self._open_bodies) >= limits.max_streams:
                # The server keeps at most that many in flight: give up the
                # oldest, which nothing has read to its end, rather than have
                # this request refused.
                self._open_bodies[0].close()
            self._stream_ids += 1
            stream = _Stream(f"test-{self._stream_ids}", limits.window)
            spec: dict[str, t.Any] = {"v": 1, "id": stream.id, "window": limits.window}
            if upload is not None:
                spec["upload"] = {"length": upload.length}
            payload = {**payload, "stream": spec}
            wire.streams[stream.id] = stream
        wire.answers.clear()
        what = f"{request.event.upper()} {payload['url']}"
        sent = False
        try:
            wire.emit(request.event, payload, callback=True, namespace=self.namespace)
            sent = True
            if upload is not None:
                assert stream is not None
                self._upload(stream, upload, what)
            self._wait(lambda: bool(wire.answers), f"the answer to {what}")
        except BaseException:
            if stream is not None:
                self._drop(stream, cancel=True)
            if sent and not wire.answers and self.connected:
                # The server answers even a cancelled request: take that
                # answer now, or the next request would take it for its own.
                try:
                    self._wait(lambda: bool(wire.answers), f"the answer to {what}")
                except (RuntimeError, TimeoutError):
                    pass
            wire.answers.clear()
            raise
        answer = wire.answers.popleft()
        jwr = answer[0] if len(answer) == 1 else answer
        if stream is not None:
            answered = jwr.get("stream") if isinstance(jwr, dict) else None
            if not isinstance(answered, dict) or answered.get("id") != stream.id:
                self._drop(stream)
                stream = None
        return jwr, stream

    def _upload(self, stream: _Stream, upload: UploadBody, what: str) -> None:
        """Send the body in chunks within the credit the server grants, until
        its end or the answer."""
        wire = self.socketio_client
        total = upload.length
        chunk_size = self._state.stream_limits.chunk_size
        offset = 0
        while total is None or offset < total:
            self._wait(
                lambda: stream.credit > 0 or bool(wire.answers) or stream.failed,
                f"upload credit for {what}",
            )
            if wire.answers or stream.failed:
                return  # answered (or stopped) before the end: stop sending
            size = min(stream.credit, chunk_size)
            if total is not None:
                size = min(size, total - offset)
            piece = upload.read(size)
            if not piece:
                break
            with stream.lock:
                stream.credit -= len(piece)
            wire.emit(CHUNK, stream.id, offset, piece, namespace=self.namespace)
            offset += len(piece)
        wire.emit(END, stream.id, offset, namespace=self.namespace)

    def _wait(self, ready: t.Callable[[], bool], what: str) -> None:
        """Wait until ``ready()``, yielding to the server's tasks.

        :raise RuntimeError: If the server closed the connection.
        :raise TimeoutError: If :attr:`timeout` passed.
        """
        wake = self._wake
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while not ready():
            wake.clear()
            if ready():
                return
            if not self.connected:
                raise RuntimeError(
                    f"The server closed the connection while the test client"
                    f" waited for {what}."
                )
            step = _POLL
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    # A late answer must not pass for the next request's.
                    self.disconnect()
                    raise TimeoutError(
                        f"The test client waited {self.timeout} s for {what};"
                        " it has disconnected."
                    )
                step = min(step, remaining)
            wake.wait(step)

    def _grant(self, stream: _Stream, size: int) -> None:
        if self.connected:
            self.socketio_client.emit(CREDIT, stream.id, size, namespace=self.namespace)

    def _drop(self, stream: _Stream, cancel: bool = False) -> None:
        """Forget a stream, and cancel it on the server."""
        self.socketio_client.streams.pop(stream.id, None)
        if cancel and self.connected:
            self.socketio_client.emit(CANCEL, stream.id, namespace=self.namespace)

    def _connection(self) -> Connection:
        server = self._state.socketio.server
        handshake = server.get_environ(self._sid, namespace=self.namespace)
        return Connection.of(server, self._sid, self.namespace, handshake)

    def _find_sid(self) -> str:
        server = self._state.socketio.server
        sid = server.manager.sid_from_eio_sid(
            self.socketio_client.eio_sid, self.namespace
        )
        return t.cast(str, sid)

    def _seed_cookies(self, header: str, headers: dict[str, str]) -> None:
        if self._cookies is None:
            return
        host = FlaskEnvironBuilder(self.application, headers=headers).server_name
        for name, value in parse_cookie(header).items():
            self.set_cookie(name, value, domain=host)

    def _note_escaped(self, sender: Flask, exception: BaseException) -> None:
        """Remember an exception of this socket's request, if the app lets it
        escape, whatever task ran the request."""
        propagate = sender.config["PROPAGATE_EXCEPTIONS"]
        if propagate is None:
            propagate = sender.testing or sender.debug
        if propagate:
            self._escaped = exception


# The connected test clients by sid, for _on_exception.
_clients: weakref.WeakValueDictionary[str, SockReqTestClient] = (
    weakref.WeakValueDictionary()
)


def _on_exception(sender: Flask, exception: BaseException, **extra: t.Any) -> None:
    """``got_request_exception``: hand an exception of a test client's socket
    request to that client."""
    socket = current_request.environ.get(SOCKET_KEY)
    client = _clients.get(socket.id) if socket is not None else None
    if client is not None and client.application is sender:
        client._note_escaped(sender, exception)


def test_client(
    app: Flask, flask_test_client: FlaskClient | None = None, **kwargs: t.Any
) -> SockReqTestClient:
    """Create a :class:`SockReqTestClient` for ``app``; the arguments are
    those of the class."""
    return SockReqTestClient(app, flask_test_client, **kwargs)


# Not a test for pytest to collect.
test_client.__test__ = False  # type: ignore[attr-defined]


class _Stream:
    """The client's side of one stream: the upload credit the server granted
    and the response body's chunks, fed as the frames arrive."""

    def __init__(self, stream_id: str, window: int) -> None:
        self.id = stream_id
        self.lock = threading.Lock()
        self.credit = 0
        self.chunks: collections.deque[bytes] = collections.deque()
        self.ended = False
        self.error: dict[str, t.Any] | None = None
        # The response body's credit: granted so far, and taken by the reader.
        self.window = window
        self.granted = window
        self.consumed = 0

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def over(self) -> bool:
        """Whether the server has sent all it will: the end or an error."""
        return self.ended or self.error is not None

    def receive(self, event: str, args: list[t.Any]) -> None:
        """A frame of this stream from the server."""
        first = args[0] if args else None
        with self.lock:
            if event == CHUNK and isinstance(first, (bytes, bytearray)):
                self.chunks.append(bytes(first))
            elif event == CREDIT and type(first) is int and first > 0:
                self.credit += first
            elif event == END:
                self.ended = True
            elif event == ERROR and self.error is None:
                self.error = (
                    first
                    if isinstance(first, dict)
                    else {"error": "stream_failed", "message": "The stream failed."}
                )

    def take(self, size: int) -> int:
        """Count ``size`` bytes read; the credit to grant now, if any (in steps
        of at least half the window, not per chunk)."""
        self.consumed += size
        if self.ended or self.granted - self.consumed > self.window // 2:
            return 0
        more = self.consumed + self.window - self.granted
        self.granted += more
        return more


class _StreamedBody:
    """The body of a streamed response: its chunks as they arrive, with
    credit granted as they are taken; closed before its end, it cancels the
    stream."""

    def __init__(self, client: SockReqTestClient, stream: _Stream) -> None:
        self.client = client
        self.stream = stream
        self.closed = False

    def __iter__(self) -> _StreamedBody:
        return self

    def __next__(self) -> bytes:
        stream = self.stream
        if self.closed:
            raise StopIteration
        self.client._wait(
            lambda: bool(stream.chunks) or stream.ended or stream.failed,
            f"the next piece of the streamed body {stream.id!r}",
        )
        with stream.lock:
            piece = stream.chunks.popleft() if stream.chunks else None
        if piece is None:
            self._finish()
            if stream.error is not None:
                raise StreamError(
                    str(stream.error.get("error", "stream_failed")),
                    str(stream.error.get("message", "The stream failed.")),
                )
            raise StopIteration
        more = stream.take(len(piece))
        if more:
            self.client._grant(stream, more)
        return piece

    def close(self) -> None:
        """Cancel the stream unless it has ended."""
        if self.closed:
            return
        stream = self.stream
        over = stream.over
        self._finish()
        with stream.lock:
            stream.chunks.clear()
        if not over:
            self.client._drop(stream, cancel=True)

    def _finish(self) -> None:
        self.closed = True
        self.client._drop(self.stream)
        if self in self.client._open_bodies:
            self.client._open_bodies.remove(self)


class _Wire(SocketIOTestClient):  # type: ignore[misc]
    """Flask-SocketIO's test client, with what the server sends routed as it
    comes, from whatever task sends it: acknowledgements to
    :attr:`answers`, the frames of the SockReq client's own streams to
    those streams, and the wake-up event set at each.

    Flask-SocketIO's client keeps a single last acknowledgement and reads it
    only inside ``emit()``; a streamed exchange acknowledges later, from the
    task that ran the view.
    """

    def __init__(self, *args: t.Any, wake: t.Any, **kwargs: t.Any) -> None:
        self.wake = wake
        #: The acknowledgements received, as lists of their arguments.
        self.answers: collections.deque[list[t.Any]] = collections.deque()
        #: The SockReq client's streams in flight, by id.
        self.streams: dict[str, _Stream] = {}
        self._inbox = _Inbox(self)
        super().__init__(*args, **kwargs)

    @property
    def acks(self) -> None:
        """Always None: Flask-SocketIO's ``emit()`` leaves the answers to
        :attr:`answers`."""
        return None

    @acks.setter
    def acks(self, value: dict[str, t.Any] | None) -> None:
        if value is not None:
            self.answers.append(list(value["args"]))
            self.wake.set()

    @property
    def queue(self) -> _Inbox:
        return self._inbox

    @queue.setter
    def queue(self, value: list[dict[str, t.Any]]) -> None:
        self._inbox = _Inbox(self, value)

    def route(self, item: dict[str, t.Any]) -> bool:
        """Give a frame of one of the client's streams to it; whether it was
        one (a late frame of a finished stream is dropped)."""
        args = item.get("args")
        if item.get("name") not in _FRAMES or not args or not isinstance(args, list):
            return False
        stream_id = args[0]
        if not isinstance(stream_id, str) or not stream_id.startswith("test-"):
            return False
        stream = self.streams.get(stream_id)
        if stream is not None:
            stream.receive(item["name"], args[1:])
        return True


class _Inbox(list):  # type: ignore[type-arg]
    """The events received, less the stream frames :meth:`_Wire.route`
    takes; each arrival wakes the waiting client."""

    def __init__(self, wire: _Wire, items: t.Iterable[t.Any] = ()) -> None:
        super().__init__(items)
        self.wire = wire

    def append(self, item: t.Any) -> None:
        if not self.wire.route(item):
            super().append(item)
        self.wire.wake.set()


def _check_host(environ: WSGIEnvironment, template: WSGIEnvironment) -> None:
    """A socket reaches the host it connected to, and no other: a request
    for another one (a ``base_url``, a followed subdomain redirect) would be
    answered as if it were for the socket's host."""
    host = environ.get("HTTP_HOST")
    connected = template.get("HTTP_HOST")
    if host and connected and host.lower() != connected.lower():
        raise RuntimeError(
            f"The test client's socket is connected to {connected!r}; a request"
            f" for {host!r} cannot go over it. Use 'app.test_client()' for"
            " requests to other hosts, as a socket in a browser would."
        )


class _RecordingJar(CookieJar):
    """A connection's cookie jar for one request, seeded with the cookies the
    test client sends, that records the ``Set-Cookie`` headers it is given."""

    def __init__(self, header: str | None, host: str) -> None:
        super().__init__(header, host)
        self.received: list[tuple[str, list[str]]] = []

    def update(self, set_cookie_headers: list[str], path: str) -> None:
        self.received.append((path, list(set_cookie_headers)))
        super().update(set_cookie_headers, path)


class _EnvironAsBuilder(EnvironBuilder):
    """A built environ, as :func:`~flask_sockreq.payload.build_upload_request`
    reads a builder: its headers, its input stream and the environ itself,
    not one built again."""

    def __init__(self, environ: WSGIEnvironment) -> None:
        super().__init__(
            headers=Headers(EnvironHeaders(environ)),
            input_stream=environ["wsgi.input"],
        )
        self._environ = environ

    def get_environ(self) -> WSGIEnvironment:
        return self._environ


def _is_iterator(data: t.Any) -> bool:
    """Whether ``data`` is an iterable werkzeug cannot encode: not bytes,
    text, a form or a file."""
    return (
        data is not None
        and not isinstance(data, (str, bytes, bytearray, memoryview, Mapping))
        and not hasattr(data, "read")
        and (hasattr(data, "__iter__") or hasattr(data, "__aiter__"))
    )


def _too_many_streams(jwr: t.Any) -> bool:
    if not isinstance(jwr, dict) or jwr.get("statusCode") != 429:
        return False
    body = jwr.get("body")
    return isinstance(body, dict) and body.get("error") == "too_many_streams"


def _refuse_constant(name: str) -> t.Any:
    raise ValueError(f"{name} is not JSON a socket carries.")


def _pop_header(headers: dict[str, str], name: str) -> str | None:
    for key in list(headers):
        if key.lower() == name.lower():
            return headers.pop(key)
    return None
