"""The request handler: one socket request from its event to its acknowledgement.

This is the hot path. python-socketio calls a :class:`RequestHandler` for
each of the seven method events, in a task of its own, with the payload
decoded and tagged with its ack id (:mod:`flask_sockreq.codec`). The handler
finds the connection's state, applies the connection's limits, validates the
payload, builds the WSGI environ, runs it through the app and returns the
JWR, which python-socketio sends as the acknowledgement.
"""

from __future__ import annotations

import logging
import time
import typing as t

from .acks import send_ack
from .codec import ACK_KEY
from .codec import JWR
from .connection import Connection
from .protocol import encode_jwr
from .protocol import error_jwr
from .protocol import NO_JSON
from .protocol import parse_request
from .protocol import ProtocolError
from .protocol import SocketRequest
from .replay import build_environ
from .replay import Reply
from .sockets import ROOMS_KEY
from .streams import Download
from .streams import Upload
from .sync import SYNC_HEADER
from .sync import SYNC_URL_HEADER

if t.TYPE_CHECKING:  # pragma: no cover
    from flask_socketio import SocketIO

    from .extension import SockReqState

logger = logging.getLogger("flask_sockreq")

_UNTAGGED = object()
_UNTAGGED_PAIR = (_UNTAGGED, None)


class RequestHandler:
    """The python-socketio handler of one method event on one namespace.

    :param socketio: The Flask-SocketIO instance.
    :param method: The event, such as ``"get"``.
    :param namespace: The namespace.
    """

    __slots__ = ("socketio", "method", "namespace")

    def __init__(self, socketio: SocketIO, method: str, namespace: str) -> None:
        self.socketio = socketio
        self.method = method
        self.namespace = namespace

    def __call__(self, sid: str, payload: t.Any = None, *args: t.Any) -> t.Any:
        start = time.perf_counter()
        tag = payload.pop(ACK_KEY, None) if type(payload) is dict else None
        ack_id, handshake = _UNTAGGED_PAIR if tag is None else tag
        server = self.socketio.server
        try:
            jwr = self._handle(server, sid, payload, ack_id, handshake, start)
        except Exception:
            # Never leave a client without its acknowledgement.
            logger.exception(
                "Failed to serve a socket %s request.", self.method.upper()
            )
            jwr = error_jwr(
                500, "internal_error", "The server failed to handle the request."
            )
        if jwr is None:
            return server.not_handled  # the watchdog has answered already
        if ack_id is None:
            logger.debug(
                "Dropped the %s response to socket request %s %s from %s: it"
                " was sent without an acknowledgement callback.",
                jwr["statusCode"],
                self.method.upper(),
                _url(payload),
                sid,
            )
        return jwr

    def _handle(
        self,
        server: t.Any,
        sid: str,
        payload: t.Any,
        ack_id: t.Any,
        handshake: t.Any,
        start: float,
    ) -> JWR | None:
        if handshake is None:
            handshake = server.get_environ(sid, namespace=self.namespace)
            if handshake is None:
                return error_jwr(
                    400, "not_connected", "The socket is no longer connected."
                )
        conn = Connection.of(server, sid, self.namespace, handshake)
        state = conn.state
        if state is None:
            return error_jwr(
                404, "not_enabled", "Socket requests are not enabled for this app."
            )
        if server is not state.server:
            state.prepare(server)
        late = False
        request_ack = ack_id if type(ack_id) is int else None
        if not (conn.has_origin or state.allow_no_origin):
            jwr = error_jwr(
                403,
                "origin_required",
                "This server serves socket requests only to connections that"
                " sent an Origin header.",
            )
        elif conn.in_flight(request_ack):
            # One ack id, one answer: the request in flight keeps it, and this
            # one is answered at once (the client sees whichever comes first).
            jwr = error_jwr(
                400,
                "duplicate_ack_id",
                f"This socket already has a request in flight with the ack id"
                f" {request_ack}; a client must not reuse an id before its"
                " answer.",
            )
        elif not conn.acquire(state.max_inflight, request_ack):
            jwr = error_jwr(
                429,
                "too_many_requests",
                f"This socket already has {state.max_inflight} requests in"
                " flight; wait for their answers before sending more.",
            )
            jwr["refused"] = True  # not run: safe to send again
        else:
            pending = watchdog = None
            if state.timeout is not None and type(ack_id) is int:
                watchdog = state.watchdog(server)
                pending = watchdog.track(sid, self.namespace, ack_id, state.timeout)
            streamed = False
            try:
                outcome = serve(state, conn, self.method, payload)
                if type(outcome) is not JWR and ack_id is _UNTAGGED:
                    # The ack id is unknown (the server's first request with
                    # a packet class of its own): answer the usual way.
                    outcome = _serve_untagged(state, conn, t.cast(StreamStart, outcome))
                if type(outcome) is not JWR:
                    # A stream answers, counts itself out and logs by itself.
                    streamed = True
                    exchange = _Exchange(
                        self, server, state, conn, sid, ack_id, payload, start
                    )
                    exchange.watchdog, exchange.pending = watchdog, pending
                    exchange.begin(t.cast(StreamStart, outcome))
                    return None
                jwr = outcome
            finally:
                if not streamed:
                    conn.release(request_ack)
            if pending is not None and not watchdog.finish(pending):  # type: ignore[union-attr]
                late = True
                _log_late(jwr, self.method, payload, sid, state.timeout)
        if state.access_log is not False and state.logs_access(conn.app):
            access_log(
                conn, self.method, payload, 504 if late else jwr["statusCode"], start
            )
        return None if late else jwr


class StreamStart(t.NamedTuple):
    """A request that asked for streams: parsed, not yet run."""

    req: SocketRequest
    environ: dict[str, t.Any]


def serve(
    state: SockReqState, conn: Connection, method: str, payload: t.Any
) -> JWR | StreamStart:
    """Run one socket request of ``conn`` through its app; the JWR. A request
    that asks for streams is only parsed: see :class:`_Exchange`."""
    try:
        req = parse_request(method, payload, conn.hosts, state.forbidden_headers)
        environ = build_environ(
            conn.template,
            req,
            conn.socket,
            state.socketio_path,
            conn.cookie_header(req.path),
        )
    except ProtocolError as exc:
        return exc.to_jwr()
    if req.stream is not None:
        return StreamStart(req, environ)
    reply = state.dispatcher(conn.app)(environ, None, _json_of(state, req))
    return to_jwr(state, conn, req, environ, reply)


def _json_of(state: SockReqState, req: SocketRequest) -> t.Any:
    """The value of the request's JSON body, for ``get_json`` to return."""
    value = req.json
    return value if value is NO_JSON or state.seed_json else NO_JSON


def _serve_untagged(state: SockReqState, conn: Connection, start: StreamStart) -> JWR:
    req, environ = start
    assert req.stream is not None
    if req.stream.upload:
        return error_jwr(
            400,
            "invalid_stream",
            "The server could not take this upload yet; send it again.",
        )
    reply = state.dispatcher(conn.app)(environ, None, _json_of(state, req))
    return to_jwr(state, conn, req, environ, reply)


def to_jwr(
    state: SockReqState,
    conn: Connection,
    req: SocketRequest,
    environ: dict[str, t.Any],
    reply: Reply,
) -> JWR:
    """The JWR of a reply, with its ``Set-Cookie`` headers applied to the
    connection's cookie jar."""
    set_cookies: list[str] = []
    jwr = encode_jwr(
        reply.status, reply.headers, reply.body, req.method, state.raw_json, set_cookies
    )
    rooms = environ.get(ROOMS_KEY)
    if rooms:
        # Tell the client to replay this request after a reconnection (the
        # view put the socket in rooms), or to forget those of its path.
        for change in rooms:
            jwr[change] = True
    if set_cookies:
        conn.jar.update(set_cookies, req.path)
        if state.cookie_sync is not None:
            jwr["headers"][SYNC_HEADER] = state.cookie_sync.issue(
                conn.socket.id, set_cookies
            )
            jwr["headers"][SYNC_URL_HEADER] = state.cookie_sync_url(environ)
    return jwr


class _Exchange:
    """One request that asked for streams, from its start to its answer.

    The view runs in a task of its own and answers with the acknowledgement
    when it returns. A body being uploaded is read by the view as it
    arrives, and the deadline (``SOCKREQ_TIMEOUT``) then runs from the end of
    the upload. A streamed response is answered with its status and headers,
    then the same task sends its body in frames within the client's credit.
    """

    def __init__(
        self,
        handler: RequestHandler,
        server: t.Any,
        state: SockReqState,
        conn: Connection,
        sid: str,
        ack_id: t.Any,
        payload: t.Any,
        start: float,
    ) -> None:
        self.handler = handler
        self.server = server
        self.state = state
        self.conn = conn
        self.sid = sid
        self.ack_id = ack_id
        self.request_ack = ack_id if type(ack_id) is int else None
        self.payload = payload
        self.start = start
        self.watchdog: t.Any = None
        self.pending: t.Any = None
        self.upload: Upload | None = None
        self.download: Download | None = None

    def begin(self, start: StreamStart) -> None:
        """Start the exchange, which answers by itself."""
        req, environ = start
        spec = req.stream
        assert spec is not None
        streams = self.conn.streams_for(self.server, self.state)
        problem = None
        if spec.id in streams.active:
            problem = error_jwr(
                400,
                "duplicate_stream_id",
                f"This socket already has a stream {spec.id!r} in flight.",
            )
        elif len(streams.active) >= streams.limits.max_streams:
            problem = error_jwr(
                429,
                "too_many_streams",
                f"This socket already has {streams.limits.max_streams} streams"
                " in flight (SOCKREQ_STREAM_MAX).",
            )
            problem["refused"] = True
        if problem is not None:
            self.answer(problem)
            return
        # The view runs in a task of its own, which also pumps a streamed
        # response: a generator (stream_with_context's included) must run all
        # its steps in the context where it started. The handler returns at
        # once, so that python-socketio hands this socket's next events,
        # such as the body's chunks, to the stream.
        if not spec.upload:
            # In flight from now on: a cancel that comes before the view
            # returns stops the stream before it starts.
            self.download = Download(
                streams, spec.id, spec.window or streams.limits.window
            )
            streams.add(self.download)
            self.server.start_background_task(self.run, req, environ)
            return
        upload = self.upload = Upload(
            streams, spec.id, spec.length, streams.limits.window
        )
        streams.add(upload)
        environ["wsgi.input"] = upload
        if spec.length is None:
            # The server ends the stream: werkzeug may read it to its end,
            # within MAX_CONTENT_LENGTH.
            environ["wsgi.input_terminated"] = True
        else:
            environ["CONTENT_LENGTH"] = str(spec.length)
        if self.pending is not None:
            # The deadline runs from the end of the upload, not its start.
            self.watchdog.finish(self.pending)
            self.pending = None
            upload.on_end = self.track
        maximum = self.conn.app.config.get("MAX_CONTENT_LENGTH")
        if spec.length is not None and maximum is not None and spec.length > maximum:
            first = 0  # the view gets its 413 without the body being sent
        else:
            first = streams.limits.window
            if spec.length is not None:
                first = min(first, spec.length)
        self.server.start_background_task(self.run, req, environ)
        upload.open(first)

    def track(self) -> None:
        state = self.state
        if state.timeout is not None and self.watchdog is not None:
            self.pending = self.watchdog.track(
                self.sid, self.handler.namespace, self.ack_id, state.timeout
            )

    def run(self, req: SocketRequest, environ: dict[str, t.Any]) -> None:
        """Run the view, then answer."""
        state = self.state
        upload = self.upload
        reply = None
        try:
            reply = state.dispatcher(self.conn.app)(
                environ,
                state.stream_limits.chunk_size,
                _json_of(state, req),
            )
            jwr = to_jwr(state, self.conn, req, environ, reply)
        except Exception:
            logger.exception("Failed to serve a streamed socket request.")
            jwr = error_jwr(
                500, "internal_error", "The server failed to handle the request."
            )
        finally:
            if upload is not None:
                # The answer ends the upload: the client stops sending, and
                # what still comes is ignored.
                upload.on_end = None
                upload.streams.remove(upload)
                upload.cancel("answered")
        spec = req.stream
        assert spec is not None
        streams = self.conn.streams_for(self.server, state)
        download = self.download
        if reply is not None and reply.app_iter is not None and jwr["body"] is not None:
            length = jwr["headers"].get("Content-Length")
            jwr["body"] = None
            jwr["stream"] = {
                "id": spec.id,
                "length": int(length) if length and length.isdigit() else None,
            }
            if download is None:  # after an upload, under the same id
                download = Download(
                    streams, spec.id, spec.window or state.stream_limits.window
                )
                # Known before the client can grant it credit or cancel it.
                streams.add(download)
            download.body(reply.body, reply.app_iter)
        else:
            if reply is not None and reply.app_iter is not None:
                _close(reply.app_iter)  # HEAD, 204, 304: nothing to stream
            if download is not None:
                streams.remove(download)  # the answer holds the whole body
                download = None
        if self.answer(jwr) and download is not None and not download.cancelled:
            download.pump()
        elif download is not None:
            download.close()

    def answer(self, jwr: JWR) -> bool:
        """Send the acknowledgement, unless the watchdog has; count the
        request out and log it. Whether it was sent."""
        late = self.pending is not None and not self.watchdog.finish(self.pending)
        handler = self.handler
        # Counted out before the answer goes: a client that sends its next
        # request on reading it must find the slot free.
        self.conn.release(self.request_ack)
        if late:
            _log_late(jwr, handler.method, self.payload, self.sid, self.state.timeout)
        elif type(self.ack_id) is int:
            send_ack(self.server, self.sid, handler.namespace, self.ack_id, jwr)
        state = self.state
        if state.access_log is not False and state.logs_access(self.conn.app):
            status = 504 if late else jwr["statusCode"]
            access_log(self.conn, handler.method, self.payload, status, self.start)
        return not late and type(self.ack_id) is int


def _close(app_iter: t.Any) -> None:
    close = getattr(app_iter, "close", None)
    if close is not None:
        close()


def _log_late(
    jwr: JWR, method: str, payload: t.Any, sid: str, timeout: float | None
) -> None:
    logger.warning(
        "Dropped the late %s response to socket request %s %s from %s: the"
        " client was answered 504 after %s s.",
        jwr["statusCode"],
        method.upper(),
        _url(payload),
        sid,
        timeout,
    )


def _url(payload: t.Any) -> str:
    url = payload.get("url") if isinstance(payload, dict) else None
    return url if isinstance(url, str) else "-"


class _LogDate:
    """The access log's date, formatted once a second, not once a line."""

    __slots__ = ("second", "text")

    def __init__(self) -> None:
        self.second = -1
        self.text = ""

    def __call__(self) -> str:
        now = time.time()
        second = int(now)
        if second != self.second:
            self.text = time.strftime("%d/%b/%Y %H:%M:%S", time.localtime(now))
            self.second = second
        return self.text


_log_date = _LogDate()


def access_log(
    conn: Connection, method: str, payload: t.Any, status: int, start: float
) -> None:
    """Log one socket request at INFO, as werkzeug logs an HTTP request:
    ``127.0.0.1 - - [date] "GET /todos SOCKET" 200 0.4ms sid=...``."""
    duration = (time.perf_counter() - start) * 1000
    # makeRecord and handle, rather than info(), skip the search of the
    # stack for the caller, which the line does not show.
    logger.handle(
        logger.makeRecord(
            logger.name,
            logging.INFO,
            "",
            0,
            '%s - - [%s] "%s %s SOCKET" %d %.1fms sid=%s',
            (
                conn.remote_addr,
                _log_date(),
                method.upper(),
                _url(payload),
                status,
                duration,
                conn.socket.id,
            ),
            None,
        )
    )
