"""Flask-SockReq: serve one Flask API over HTTP and over Socket.IO."""

from __future__ import annotations

from .exposure import exclude
from .exposure import expose
from .extension import SockReq
from .extension import SockReqState
from .protocol import METHODS
from .protocol import ProtocolError
from .request import SocketRequestMixin
from .sockets import Socket

__version__ = "0.1.0.dev0"

__all__ = [
    "METHODS",
    "ProtocolError",
    "SockReq",
    "SockReqState",
    "Socket",
    "SocketRequestMixin",
    "exclude",
    "expose",
]
