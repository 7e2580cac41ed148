"""The Socket.IO connection behind a socket request: ``request.socket``."""

from __future__ import annotations

import time
import typing as t
from urllib.parse import parse_qs

from flask import has_request_context
from flask import request

from .bus import bus_for

if t.TYPE_CHECKING:  # pragma: no cover
    import socketio
    from _typeshed.wsgi import WSGIEnvironment


class Socket:
    """One client's Socket.IO connection on one namespace.

    This is what ``request.socket`` is for a request that came over a socket,
    like ``req.socket`` in Sails. It stays the same object for every request
    of the connection.

    :param server: The python-socketio server the client is connected to.
    :param sid: The client's session id on ``namespace``.
    :param namespace: The Socket.IO namespace.
    :param environ: The WSGI environ of the connection's handshake.
    """

    __slots__ = ("id", "namespace", "server", "_environ", "_issued")

    def __init__(
        self,
        server: socketio.Server,
        sid: str,
        namespace: str,
        environ: WSGIEnvironment,
    ) -> None:
        #: The session id, the same as ``request.sid``.
        self.id = sid
        #: The Socket.IO namespace the client is connected to.
        self.namespace = namespace
        #: The python-socketio server.
        self.server = server
        # python-socketio keeps the handshake environ for the connection's
        # life: refer to it rather than keep a digest of it.
        self._environ = environ
        self._issued = time.time()
        # This process has sockets: make sure it hears the room bus.
        bus_for(server)

    @property
    def handshake(self) -> dict[str, t.Any]:
        """What the client sent when it connected: ``headers`` (lowercase
        names), ``address``, ``query`` (lists of values), ``url``,
        ``secure``, ``xdomain``, ``time`` (an HTTP date) and ``issued`` (ms
        since the epoch) of the socket's first request, as in the JavaScript
        server's ``socket.handshake``. A new dict at each access.
        """
        return _handshake(self._environ, self._issued)

    @property
    def auth(self) -> t.Any:
        """The ``auth`` data the client sent when it connected to the
        namespace (Socket.IO's ``io(url, {auth: {...}})``), or None."""
        return (self._environ.get(AUTH_KEY) or {}).get(self.namespace)

    @property
    def data(self) -> dict[str, t.Any]:
        """A dict kept with the connection for the app's own use, like the
        JavaScript server's ``socket.data``: what a connect handler
        establishes once (the user a token names, say) for every request of
        the socket to read."""
        per_namespace: dict[str, dict[str, t.Any]] = self._environ.setdefault(
            DATA_KEY, {}
        )
        return per_namespace.setdefault(self.namespace, {})

    @property
    def rooms(self) -> list[str]:
        """The rooms the socket is in, its own ``id`` room included."""
        return list(self.server.rooms(self.id, namespace=self.namespace))

    def join(self, room: str) -> None:
        """Put the socket in ``room``."""
        self.server.enter_room(self.id, room, namespace=self.namespace)
        note_rooms(self.id, JOINED)

    def leave(self, room: str) -> None:
        """Take the socket out of ``room``."""
        self.server.leave_room(self.id, room, namespace=self.namespace)
        note_rooms(self.id, LEFT)

    def emit(
        self,
        event: str,
        data: t.Any = None,
        *,
        callback: t.Callable[..., t.Any] | None = None,
    ) -> None:
        """Send ``event`` with ``data`` to this socket only.

        :param callback: Called with the client's acknowledgement, if any.
        """
        self.server.emit(
            event, data, to=self.id, namespace=self.namespace, callback=callback
        )

    def disconnect(self) -> None:
        """Close the connection from the server side."""
        self.server.disconnect(self.id, namespace=self.namespace)

    def __repr__(self) -> str:
        return f"<Socket {self.id!r} on {self.namespace!r}>"


#: The handshake environ keys of :attr:`Socket.auth` (``{namespace: auth}``,
#: filled as the client connects) and :attr:`Socket.data`.
AUTH_KEY = "flask_sockreq.auth"
DATA_KEY = "flask_sockreq.data"

#: The environ key where a socket request notes that its view joined or
#: left rooms for its own socket: a set of :data:`JOINED` and :data:`LEFT`.
ROOMS_KEY = "flask_sockreq.rooms"
JOINED = "joined"
LEFT = "left"


def note_rooms(sid: str, change: str) -> None:
    """Note on the current socket request, if it came over the socket
    ``sid``, that its view joined (or left) rooms for it: its JWR says so,
    and a client replays such requests after a reconnection."""
    if not has_request_context():
        return
    environ = request.environ
    socket = environ.get("flask_sockreq.socket")
    if socket is not None and socket.id == sid:
        environ.setdefault(ROOMS_KEY, set()).add(change)


def _handshake(environ: WSGIEnvironment, now: float) -> dict[str, t.Any]:
    headers = {
        key[5:].replace("_", "-").lower(): value
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    orig = environ.get("werkzeug.proxy_fix.orig") or {}
    scheme = orig.get("wsgi.url_scheme", environ.get("wsgi.url_scheme", "http"))
    host = orig.get("HTTP_HOST", environ.get("HTTP_HOST", ""))
    path = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not path:
        path = environ.get("PATH_INFO", "")
        if environ.get("QUERY_STRING"):
            path = f"{path}?{environ['QUERY_STRING']}"
    return {
        "headers": headers,
        "address": orig.get("REMOTE_ADDR", environ.get("REMOTE_ADDR")),
        "query": parse_qs(environ.get("QUERY_STRING", "")),
        "url": path,
        "secure": scheme in ("https", "wss"),
        "xdomain": "origin" in headers
        and headers["origin"].split("://", 1)[-1] != host,
        "time": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now)),
        "issued": int(now * 1000),
    }
