"""Flask-SockReq: serve one Flask API over HTTP and over Socket.IO."""

from __future__ import annotations

from .exposure import exclude
from .exposure import expose
from .extension import SockReq
from .extension import SockReqState
from .protocol import METHODS
from .protocol import ProtocolError
from .resources import publish
from .resources import publish_created
from .resources import publish_destroyed
from .resources import publish_updated
from .resources import record_room
from .resources import subscribe
from .resources import unsubscribe
from .resources import unwatch
from .resources import watch
from .resources import watch_room
from .rooms import add_room_members_to_rooms
from .rooms import blast
from .rooms import broadcast
from .rooms import join
from .rooms import leave
from .rooms import leave_all
from .rooms import remove_room_members_from_rooms
from .rooms import socket_id
from .sockets import Socket
from .wrappers import current_socket
from .wrappers import is_socket
from .wrappers import Request
from .wrappers import request
from .wrappers import SocketRequestMixin

__version__ = "0.1.0.dev0"

__all__ = [
    "METHODS",
    "ProtocolError",
    "Request",
    "SockReq",
    "SockReqState",
    "Socket",
    "SocketRequestMixin",
    "add_room_members_to_rooms",
    "blast",
    "broadcast",
    "current_socket",
    "exclude",
    "expose",
    "is_socket",
    "join",
    "leave",
    "leave_all",
    "publish",
    "publish_created",
    "publish_destroyed",
    "publish_updated",
    "record_room",
    "remove_room_members_from_rooms",
    "request",
    "socket_id",
    "subscribe",
    "unsubscribe",
    "unwatch",
    "watch",
    "watch_room",
]
