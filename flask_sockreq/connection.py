"""What Flask-SockReq keeps for one Socket.IO connection."""

from __future__ import annotations

import typing as t

from .cookies import CookieJar
from .replay import environ_template
from .sockets import Socket
from .streams import Streams

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
        "_jar",
        "streams",
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
        #: Host the app saw at the handshake, which is the one a reverse
        #: proxy forwarded only if the app's own middleware (ProxyFix) trusts
        #: it, and the Host the connection was made with.
        hosts = [handshake.get("HTTP_HOST", "")]
        original = handshake.get("werkzeug.proxy_fix.orig") or {}
        if original.get("HTTP_HOST"):
            hosts.append(original["HTTP_HOST"])
        self.hosts = tuple(dict.fromkeys(host.lower() for host in hosts if host))
        #: Whether the browser sees an https origin (for Secure cookies), as
        #: the app's middleware says.
        self.secure = handshake.get("wsgi.url_scheme") in ("https", "wss")
        self.has_origin = "HTTP_ORIGIN" in handshake
        # Made when a response first sets a cookie: until then the jar would
        # only hand back the handshake's Cookie header.
        self._jar: CookieJar | None = None
        #: The connection's streams in flight, from its first stream on.
        self.streams: Streams | None = None
        # The ack ids (None for requests without one) of the requests in
        # flight: at most SOCKREQ_MAX_INFLIGHT, so a list is small.
        self._inflight: list[int | None] = []

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
    def jar(self) -> CookieJar:
        """The connection's cookie jar, seeded from the handshake."""
        jar = self._jar
        if jar is None:
            jar = self._jar = CookieJar(
                self.template.get("HTTP_COOKIE"),
                _without_port(self.hosts[0] if self.hosts else ""),
            )
        return jar

    @jar.setter
    def jar(self, jar: CookieJar) -> None:
        self._jar = jar

    def cookie_header(self, path: str) -> str | None:
        """The ``Cookie`` header of a request to ``path``."""
        jar = self._jar
        if jar is None:
            return t.cast("str | None", self.template.get("HTTP_COOKIE") or None)
        return jar.header_for(path, self.secure)

    def streams_for(self, server: socketio.Server, state: t.Any) -> Streams:
        """The connection's :class:`~flask_sockreq.streams.Streams`, made at
        its first stream."""
        streams = self.streams
        if streams is None:
            streams = self.streams = Streams(self, server, state.stream_limits)
        return streams

    @property
    def remote_addr(self) -> str:
        """The peer address, for the access log."""
        return t.cast(str, self.template.get("REMOTE_ADDR", "-"))

    def in_flight(self, ack_id: int | None) -> bool:
        """Whether a request with the ack id ``ack_id`` is in flight."""
        return ack_id is not None and ack_id in self._inflight

    def acquire(self, limit: int | None, ack_id: int | None = None) -> bool:
        """Count a request in flight, unless ``limit`` are already."""
        # Lock-free, as list append and remove are atomic: a request counts
        # itself first and checks after, so that two racing requests can
        # both be refused at the limit but never both let past it.
        slots = self._inflight
        slots.append(ack_id)
        if limit is not None and len(slots) > limit:
            slots.remove(ack_id)
            return False
        return True

    def release(self, ack_id: int | None = None) -> None:
        self._inflight.remove(ack_id)


def _without_port(host: str) -> str:
    name, colon, port = host.rpartition(":")
    if colon and port.isdigit():
        return name
    return host
