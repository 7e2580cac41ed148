"""What Flask-SockReq keeps for one Socket.IO connection."""

from __future__ import annotations

import typing as t

from .cookies import CookieJar
from .replay import environ_template
from .sockets import Socket

if t.TYPE_CHECKING:  # pragma: no cover
    import socketio
    from _typeshed.wsgi import WSGIEnvironment

#: The handshake environ key that holds the :class:`Connection`.
CONNECTION_KEY = "flask_sockreq.connection"


class Connection:
    """The replay state of one connection: built at its first request, kept
    in its handshake environ, and gone with it when the client disconnects.
    """

    __slots__ = (
        "app",
        "state",
        "socket",
        "template",
        "hosts",
        "secure",
        "has_origin",
        "jar",
        "_inflight",
    )

    def __init__(
        self,
        server: socketio.Server,
        sid: str,
        namespace: str,
        handshake: WSGIEnvironment,
    ) -> None:
        #: The Flask app the client connected to.
        self.app = handshake["flask.app"]
        #: The app's :class:`~flask_sockreq.SockReqState`, None if it has no
        #: SockReq.
        self.state = self.app.extensions.get("sockreq")
        self.socket = Socket(server, sid, namespace, handshake)
        #: The environ every request of the connection starts from.
        self.template = environ_template(handshake)
        #: The host names (with port) an absolute request URL may name: the
        #: Host the client sent, and the one a reverse proxy says it used.
        hosts = [self.template.get("HTTP_HOST", "")]
        forwarded = self.template.get("HTTP_X_FORWARDED_HOST")
        if forwarded:
            hosts.append(forwarded.split(",")[0].strip())
        self.hosts = tuple(host.lower() for host in hosts if host)
        #: Whether the browser sees an https origin (for Secure cookies).
        proto = self.template.get("HTTP_X_FORWARDED_PROTO", "").split(",")[0]
        self.secure = "https" in (handshake.get("wsgi.url_scheme"), proto.strip())
        self.has_origin = "HTTP_ORIGIN" in handshake
        self.jar = CookieJar(
            self.template.get("HTTP_COOKIE"),
            _without_port(self.hosts[-1] if self.hosts else ""),
        )
        self._inflight: list[None] = []

    @classmethod
    def of(
        cls,
        server: socketio.Server,
        sid: str,
        namespace: str,
        handshake: WSGIEnvironment,
    ) -> Connection:
        """The connection of ``sid``, made at its first request and kept in
        its handshake environ."""
        conn: Connection | None = handshake.get(CONNECTION_KEY)
        if conn is None or conn.socket.id != sid:
            conn = cls(server, sid, namespace, handshake)
            handshake[CONNECTION_KEY] = conn
        return conn

    @property
    def remote_addr(self) -> str:
        """The peer address, for the access log."""
        return t.cast(str, self.template.get("REMOTE_ADDR", "-"))

    def acquire(self, limit: int | None) -> bool:
        """Count a request in flight, unless ``limit`` are already."""
        # Lock-free, as list append and pop are atomic: a request counts
        # itself first and checks after, so that two racing requests can
        # both be refused at the limit but never both let past it.
        slots = self._inflight
        slots.append(None)
        if limit is not None and len(slots) > limit:
            slots.pop()
            return False
        return True

    def release(self) -> None:
        self._inflight.pop()


def _without_port(host: str) -> str:
    name, colon, port = host.rpartition(":")
    if colon and port.isdigit():
        return name
    return host
