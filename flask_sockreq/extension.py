"""The ``SockReq`` extension: configuration and Socket.IO registration."""

from __future__ import annotations

import logging
import time
import typing as t

from flask_socketio import SocketIO

from .protocol import encode_jwr
from .protocol import error_jwr
from .protocol import METHODS
from .protocol import parse_request
from .protocol import ProtocolError
from .replay import build_environ
from .replay import run
from .replay import SOCKET_KEY
from .request import SocketRequestMixin
from .sockets import Socket

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

logger = logging.getLogger("flask_sockreq")


class SockReqState:
    """What :class:`SockReq` keeps for one app, in ``app.extensions["sockreq"]``."""

    def __init__(
        self, extension: SockReq, socketio: SocketIO, namespace: str, access_log: bool
    ) -> None:
        #: The :class:`SockReq` instance.
        self.extension = extension
        #: The Flask-SocketIO instance that carries the socket requests.
        self.socketio = socketio
        #: The Socket.IO namespace the request events are served on.
        self.namespace = namespace
        #: Whether an access log line is written for each socket request.
        self.access_log = access_log

    @property
    def socketio_path(self) -> str:
        """Where the Socket.IO server answers, such as ``"/socket.io/"``."""
        middleware = getattr(self.socketio, "sockio_mw", None)
        return getattr(middleware, "engineio_path", "/socket.io/")


class SockReq:
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
    :param namespace: The default for ``SOCKREQ_NAMESPACE``.
    :param access_log: The default for ``SOCKREQ_ACCESS_LOG``.
    """

    def __init__(
        self,
        app: Flask | None = None,
        socketio: SocketIO | None = None,
        *,
        namespace: str = "/",
        access_log: bool = True,
    ) -> None:
        self._defaults = {
            "SOCKREQ_NAMESPACE": namespace,
            "SOCKREQ_ACCESS_LOG": access_log,
        }
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
        namespace = app.config["SOCKREQ_NAMESPACE"]
        access_log = bool(app.config["SOCKREQ_ACCESS_LOG"])
        if socketio is None:
            socketio = app.extensions.get("socketio") or SocketIO(app)
        app.extensions["sockreq"] = SockReqState(self, socketio, namespace, access_log)
        if not issubclass(app.request_class, SocketRequestMixin):
            base = app.request_class
            app.request_class = type(base.__name__, (SocketRequestMixin, base), {})
        _register(socketio, namespace)
        if access_log and logger.level == logging.NOTSET:
            # As werkzeug does for its own access log: visible by default.
            logger.setLevel(logging.INFO)
            if not logger.hasHandlers():
                logger.addHandler(logging.StreamHandler())

    @staticmethod
    def socketio_for(app: Flask) -> SocketIO:
        """The Flask-SocketIO instance serving ``app``'s socket requests."""
        return t.cast(SockReqState, app.extensions["sockreq"]).socketio


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


class _RequestHandler:
    """The python-socketio handler for one request event."""

    __slots__ = ("socketio", "method", "namespace")

    def __init__(self, socketio: SocketIO, method: str, namespace: str) -> None:
        self.socketio = socketio
        self.method = method
        self.namespace = namespace

    def __call__(
        self, sid: str, payload: t.Any = None, *args: t.Any
    ) -> dict[str, t.Any]:
        start = time.perf_counter()
        try:
            server = self.socketio.server
            handshake = server.get_environ(sid, namespace=self.namespace)
            if handshake is None:
                return error_jwr(
                    400, "not_connected", "The socket is no longer connected."
                )
            socket = handshake.get(SOCKET_KEY)
            if socket is None or socket.id != sid:
                socket = Socket(server, sid, self.namespace, handshake)
                handshake[SOCKET_KEY] = socket
            app = handshake["flask.app"]
            state = app.extensions.get("sockreq")
            if state is None:
                return error_jwr(
                    404, "not_enabled", "Socket requests are not enabled for this app."
                )
            url = payload.get("url") if isinstance(payload, dict) else None
            try:
                req = parse_request(self.method, payload, socket._hosts)
                environ = build_environ(
                    socket._environ_template, req, socket, state.socketio_path
                )
            except ProtocolError as exc:
                jwr = exc.to_jwr()
            else:
                status, headers, body = run(app, environ)
                jwr = encode_jwr(status, headers, body, req.method)
            if state.access_log and logger.isEnabledFor(logging.INFO):
                _log_access(socket, self.method, url, jwr["statusCode"], start)
            return jwr
        except Exception:
            # Never leave a client without its acknowledgement.
            logger.exception(
                "Failed to serve a socket %s request.", self.method.upper()
            )
            return error_jwr(
                500, "internal_error", "The server failed to handle the request."
            )


def _log_access(
    socket: Socket, method: str, url: t.Any, status: int, start: float
) -> None:
    logger.info(
        '%s - - [%s] "%s %s SOCKET" %d %.1fms sid=%s',
        socket.handshake["address"],
        time.strftime("%d/%b/%Y %H:%M:%S"),
        method.upper(),
        url if isinstance(url, str) else "-",
        status,
        (time.perf_counter() - start) * 1000,
        socket.id,
    )
