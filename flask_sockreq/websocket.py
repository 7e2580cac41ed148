"""A cheaper WebSocket reader for Engine.IO under eventlet.

Under eventlet, Engine.IO serves WebSockets with eventlet's own
implementation, which unmasks every frame a client sends one byte at a time
in Python (a ``bytes`` object per byte: about 10 ms for a 64 KB request body)
and reads each frame with three or more ``recv`` calls (header, mask,
payload).

:func:`install` gives one python-socketio server's Engine.IO a WebSocket class
of its own (the server's copy of its driver table, not eventlet's or
Engine.IO's module) whose sockets unmask a frame with one integer XOR and read
from the connection in blocks of up to 64 KiB. Nothing else changes: frames,
limits and closing are eventlet's. It applies only where it recognises
eventlet's WebSocket class as it knows it; elsewhere (threading and gevent
modes, which use simple-websocket, or another eventlet) it does nothing.
"""

from __future__ import annotations

import functools
import typing as t

from . import capacity

_BLOCK = 65536


def install(server: t.Any) -> bool:
    """Make the Engine.IO server of ``server`` (a python-socketio server) use
    the cheaper reader, if it runs on eventlet.

    :return: Whether it was installed (now or before).
    """
    eio = getattr(server, "eio", server)
    if getattr(eio, "async_mode", None) != "eventlet":
        return False
    table = getattr(eio, "_async", None)
    if not isinstance(table, dict) or "websocket" not in table:
        return False
    base = table["websocket"]
    if getattr(base, "sockreq_reader", False):
        return True
    try:
        from eventlet.websocket import RFC6455WebSocket
    except ImportError:  # pragma: no cover - eventlet mode without eventlet
        return False
    if not callable(getattr(RFC6455WebSocket, "_apply_mask", None)):
        return False  # an eventlet this module does not know

    class SockReqWebSocketWSGI(base):  # type: ignore[valid-type, misc]
        sockreq_reader = True

        def __init__(self, handler: t.Callable[[t.Any], t.Any], *args: t.Any) -> None:
            super().__init__(functools.partial(_serve, handler), *args)
            # Made in the connection's own green thread: the one place that
            # knows the server's pool.
            capacity.check_eventlet_pool()

    # A copy of the driver table for this server only.
    eio._async = {**table, "websocket": SockReqWebSocketWSGI}
    return True


def _serve(handler: t.Callable[[t.Any], t.Any], ws: t.Any) -> t.Any:
    from eventlet.websocket import RFC6455WebSocket

    if type(ws) is RFC6455WebSocket:
        # Instance attributes, shadowing the class's for this socket only.
        ws._apply_mask = unmask
        ws.socket = BufferedSocket(ws.socket)
    return handler(ws)


def unmask(
    data: bytes, mask: t.Sequence[int], length: int | None = None, offset: int = 0
) -> bytes:
    """XOR ``data`` with the 4-byte ``mask``, starting ``offset`` bytes into
    the frame (the signature of eventlet's ``_apply_mask``)."""
    if length is None:
        length = len(data)
    if not length:
        return b""
    key = bytes(mask)
    shift = offset % 4
    if shift:
        key = key[shift:] + key[:shift]
    key = (key * (length // 4 + 1))[:length]
    return (
        int.from_bytes(data[:length], "little") ^ int.from_bytes(key, "little")
    ).to_bytes(length, "little")


class BufferedSocket:
    """A socket whose ``recv`` reads blocks of up to 64 KiB and serves the
    small reads of a frame header from them; everything else is the
    socket's own."""

    __slots__ = ("_sock", "_buffer", "_pos")

    def __init__(self, sock: t.Any) -> None:
        self._sock = sock
        self._buffer = b""
        self._pos = 0

    def recv(self, size: int) -> bytes:
        buffer = self._buffer
        pos = self._pos
        if pos == len(buffer):
            data: bytes = self._sock.recv(max(size, _BLOCK))
            if len(data) <= size:
                return data
            self._buffer = data
            self._pos = size
            return data[:size]
        end = pos + size
        if end >= len(buffer):
            self._buffer = b""
            self._pos = 0
            return buffer[pos:] if pos else buffer
        self._pos = end
        return buffer[pos:end]

    def sendall(self, data: bytes) -> None:
        self._sock.sendall(data)

    def __getattr__(self, name: str) -> t.Any:
        return getattr(self._sock, name)
