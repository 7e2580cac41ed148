"""The ``SockReq`` extension: configuration and Socket.IO registration."""

from __future__ import annotations

import logging
import os
import time
import typing as t

from flask import Response
from flask import send_from_directory
from flask_socketio import SocketIO
from socketio import packet as sio_packet

from . import acks
from .bus import bus_for
from .connection import Connection
from .exposure import check_exposed
from .exposure import exclude
from .protocol import encode_jwr
from .protocol import error_jwr
from .protocol import FORBIDDEN_HEADERS
from .protocol import METHODS
from .protocol import parse_request
from .protocol import ProtocolError
from .replay import build_environ
from .replay import run
from .request import SocketRequestMixin
from .rooms import RoomsMixin
from .sync import CookieSync
from .sync import redeem_view
from .sync import SYNC_HEADER
from .sync import SYNC_URL_HEADER

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

logger = logging.getLogger("flask_sockreq")

_STATIC = os.path.join(os.path.dirname(__file__), "static")

_DEFAULTS: dict[str, t.Any] = {
    "SOCKREQ_NAMESPACE": "/",
    "SOCKREQ_ACCESS_LOG": True,
    "SOCKREQ_FORBIDDEN_HEADERS": (),
    "SOCKREQ_EXPOSE_ALL": True,
    "SOCKREQ_ALLOW_NO_ORIGIN": True,
    "SOCKREQ_MAX_INFLIGHT": 32,
    "SOCKREQ_TIMEOUT": 30.0,
    "SOCKREQ_COOKIE_SYNC": False,
    "SOCKREQ_COOKIE_SYNC_URL": "/_sockreq/cookies",
    "SOCKREQ_COOKIE_SYNC_MAX_AGE": 30.0,
    "SOCKREQ_CLIENT_URL": "/sockreq.js",
}


class SockReqState:
    """What :class:`SockReq` keeps for one app, in ``app.extensions["sockreq"]``.

    The config is read once, by ``init_app``.
    """

    def __init__(self, extension: SockReq, socketio: SocketIO, config: t.Any) -> None:
        #: The :class:`SockReq` instance.
        self.extension = extension
        #: The Flask-SocketIO instance that carries the socket requests.
        self.socketio = socketio
        #: ``SOCKREQ_NAMESPACE``
        self.namespace: str = config["SOCKREQ_NAMESPACE"]
        #: ``SOCKREQ_ACCESS_LOG``
        self.access_log = bool(config["SOCKREQ_ACCESS_LOG"])
        #: The payload headers that are dropped, in WSGI form (``X_REAL_IP``).
        self.forbidden_headers = FORBIDDEN_HEADERS | {
            name.upper().replace("-", "_")
            for name in config["SOCKREQ_FORBIDDEN_HEADERS"]
        }
        #: ``SOCKREQ_EXPOSE_ALL``
        self.expose_all = bool(config["SOCKREQ_EXPOSE_ALL"])
        #: Whether each endpoint answers over the socket, as first looked up.
        self.exposed: dict[str, bool] = {}
        #: ``SOCKREQ_ALLOW_NO_ORIGIN``
        self.allow_no_origin = bool(config["SOCKREQ_ALLOW_NO_ORIGIN"])
        #: ``SOCKREQ_MAX_INFLIGHT``
        self.max_inflight: int | None = config["SOCKREQ_MAX_INFLIGHT"]
        #: ``SOCKREQ_TIMEOUT``
        self.timeout: float | None = config["SOCKREQ_TIMEOUT"]
        self._watchdog: acks.Watchdog | None = None
        self._pipeline: tuple[t.Any, t.Any] = (None, None)
        self._cookie_sync_path: str = config["SOCKREQ_COOKIE_SYNC_URL"]
        #: The pending cookie sync tokens, if ``SOCKREQ_COOKIE_SYNC`` is on.
        self.cookie_sync = (
            CookieSync(config["SOCKREQ_COOKIE_SYNC_MAX_AGE"])
            if config["SOCKREQ_COOKIE_SYNC"]
            else None
        )

    def cookie_sync_url(self, environ: t.Any) -> str:
        """Where the browser redeems a cookie sync token: the route under the
        script root the request came through."""
        return f"{environ.get('SCRIPT_NAME', '')}{self._cookie_sync_path}"

    def watchdog(self, server: t.Any) -> acks.Watchdog:
        """The watchdog that answers this app's overdue requests."""
        if self._watchdog is None or self._watchdog.server is not server:
            self._watchdog = acks.Watchdog(server, self.timeout_jwr)
        return self._watchdog

    def timeout_jwr(self) -> dict[str, t.Any]:
        return error_jwr(
            504, "timeout", f"The server did not answer within {self.timeout} seconds."
        )

    def pipeline(self, app: Flask) -> t.Any:
        """The WSGI callable a socket request of ``app`` runs through."""
        wsgi_app: t.Any = app.wsgi_app
        if wsgi_app is not self._pipeline[0]:
            middleware = getattr(self.socketio, "sockio_mw", None)
            # When nothing wraps Flask-SocketIO's middleware, which would only
            # copy the environ and hand it on, call what it wraps.
            inner = middleware.wsgi_app if wsgi_app is middleware else wsgi_app
            self._pipeline = (wsgi_app, inner)
        return self._pipeline[1]

    @property
    def socketio_path(self) -> str:
        """Where the Socket.IO server answers, such as ``"/socket.io/"``."""
        middleware = getattr(self.socketio, "sockio_mw", None)
        return getattr(middleware, "engineio_path", "/socket.io/")


class SockReq(RoomsMixin):
    """Serve a Flask app's routes over Socket.IO as well as over HTTP.

    A client emits the event named after an HTTP method (``get``, ``post``,
    ...) with ``{"url", "data", "headers"}``; the request runs through the
    app's whole WSGI pipeline and the response comes back as the event's
    acknowledgement, ``{"body", "headers", "statusCode"}``. This is the
    protocol of Sails.js and its sails.io.js client.

    .. code-block:: python

        app = Flask(__name__)
        socketio = SocketIO(app)
        sockreq = SockReq(app, socketio)

    :param app: The Flask app, or None to call :meth:`init_app` later.
    :param socketio: The Flask-SocketIO instance to serve on. If None, the
        app's own (``app.extensions["socketio"]``) is used, or a new one is
        created for the app.
    :param options: Defaults for the config keys, by their lowercase names
        without the prefix: ``namespace="/api"`` is the default of
        ``SOCKREQ_NAMESPACE``. The app's config wins.
    """

    def __init__(
        self,
        app: Flask | None = None,
        socketio: SocketIO | None = None,
        **options: t.Any,
    ) -> None:
        self._defaults = dict(_DEFAULTS)
        for name, value in options.items():
            key = f"SOCKREQ_{name.upper()}"
            if key not in _DEFAULTS:
                raise TypeError(f"SockReq() got an unknown option {name!r}.")
            self._defaults[key] = value
        if app is not None:
            self.init_app(app, socketio)

    def init_app(self, app: Flask, socketio: SocketIO | None = None) -> None:
        """Set up socket requests for ``app``.

        Sets the config defaults, mixes ``is_socket`` and ``socket`` into the
        app's ``request_class`` and registers the request events. It may be
        called before or after the SocketIO's own ``init_app``.

        :param app: The Flask app.
        :param socketio: As for the constructor.
        :raise RuntimeError: If the app already has a :class:`SockReq`.
        """
        if "sockreq" in app.extensions:
            raise RuntimeError(
                "A 'SockReq' instance has already been registered on this Flask"
                " app. Import and use that instance instead."
            )
        for key, value in self._defaults.items():
            app.config.setdefault(key, value)
        if socketio is None:
            socketio = app.extensions.get("socketio") or SocketIO(app)
        state = SockReqState(self, socketio, app.config)
        app.extensions["sockreq"] = state
        if not issubclass(app.request_class, SocketRequestMixin):
            base = app.request_class
            app.request_class = type(base.__name__, (SocketRequestMixin, base), {})
        # First, so that no other hook sees a socket request for a hidden route.
        app.before_request_funcs.setdefault(None, []).insert(0, check_exposed)
        if state.cookie_sync is not None:
            app.add_url_rule(
                app.config["SOCKREQ_COOKIE_SYNC_URL"],
                "sockreq_cookie_sync",
                exclude(redeem_view),
            )
        client_url = app.config["SOCKREQ_CLIENT_URL"]
        if client_url:
            app.add_url_rule(client_url, "sockreq_client", client_script)
            module_url = f"{client_url.removesuffix('.js')}.mjs"
            app.add_url_rule(module_url, "sockreq_client_module", client_module)
        _register(socketio, state.namespace)
        # Hear the room bus now, not at the first socket request, so that
        # room-to-room operations reach sockets that never sent one.
        bus_for(socketio.server)
        if state.access_log and logger.level == logging.NOTSET:
            # As werkzeug does for its own access log: visible by default.
            logger.setLevel(logging.INFO)
            if not logger.hasHandlers():
                logger.addHandler(logging.StreamHandler())

    @staticmethod
    def socketio_for(app: Flask) -> SocketIO:
        """The Flask-SocketIO instance serving ``app``'s socket requests."""
        return t.cast(SockReqState, app.extensions["sockreq"]).socketio

    def test_client(
        self, app: Flask, flask_test_client: t.Any = None, **kwargs: t.Any
    ) -> t.Any:
        """An in-process socket client for ``app`` with the API of
        ``app.test_client()``: see :class:`flask_sockreq.testing.SockReqTestClient`.

        :param flask_test_client: A Flask test client to share cookies with.
        :param kwargs: ``headers``, ``namespace``, ``query_string``, ``auth``.
        """
        from .testing import SockReqTestClient

        return SockReqTestClient(app, flask_test_client, **kwargs)


def client_script() -> Response:
    """Serve the browser client, ``static/sockreq.js``."""
    return send_from_directory(
        _STATIC, "sockreq.js", mimetype="text/javascript", max_age=3600
    )


def client_module() -> Response:
    """Serve the browser client as an ES module, ``static/sockreq.mjs``."""
    return send_from_directory(
        _STATIC, "sockreq.mjs", mimetype="text/javascript", max_age=3600
    )


def _register(socketio: SocketIO, namespace: str) -> None:
    # Straight onto python-socketio, not through socketio.on(): Flask-SocketIO's
    # wrapper would push a request context for the handshake around our own.
    if any(
        isinstance(handler, _RequestHandler) and ns == namespace
        for _, handler, ns in socketio.handlers
    ):
        return
    for method in METHODS:
        handler = _RequestHandler(socketio, method, namespace)
        # Queued handlers are registered again whenever socketio.init_app
        # creates a server, so the order of init_app calls does not matter.
        socketio.handlers.append((method, handler, namespace))
        if socketio.server is not None:
            socketio.server.on(method, handler, namespace=namespace)
    if socketio.server is not None:
        acks.install(socketio.server, namespace, METHODS)
    else:
        serializer = socketio.server_options.get("serializer", "default")
        if serializer in ("default", "msgpack"):
            serializer = _serializer_class(serializer)
        socketio.server_options["serializer"] = acks.tagging_class(
            serializer, namespace, METHODS
        )


def _serializer_class(name: str) -> type:
    if name == "msgpack":
        from socketio.msgpack_packet import MsgPackPacket

        return t.cast(type, MsgPackPacket)
    return t.cast(type, sio_packet.Packet)


class _RequestHandler:
    """The python-socketio handler for one request event."""

    __slots__ = ("socketio", "method", "namespace")

    def __init__(self, socketio: SocketIO, method: str, namespace: str) -> None:
        self.socketio = socketio
        self.method = method
        self.namespace = namespace

    def __call__(self, sid: str, payload: t.Any = None, *args: t.Any) -> t.Any:
        start = time.perf_counter()
        ack_id = (
            payload.pop(acks.ACK_KEY, _UNTAGGED)
            if isinstance(payload, dict)
            else _UNTAGGED
        )
        server = self.socketio.server
        try:
            jwr = self._handle(server, sid, payload, ack_id, start)
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
        start: float,
    ) -> dict[str, t.Any] | None:
        handshake = server.get_environ(sid, namespace=self.namespace)
        if handshake is None:
            return error_jwr(400, "not_connected", "The socket is no longer connected.")
        conn = Connection.of(server, sid, self.namespace, handshake)
        app = handshake["flask.app"]
        state: SockReqState | None = app.extensions.get("sockreq")
        if state is None:
            return error_jwr(
                404, "not_enabled", "Socket requests are not enabled for this app."
            )
        if ack_id is _UNTAGGED and not acks.is_installed(server):
            # A server created after init_app with a serializer of its own:
            # from the next request on, ack ids are known and deadlines kept.
            acks.install(server, self.namespace, METHODS)
        late = False
        if not (conn.has_origin or state.allow_no_origin):
            jwr = error_jwr(
                403,
                "origin_required",
                "This server serves socket requests only to connections that"
                " sent an Origin header.",
            )
        elif not conn.acquire(state.max_inflight):
            jwr = error_jwr(
                429,
                "too_many_requests",
                f"This socket already has {state.max_inflight} requests in"
                " flight; wait for their answers before sending more.",
            )
        else:
            pending = None
            if state.timeout is not None and isinstance(ack_id, int):
                watchdog = state.watchdog(server)
                pending = watchdog.track(sid, self.namespace, ack_id, state.timeout)
            try:
                jwr = _serve(app, state, conn, self.method, payload)
            finally:
                conn.release()
            late = pending is not None and not watchdog.finish(pending)
            if late:
                logger.warning(
                    "Dropped the late %s response to socket request %s %s from"
                    " %s: the client was answered 504 after %s s.",
                    jwr["statusCode"],
                    self.method.upper(),
                    _url(payload),
                    sid,
                    state.timeout,
                )
        if state.access_log and logger.isEnabledFor(logging.INFO):
            status = 504 if late else jwr["statusCode"]
            _log_access(conn, self.method, payload, status, start)
        return None if late else jwr


_UNTAGGED = object()


def _serve(
    app: Flask, state: SockReqState, conn: Connection, method: str, payload: t.Any
) -> dict[str, t.Any]:
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
    status, headers, body = run(app, state.pipeline(app), environ)
    set_cookies: list[str] = []
    raw_json = getattr(state.socketio.server.packet_class, "sockreq_raw_json", False)
    jwr = encode_jwr(status, headers, body, req.method, raw_json, set_cookies)
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


def _log_access(
    conn: Connection, method: str, payload: t.Any, status: int, start: float
) -> None:
    logger.info(
        '%s - - [%s] "%s %s SOCKET" %d %.1fms sid=%s',
        conn.template.get("REMOTE_ADDR", "-"),
        time.strftime("%d/%b/%Y %H:%M:%S"),
        method.upper(),
        _url(payload),
        status,
        (time.perf_counter() - start) * 1000,
        conn.socket.id,
    )
