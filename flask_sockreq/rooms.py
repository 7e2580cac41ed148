"""Rooms and broadcasts: the ``sails.sockets`` of Flask-SockReq.

The functions work in any view, HTTP or socket, and outside a request with
an app context (a background job, a CLI command). They find the Socket.IO
server through ``current_app`` and use the namespace of socket requests,
``SOCKREQ_NAMESPACE``, unless given one.

With a message queue (``SocketIO(message_queue=...)``) they reach every
server process: python-socketio shares emits, joins and leaves of sockets
connected elsewhere and closed rooms; Flask-SockReq shares the room-to-room
operations on its room bus (:mod:`flask_sockreq.bus`).
"""

from __future__ import annotations

import typing as t
from collections.abc import Iterable

from flask import current_app

from .bus import apply
from .bus import bus_for
from .sockets import JOINED
from .sockets import LEFT
from .sockets import note_rooms
from .sockets import Socket

if t.TYPE_CHECKING:  # pragma: no cover
    from .extension import SockReqState

#: A socket id, a :class:`~flask_sockreq.Socket`, or a request (for a socket
#: request, its socket; for an HTTP request, no socket).
SocketLike: t.TypeAlias = "str | Socket | t.Any"
#: One room name or several.
Rooms: t.TypeAlias = "str | Iterable[str]"


def socket_of(target: SocketLike) -> Socket | None:
    """The socket a request came over, None for an HTTP request.

    :param target: A request or a :class:`~flask_sockreq.Socket`.
    :raise TypeError: For anything else.
    """
    if isinstance(target, Socket):
        return target
    if hasattr(target, "environ"):
        request: t.Any = target
        return t.cast(Socket, request.socket) if request.is_socket else None
    raise TypeError(
        f"Expected a socket id, a Socket or a request, not {type(target).__name__!r}."
    )


def socket_id(target: SocketLike) -> str:
    """The socket id of a socket request, like ``sails.sockets.getId(req)``.

    :param target: A request, a :class:`~flask_sockreq.Socket` or an id.
    :raise RuntimeError: For an HTTP request.
    """
    if isinstance(target, str):
        return target
    socket = socket_of(target)
    if socket is None:
        raise RuntimeError(
            "This request came over HTTP and has no socket. Pass a socket id,"
            " or check 'request.is_socket' first."
        )
    return socket.id


def broadcast(
    rooms: Rooms,
    event: str,
    data: t.Any = None,
    *,
    skip: SocketLike | Iterable[SocketLike] | None = None,
    namespace: str | None = None,
) -> None:
    """Send ``event`` with ``data`` to every socket in ``rooms``, on every
    server process.

    A socket in several of the rooms gets the event once.

    :param rooms: A room name, or several.
    :param event: The event name.
    :param data: The event's argument, anything JSON can encode.
    :param skip: A socket to leave out, usually the sender: a socket id, a
        :class:`~flask_sockreq.Socket`, or a request (an HTTP request skips
        nothing), or a list of them.
    :param namespace: The namespace, by default ``SOCKREQ_NAMESPACE``.
    """
    to = _room_list(rooms, "rooms")
    if not to:
        return
    state = _state()
    _server(state).emit(
        event,
        data,
        to=to[0] if len(to) == 1 else to,
        skip_sid=_skip_sids(skip),
        namespace=namespace or state.namespace,
    )


def blast(
    event: str,
    data: t.Any = None,
    *,
    skip: SocketLike | Iterable[SocketLike] | None = None,
    namespace: str | None = None,
) -> None:
    """Send ``event`` with ``data`` to every connected socket of the
    namespace, on every server process.

    :param skip: As for :func:`broadcast`.
    :param namespace: The namespace, by default ``SOCKREQ_NAMESPACE``.
    """
    state = _state()
    _server(state).emit(
        event,
        data,
        skip_sid=_skip_sids(skip),
        namespace=namespace or state.namespace,
    )


def join(target: SocketLike, room: str, *, namespace: str | None = None) -> None:
    """Put a socket in ``room``, whichever process it is connected to.

    :param target: A socket id, a :class:`~flask_sockreq.Socket`, or a socket
        request.
    :param room: The room name.
    :param namespace: For a socket id, its namespace (by default
        ``SOCKREQ_NAMESPACE``).
    :raise RuntimeError: For an HTTP request, which has no socket.
    """
    _check_room(room, "room")
    server, sid, ns = _target(target, namespace)
    if _is_known(server, sid, ns):
        server.enter_room(sid, room, namespace=ns)
        note_rooms(sid, JOINED)


def leave(target: SocketLike, room: str, *, namespace: str | None = None) -> None:
    """Take a socket out of ``room``, whichever process it is connected to.

    The arguments are those of :func:`join`.

    :raise RuntimeError: For an HTTP request, which has no socket.
    """
    _check_room(room, "room")
    server, sid, ns = _target(target, namespace)
    if _is_known(server, sid, ns):
        server.leave_room(sid, room, namespace=ns)
        note_rooms(sid, LEFT)


def leave_all(room: str, *, namespace: str | None = None) -> None:
    """Take every socket out of ``room``, on every server process.

    :param namespace: The namespace, by default ``SOCKREQ_NAMESPACE``.
    """
    _check_room(room, "room")
    state = _state()
    _server(state).close_room(room, namespace=namespace or state.namespace)


def add_room_members_to_rooms(
    src: str, dests: Rooms, *, namespace: str | None = None
) -> None:
    """Put every socket in room ``src`` in each of ``dests`` as well, on
    every server process.

    Sockets that join ``src`` afterwards are not added.

    :param src: The room whose members to add, possibly a socket id.
    :param dests: A room name or several.
    :param namespace: The namespace, by default ``SOCKREQ_NAMESPACE``.
    """
    _room_to_rooms("add", src, dests, namespace)


def remove_room_members_from_rooms(
    src: str, dests: Rooms, *, namespace: str | None = None
) -> None:
    """Take every socket in room ``src`` out of each of ``dests``, on every
    server process.

    The arguments are those of :func:`add_room_members_to_rooms`.
    """
    _room_to_rooms("remove", src, dests, namespace)


class RoomsMixin:
    """The room and broadcast operations of :class:`~flask_sockreq.SockReq`:
    ``sockreq.broadcast(...)`` is :func:`flask_sockreq.broadcast`, and so on.

    They act on ``current_app``, so one :class:`~flask_sockreq.SockReq` may
    serve several apps.
    """

    socket_id = staticmethod(socket_id)
    broadcast = staticmethod(broadcast)
    blast = staticmethod(blast)
    join = staticmethod(join)
    leave = staticmethod(leave)
    leave_all = staticmethod(leave_all)
    add_room_members_to_rooms = staticmethod(add_room_members_to_rooms)
    remove_room_members_from_rooms = staticmethod(remove_room_members_from_rooms)


def _state() -> SockReqState:
    try:
        return t.cast("SockReqState", current_app.extensions["sockreq"])
    except KeyError:
        raise RuntimeError(
            "Flask-SockReq is not set up for this app. Call"
            " 'SockReq(app, socketio)' or 'sockreq.init_app(app)' first."
        ) from None


def _server(state: SockReqState) -> t.Any:
    server = state.socketio.server
    if server is None:
        raise RuntimeError(
            "The app's SocketIO has no server yet. Call 'socketio.init_app(app)'"
            " before using rooms."
        )
    return server


def _target(target: SocketLike, namespace: str | None) -> tuple[t.Any, str, str]:
    state = _state()
    if isinstance(target, str):
        return _server(state), target, namespace or state.namespace
    socket = socket_of(target)
    if socket is None:
        raise RuntimeError(
            "This request came over HTTP and has no socket to join to or take"
            " out of a room. Pass a socket id, or check 'request.is_socket'"
            " first."
        )
    return _server(state), socket.id, namespace or socket.namespace


def _is_known(server: t.Any, sid: str, namespace: str) -> bool:
    # With a message queue the socket may be connected to another process,
    # which the queue reaches; without one, an unknown id has no socket.
    if bus_for(server) is not None:
        return True
    manager = server.manager
    return bool(
        manager.is_connected(sid, namespace) or manager.is_pre_connected(sid, namespace)
    )


def _room_to_rooms(op: str, src: str, dests: Rooms, namespace: str | None) -> None:
    _check_room(src, "src")
    rooms = _room_list(dests, "dests")
    if not rooms:
        return
    state = _state()
    server = _server(state)
    ns = namespace or state.namespace
    apply(server, op, ns, src, rooms)
    bus = bus_for(server)
    if bus is not None:
        bus.publish(op, ns, src, rooms)


def _skip_sids(
    skip: SocketLike | Iterable[SocketLike] | None,
) -> str | list[str] | None:
    if skip is None or isinstance(skip, str):
        return skip
    if isinstance(skip, Socket) or hasattr(skip, "environ"):
        socket = socket_of(skip)
        return socket.id if socket is not None else None
    if isinstance(skip, Iterable):
        sids = [_skip_sids(item) for item in skip]
        return [sid for sid in sids if isinstance(sid, str)]
    raise TypeError(
        "'skip' must be a socket id, a Socket, a request or a list of them,"
        f" not {type(skip).__name__!r}."
    )


def _room_list(rooms: Rooms, name: str) -> list[str]:
    if isinstance(rooms, str):
        _check_room(rooms, name)
        return [rooms]
    if not isinstance(rooms, Iterable):
        raise TypeError(f"'{name}' must be a room name or a list of room names.")
    result = list(dict.fromkeys(rooms))
    for room in result:
        _check_room(room, name)
    return result


def _check_room(room: t.Any, name: str) -> None:
    if not isinstance(room, str) or not room:
        raise TypeError(f"'{name}' must be a non-empty room name string, not {room!r}.")
