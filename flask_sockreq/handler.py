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

from .codec import ACK_KEY
from .codec import JWR
from .connection import Connection
from .protocol import encode_jwr
from .protocol import error_jwr
from .protocol import parse_request
from .protocol import ProtocolError
from .replay import build_environ
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
        else:
            pending = None
            if state.timeout is not None and type(ack_id) is int:
                watchdog = state.watchdog(server)
                pending = watchdog.track(sid, self.namespace, ack_id, state.timeout)
            try:
                jwr = serve(state, conn, self.method, payload)
            finally:
                conn.release(request_ack)
            if pending is not None and not watchdog.finish(pending):
                late = True
                logger.warning(
                    "Dropped the late %s response to socket request %s %s from"
                    " %s: the client was answered 504 after %s s.",
                    jwr["statusCode"],
                    self.method.upper(),
                    _url(payload),
                    sid,
                    state.timeout,
                )
        if state.access_log is not False and state.logs_access(conn.app):
            access_log(
                conn, self.method, payload, 504 if late else jwr["statusCode"], start
            )
        return None if late else jwr


def serve(state: SockReqState, conn: Connection, method: str, payload: t.Any) -> JWR:
    """Run one socket request of ``conn`` through its app; the JWR."""
    try:
        req = parse_request(method, payload, conn.hosts, state.forbidden_headers)
        environ = build_environ(
            conn.template,
            req,
            conn.socket,
            state.socketio_path,
            conn.jar.header_for(req.path, conn.secure),
        )
    except ProtocolError as exc:
        return exc.to_jwr()
    reply = state.dispatcher(conn.app)(environ)
    set_cookies: list[str] = []
    jwr = encode_jwr(
        reply.status, reply.headers, reply.body, req.method, state.raw_json, set_cookies
    )
    if set_cookies:
        conn.jar.update(set_cookies, req.path)
        if state.cookie_sync is not None:
            jwr["headers"][SYNC_HEADER] = state.cookie_sync.issue(
                conn.socket.id, set_cookies
            )
            jwr["headers"][SYNC_URL_HEADER] = state.cookie_sync_url(environ)
    return jwr


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
