"""The ``SockReq`` extension: configuration and Socket.IO registration."""

from __future__ import annotations

import logging
import os
import posixpath
import typing as t

import flask
import socketio as socketio_package
from flask import current_app
from flask import request
from flask import Response
from flask import send_from_directory
from flask_socketio import SocketIO

from . import acks
from . import capacity
from . import codec
from . import sends
from . import websocket
from .bus import bus_for
from .exposure import check_exposed
from .exposure import exclude
from .handler import RequestHandler
from .protocol import error_jwr
from .protocol import FORBIDDEN_HEADERS
from .protocol import METHODS
from .replay import Dispatcher
from .rooms import RoomsMixin
from .streams import CLIENT_FRAMES
from .streams import FrameHandler
from .streams import StreamLimits
from .sync import CookieSync
from .sync import redeem_view
from .wrappers import Request
from .wrappers import SocketRequestMixin

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask
    from flask.testing import FlaskClient

    from .sqla import AutoPublisher
    from .testing import SockReqTestClient

logger = logging.getLogger("flask_sockreq")

_STATIC = os.path.join(os.path.dirname(__file__), "static")

_DEFAULTS: dict[str, t.Any] = {
    "SOCKREQ_NAMESPACE": "/",
    "SOCKREQ_ACCESS_LOG": None,
    "SOCKREQ_FORBIDDEN_HEADERS": (),
    "SOCKREQ_EXPOSE_ALL": True,
    "SOCKREQ_ALLOW_NO_ORIGIN": True,
    "SOCKREQ_MAX_INFLIGHT": 100,
    "SOCKREQ_TIMEOUT": 30.0,
    "SOCKREQ_COOKIE_SYNC": False,
    "SOCKREQ_COOKIE_SYNC_URL": "/_sockreq/cookies",
    "SOCKREQ_COOKIE_SYNC_MAX_AGE": 30.0,
    "SOCKREQ_CLIENT_URL": "/sockreq.js",
    "SOCKREQ_STREAM_CHUNK_SIZE": 256 * 1024,
    "SOCKREQ_STREAM_WINDOW": 1024 * 1024,
    "SOCKREQ_STREAM_MAX": 16,
    "SOCKREQ_STREAM_IDLE_TIMEOUT": 30.0,
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
        #: ``SOCKREQ_ACCESS_LOG``: True, False, or None to follow ``app.debug``.
        self.access_log: bool | None = (
            None
            if config["SOCKREQ_ACCESS_LOG"] is None
            else bool(config["SOCKREQ_ACCESS_LOG"])
        )
        self._log_ready = False
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
        #: ``SOCKREQ_STREAM_CHUNK_SIZE``, ``_WINDOW``, ``_MAX`` and
        #: ``_IDLE_TIMEOUT``.
        self.stream_limits = StreamLimits(
            _positive(config, "SOCKREQ_STREAM_CHUNK_SIZE", int),
            _positive(config, "SOCKREQ_STREAM_WINDOW", int),
            _positive(config, "SOCKREQ_STREAM_MAX", int),
            _positive(config, "SOCKREQ_STREAM_IDLE_TIMEOUT", float),
        )
        #: The python-socketio server made ready by :meth:`prepare`.
        self.server: t.Any = None
        self._watchdog: acks.Watchdog | None = None
        self._dispatcher: Dispatcher | None = None
        self._wsgi_app: t.Any = None
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

    def dispatcher(self, app: Flask) -> Dispatcher:
        """What runs a socket request of ``app``: its WSGI pipeline, and
        Flask's request handling directly when nothing wraps it."""
        wsgi_app: t.Any = app.wsgi_app
        # == rather than is: an unwrapped app.wsgi_app is a new bound method
        # at each access, equal to the last one.
        if self._dispatcher is None or wsgi_app != self._wsgi_app:
            middleware = getattr(self.socketio, "sockio_mw", None)
            # When nothing wraps Flask-SocketIO's middleware, which would only
            # copy the environ and hand it on, call what it wraps.
            inner = middleware.wsgi_app if wsgi_app is middleware else wsgi_app
            self._dispatcher = Dispatcher(app, inner)
            self._wsgi_app = wsgi_app
        return self._dispatcher

    @property
    def raw_json(self) -> bool:
        """Whether JSON bodies may go into the acknowledgement as they are."""
        return bool(
            getattr(self.socketio.server.packet_class, "sockreq_raw_json", False)
        )

    @property
    def seed_json(self) -> bool:
        """Whether the data of a request decodes as Flask would decode its
        JSON body: JSON packets read by the standard module or by the codec
        (not msgpack, not a ``json`` module the app gave Flask-SocketIO)."""
        return self.raw_json and codec.decodes_as_standard(
            getattr(self.socketio.server.packet_class, "json", None)
        )

    def prepare(self, server: t.Any) -> None:
        """Make ready a python-socketio server created after ``init_app``
        (the handler calls this at the first request it serves). A server
        with a serializer of its own gets the packet codec: from the next
        request on, ack ids are known and deadlines kept."""
        if not codec.is_installed(server):
            codec.install(server, self.namespace, METHODS)
        websocket.install(server)
        sends.install(server)
        capacity.check_open_files(server.async_mode)
        self.server = server

    def logs_access(self, app: Flask) -> bool:
        """Whether to write the access log line of a request of ``app``."""
        if self.access_log is None and not app.debug:
            return False
        if not self._log_ready:
            # As werkzeug does for its own access log, at its first line:
            # INFO unless the app set a level, and a handler only if logging
            # has none at all.
            if logger.level == logging.NOTSET:
                logger.setLevel(logging.INFO)
            if not logger.hasHandlers():
                logger.addHandler(logging.StreamHandler())
            self._log_ready = True
        return logger.isEnabledFor(logging.INFO)

    @property
    def socketio_path(self) -> str:
        """Where the Socket.IO server answers, such as ``"/socket.io/"``."""
        middleware = getattr(self.socketio, "sockio_mw", None)
        return getattr(middleware, "engineio_path", "/socket.io/")


def _positive(config: t.Any, key: str, kind: type) -> t.Any:
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"{key} must be a positive number, not {value!r}.")
    return kind(value)


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
        app's own (``app.extensions["socketio"]``), which must exist.
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
        :raise RuntimeError: If the app already has a :class:`SockReq`, or has
            no Flask-SocketIO and none is given.
        """
        if "sockreq" in app.extensions:
            raise RuntimeError(
                "A 'SockReq' instance has already been registered on this Flask"
                " app. Import and use that instance instead."
            )
        for key, value in self._defaults.items():
            app.config.setdefault(key, value)
        if socketio is None:
            socketio = app.extensions.get("socketio")
            if socketio is None:
                # Were SockReq to make one, a later SocketIO(app) would
                # replace it with a server that has no request handlers, and
                # every socket request would go unanswered.
                raise RuntimeError(
                    "Flask-SockReq serves socket requests through the app's"
                    " Flask-SocketIO, and this app has none yet. Create it"
                    " first, 'socketio = SocketIO(app)', then"
                    " 'SockReq(app, socketio)'; or, with an app factory, pass it"
                    " to init_app: 'sockreq.init_app(app, socketio)'."
                )
        state = SockReqState(self, socketio, app.config)
        app.extensions["sockreq"] = state
        if app.request_class is flask.Request:
            app.request_class = Request
        elif not issubclass(app.request_class, SocketRequestMixin):
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

    def autopublish(
        self,
        model: type[t.Any],
        *,
        resource: str,
        serialize: t.Callable[[t.Any], t.Any] | None = None,
        skip_requester: bool = True,
    ) -> AutoPublisher:
        """Publish ``model``'s committed changes to the sockets of this
        SockReq's apps: see :func:`flask_sockreq.sqla.autopublish`. Needs
        Flask-SQLAlchemy (or SQLAlchemy).
        """
        from .sqla import autopublish

        return autopublish(
            model,
            resource=resource,
            serialize=serialize,
            skip_requester=skip_requester,
            sockreq=self,
        )

    @staticmethod
    def socketio_for(app: Flask) -> SocketIO:
        """The Flask-SocketIO instance serving ``app``'s socket requests."""
        return t.cast(SockReqState, app.extensions["sockreq"]).socketio

    def test_client(
        self,
        app: Flask,
        flask_test_client: FlaskClient | None = None,
        **kwargs: t.Any,
    ) -> SockReqTestClient:
        """A Flask test client whose requests go over an in-process socket:
        see :class:`flask_sockreq.testing.SockReqTestClient`.

        :param flask_test_client: A Flask test client to share cookies with.
        :param kwargs: ``headers``, ``namespace``, ``query_string``, ``auth``,
            ``use_cookies``, ``allow_subdomain_redirects``, ``timeout``.
        """
        from .testing import SockReqTestClient

        return SockReqTestClient(app, flask_test_client, **kwargs)


def client_script() -> Response:
    """Serve the browser client, ``static/sockreq.js``, cached as the app's
    ``SEND_FILE_MAX_AGE_DEFAULT`` says, as Flask serves static files."""
    return send_from_directory(_STATIC, "sockreq.js", mimetype="text/javascript")


def client_module() -> Response:
    """Serve the browser client as an ES module, ``static/sockreq.mjs``,
    importing the script from where ``SOCKREQ_CLIENT_URL`` serves it."""
    response = send_from_directory(_STATIC, "sockreq.mjs", mimetype="text/javascript")
    client_url = current_app.config["SOCKREQ_CLIENT_URL"]
    script = posixpath.basename(client_url)
    if script != "sockreq.js":
        # The module sits next to the script: import it by its own name.
        response.direct_passthrough = False
        text = response.get_data(as_text=True)
        response.set_data(
            text.replace('import "./sockreq.js";', f'import "./{script}";')
        )
        response.add_etag(overwrite=True)
        response.make_conditional(request)
    return response


def _register(socketio: SocketIO, namespace: str) -> None:
    # Straight onto python-socketio, not through socketio.on(): Flask-SocketIO's
    # wrapper would push a request context for the handshake around our own.
    if not any(
        isinstance(handler, RequestHandler) and ns == namespace
        for _, handler, ns in socketio.handlers
    ):
        handlers: list[tuple[str, t.Any]] = [
            (method, RequestHandler(socketio, method, namespace)) for method in METHODS
        ]
        handlers += [
            (event, FrameHandler(socketio, event, namespace)) for event in CLIENT_FRAMES
        ]
        for event, handler in handlers:
            # Queued handlers are registered again whenever socketio.init_app
            # creates a server, so the order of init_app calls does not matter.
            socketio.handlers.append((event, handler, namespace))
            if socketio.server is not None:
                socketio.server.on(event, handler, namespace=namespace)
    setup = next(
        (h for h in socketio.namespace_handlers if isinstance(h, _ServerSetup)), None
    )
    if setup is None:
        setup = _ServerSetup()
        socketio.namespace_handlers.append(setup)
    setup.namespaces.add(namespace)
    if socketio.server is not None:
        setup.prepare(socketio.server)


class _ServerSetup(socketio_package.Namespace):  # type: ignore[misc]
    """Makes every python-socketio server a SocketIO creates ready for socket
    requests the moment it is created, whichever of the two ``init_app``
    calls comes first, and for each app a SocketIO serves.

    Flask-SocketIO registers its queued namespace handlers on each server it
    makes, and python-socketio then hands each its server: that is the hook.
    The namespace itself refuses every connection.
    """

    def __init__(self) -> None:
        super().__init__(_SETUP_NAMESPACE)
        self.namespaces: set[str] = set()

    def _set_server(self, server: t.Any) -> None:
        super()._set_server(server)
        self.prepare(server)

    def prepare(self, server: t.Any) -> None:
        for namespace in self.namespaces:
            codec.install(server, namespace, METHODS)
        websocket.install(server)
        sends.install(server)

    def on_connect(self, sid: str, environ: t.Any, auth: t.Any = None) -> bool:
        return False


_SETUP_NAMESPACE = "/__flask_sockreq_setup__"
