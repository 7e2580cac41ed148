"""``request.is_socket`` and ``request.socket``."""

from __future__ import annotations

import typing as t

from flask import current_app

from .replay import SOCKET_KEY
from .sockets import Socket

if t.TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import WSGIEnvironment


class _SocketAttribute:
    """``request.sid`` or ``request.namespace``: read from the socket of a
    socket request, or whatever Flask-SocketIO assigned in its handlers."""

    def __init__(self, name: str, socket_attribute: str) -> None:
        self.name = name
        self.key = f"_sockreq_{name}"
        self.socket_attribute = socket_attribute

    def __get__(self, request: t.Any, owner: type | None = None) -> t.Any:
        if request is None:
            return self
        try:
            return request.__dict__[self.key]
        except KeyError:
            pass
        socket = request.environ.get(SOCKET_KEY)
        if socket is None:
            raise AttributeError(
                f"'request.{self.name}' is only set for requests that came"
                " over a socket."
            )
        return getattr(socket, self.socket_attribute)

    def __set__(self, request: t.Any, value: t.Any) -> None:
        request.__dict__[self.key] = value


class SocketRequestMixin:
    """Adds ``is_socket`` and ``socket`` to a request class.

    :meth:`SockReq.init_app <flask_sockreq.SockReq.init_app>` mixes it into
    the app's ``request_class``. An app that sets its own ``request_class``
    after ``init_app`` should inherit from this mixin.
    """

    environ: WSGIEnvironment

    #: The Socket.IO session id of a socket request, as Flask-SocketIO sets it
    #: in its event handlers, so that ``emit()``, ``join_room()`` and friends
    #: work in a view.
    sid = _SocketAttribute("sid", "id")
    #: The Socket.IO namespace of a socket request.
    namespace = _SocketAttribute("namespace", "namespace")

    @property
    def is_socket(self) -> bool:
        """True for a request that came over a Socket.IO connection.

        That is a request replayed by Flask-SockReq, and the context of a
        Flask-SocketIO event handler. False for a plain HTTP request.
        """
        return SOCKET_KEY in self.environ or "_sockreq_sid" in self.__dict__

    @property
    def socket(self) -> t.Any:
        """The connection the request came over.

        For a socket request, the :class:`~flask_sockreq.Socket`. For an HTTP
        request, the server's TCP socket of the connection (werkzeug's
        development server, eventlet, gevent, gunicorn), or None where the
        server does not expose it.
        """
        socket = self.environ.get(SOCKET_KEY)
        sid = self.__dict__.get("_sockreq_sid")
        if socket is not None and (sid is None or socket.id == sid):
            return socket
        if sid is not None:
            # A Flask-SocketIO event handler, on a namespace that has not
            # served a socket request: the environ is the handshake's.
            server = current_app.extensions["socketio"].server
            namespace = self.__dict__.get("_sockreq_namespace") or "/"
            return Socket(server, sid, namespace, self.environ)
        return tcp_socket(self.environ)


def tcp_socket(environ: WSGIEnvironment) -> t.Any:
    """Find the server's TCP socket for an HTTP request's environ."""
    # gunicorn first: engine.io puts a stand-in eventlet.input there.
    sock = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
    if sock is not None:
        return sock
    eventlet_input = environ.get("eventlet.input")
    if eventlet_input is not None and hasattr(eventlet_input, "get_socket"):
        return eventlet_input.get_socket()
    # gevent.pywsgi has no public key; its input wraps the socket's file.
    rfile = getattr(environ.get("wsgi.input"), "rfile", None)
    raw = getattr(rfile, "raw", None)
    return getattr(raw, "_sock", None)
