"""``request.is_socket`` and ``request.socket``, and their typed forms.

:meth:`SockReq.init_app <flask_sockreq.SockReq.init_app>` mixes
:class:`SocketRequestMixin` into the app's ``request_class``, so that every
request has ``is_socket`` and ``socket``. Type checkers see them through
:class:`Request` and the :data:`request` proxy, which is ``flask.request``
typed as that class, and through :func:`is_socket` and
:data:`current_socket`.
"""

from __future__ import annotations

import typing as t

import flask
from flask import current_app
from werkzeug.local import LocalProxy

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

    @t.overload
    def __get__(self, request: None, owner: type | None = None) -> _SocketAttribute: ...

    @t.overload
    def __get__(self, request: object, owner: type | None = None) -> str: ...

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

    def __set__(self, request: t.Any, value: str) -> None:
        request.__dict__[self.key] = value


class SocketRequestMixin:
    """Adds ``is_socket`` and ``socket`` to a request class.

    :meth:`SockReq.init_app <flask_sockreq.SockReq.init_app>` mixes it into
    the app's ``request_class``. An app that sets its own ``request_class``
    after ``init_app`` should inherit from this mixin, or from
    :class:`Request`.
    """

    environ: WSGIEnvironment

    #: The Socket.IO session id of a socket request, as Flask-SocketIO sets it
    #: in its event handlers, so that ``emit()``, ``join_room()`` and friends
    #: work in a view. An :exc:`AttributeError` for an HTTP request.
    sid = _SocketAttribute("sid", "id")
    #: The Socket.IO namespace of a socket request. An
    #: :exc:`AttributeError` for an HTTP request.
    namespace = _SocketAttribute("namespace", "namespace")

    @property
    def is_socket(self) -> bool:
        """True for a request that came over a Socket.IO connection.

        That is a request replayed by Flask-SockReq, and the context of a
        Flask-SocketIO event handler. False for a plain HTTP request.
        """
        return SOCKET_KEY in self.environ or "_sockreq_sid" in self.__dict__

    @property
    def socket(self) -> Socket | t.Any:
        """The connection the request came over.

        For a socket request, the :class:`~flask_sockreq.Socket`. For an HTTP
        request, the server's TCP socket of the connection (werkzeug's
        development server, eventlet, gevent, gunicorn), or None where the
        server does not expose it. :data:`~flask_sockreq.current_socket` is
        the :class:`~flask_sockreq.Socket` only.
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


class Request(SocketRequestMixin, flask.Request):
    """Flask's :class:`~flask.Request` with ``is_socket``, ``socket``,
    ``sid`` and ``namespace``: the request class of an app with
    :class:`~flask_sockreq.SockReq`, as type checkers should see it.

    An app may set it as its ``request_class`` (before or after ``init_app``),
    and a subclass of it may add more; ``init_app`` keeps any request class
    that has :class:`SocketRequestMixin`.
    """


#: The current request, typed as :class:`Request`: the very same proxy as
#: ``flask.request``, so ``request.is_socket`` and ``request.socket`` type
#: check. It needs an app with :class:`~flask_sockreq.SockReq` (or a request
#: class with :class:`SocketRequestMixin`).
request: Request = t.cast("Request", flask.request)


def is_socket() -> bool:
    """Whether the current request came over a socket:
    ``request.is_socket``, False for an app whose request class does not
    have it.

    :raise RuntimeError: Outside a request context, as ``flask.request``.
    """
    return bool(getattr(flask.request, "is_socket", False))


def _current_socket() -> Socket:
    if not is_socket():
        raise RuntimeError(
            "'current_socket' is only available in a request that came over a"
            " socket: check 'is_socket()' first, or use 'request.socket'."
        )
    socket: Socket = t.cast(Request, flask.request).socket
    return socket


#: The :class:`~flask_sockreq.Socket` of the current socket request (or
#: Flask-SocketIO event handler). A proxy, as ``flask.request`` is: using it
#: in an HTTP request raises :exc:`RuntimeError` (a proxy can never be
#: ``None``), so check :func:`is_socket` first.
current_socket: Socket = LocalProxy(_current_socket)  # type: ignore[assignment]


def tcp_socket(environ: WSGIEnvironment) -> t.Any:
    """Find the server's TCP socket for an HTTP request's environ."""
    # gunicorn first: engine.io puts a stand-in eventlet.input there.
    sock = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
    if sock is not None:
        return sock
    eventlet_input = environ.get("eventlet.input")
    if eventlet_input is not None and hasattr(eventlet_input, "get_socket"):
        return eventlet_input.get_socket()
    # gevent.pywsgi has no public key; its input wraps the socket's file
    # (directly, or through an rfile: as simple-websocket looks for it).
    wsgi_input = environ.get("wsgi.input")
    if not hasattr(wsgi_input, "raw"):
        wsgi_input = getattr(wsgi_input, "rfile", None)
    raw = getattr(wsgi_input, "raw", None)
    return getattr(raw, "_sock", None)
