"""Engine.IO's WebSockets, made cheaper and safer, per server.

Under eventlet, Engine.IO serves WebSockets with eventlet's own
implementation, which unmasks every frame a client sends one byte at a time
in Python (a ``bytes`` object per byte: about 10 ms for a 64 KB request body)
and reads each frame with three or more ``recv`` calls (header, mask,
payload). Its sockets here unmask a frame with one integer XOR and read from
the connection in blocks of up to 64 KiB.

Under gevent and threading, Engine.IO serves them with simple-websocket,
which writes a frame with one ``send`` and ignores how much of it went: under
back-pressure (a large body to a slow reader) a gevent socket sends part of
the frame, and the connection is corrupt (simple-websocket issue #45). Its
sockets here send whole frames, one at a time. Under gevent's own server
simple-websocket also works on a duplicate of the connection's socket, a
second file descriptor for every WebSocket; here it works on the server's
own, and the duplicate is closed at once.

:func:`install` gives one python-socketio server's Engine.IO a WebSocket class
of its own (the server's copy of its driver table, not eventlet's, Engine.IO's
or simple-websocket's module) that does this to each new socket. Nothing else
changes: frames, limits and closing are the libraries'. It applies only where
it recognises the socket classes as it knows them.
"""

from __future__ import annotations

import functools
import socket
import threading
import typing as t

from . import capacity

_BLOCK = 65536
#: Seconds a client has to answer the server's close frame.
CLOSE_TIMEOUT = 5.0


def install(server: t.Any) -> bool:
    """Give the Engine.IO server of ``server`` (a python-socketio server) the
    WebSocket class of this module.

    :return: Whether it was installed (now or before).
    """
    eio = getattr(server, "eio", server)
    mode: str = getattr(eio, "async_mode", None) or ""
    if mode not in ("eventlet", "gevent", "threading"):
        return False
    table = getattr(eio, "_async", None)
    if not isinstance(table, dict) or not table.get("websocket"):
        return False
    base = table["websocket"]
    if getattr(base, "sockreq_websocket", False):
        return True

    class SockReqWebSocketWSGI(base):  # type: ignore[valid-type, misc]
        sockreq_websocket = True
        _sockreq_closer: _Closer | None = None

        def __init__(self, handler: t.Callable[[t.Any], t.Any], *args: t.Any) -> None:
            super().__init__(functools.partial(_serve, handler, mode, eio), *args)
            if mode == "eventlet":
                # Made in the connection's own green thread: the one place
                # that knows the server's pool.
                capacity.check_eventlet_pool()

        def close(self) -> None:
            # simple-websocket's (gevent, threading): the server ends it.
            super().close()
            sock = getattr(getattr(self, "ws", None), "sock", None)
            if self._sockreq_closer is None and sock is not None:
                self._sockreq_closer = _Closer(eio, sock)

    # A copy of the driver table for this server only.
    eio._async = {**table, "websocket": SockReqWebSocketWSGI}
    return True


def _serve(
    handler: t.Callable[[t.Any], t.Any], mode: str, eio: t.Any, ws: t.Any
) -> t.Any:
    reader: t.Any = None
    borrowed = False
    if mode == "eventlet":
        fast = _fast_websocket_class()
        if fast is not None and ws.__class__ is fast.__base__:
            # This socket only becomes one of a subclass that unmasks with
            # one XOR (a class, not an instance attribute, which would grow
            # every socket's __dict__), reading through a buffer.
            ws.__class__ = fast
            ws.socket = BufferedSocket(ws.socket)  # type: ignore[attr-defined]
    else:
        inner: t.Any = getattr(ws, "ws", None)  # Engine.IO's simple-websocket
        sock = getattr(inner, "sock", None)
        if sock is not None and hasattr(sock, "send"):
            if getattr(inner, "mode", None) == "gevent":
                own = _gevent_socket(getattr(inner, "environ", None))
                if own is not None and own is not sock:
                    # simple-websocket's reader has not run yet (gevent
                    # switches only when this greenlet blocks).
                    sock.close()
                    sock, borrowed = own, True
            inner.sock = WholeFrameSocket(sock, _lock(mode), borrowed)
            reader = getattr(inner, "thread", None)
    try:
        return handler(ws)
    finally:
        closer: _Closer | None = getattr(ws, "_sockreq_closer", None)
        if closer is not None:
            closer.done = True
        if borrowed or (reader is not None and _running(reader)):
            # simple-websocket's reader may still wait on the socket, which
            # the server reads next (or closes): wake it first.
            _shutdown(inner.sock)
            if reader is not None:
                reader.join(CLOSE_TIMEOUT)
        if borrowed:
            _end_requests(inner.environ)


class _Closer:
    """Ends a WebSocket the server has closed if its client does not: after
    the close frame the reader waits for the client's own, which a vanished
    peer never sends, holding its descriptor for good. ``CLOSE_TIMEOUT``
    seconds later the connection is shut down, which wakes the reader.

    Made when the server closes the socket, not before: nothing per open
    socket."""

    __slots__ = ("_sock", "done")

    def __init__(self, tasks: t.Any, sock: t.Any) -> None:
        self._sock = sock
        self.done = False
        tasks.start_background_task(self._expire, tasks)

    def _expire(self, tasks: t.Any) -> None:
        tasks.sleep(CLOSE_TIMEOUT)
        if not self.done:
            _shutdown(self._sock)


def _running(thread: t.Any) -> bool:
    """Whether a thread, or a greenlet (Engine.IO's gevent threads), runs."""
    alive = getattr(thread, "is_alive", None)
    return bool(alive()) if alive is not None else not thread.dead


def _shutdown(sock: t.Any) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # closed already, or the peer went first


class _EventletTasks:
    """The two calls of an Engine.IO server a :class:`_Closer` makes, for an
    eventlet socket, which knows no server."""

    @staticmethod
    def start_background_task(target: t.Callable[..., t.Any], *args: t.Any) -> None:
        import eventlet

        eventlet.spawn_n(target, *args)

    @staticmethod
    def sleep(seconds: float) -> None:
        import eventlet

        eventlet.sleep(seconds)


def _gevent_rfile(environ: t.Any) -> t.Any:
    """The connection's buffered reader in a request of gevent's WSGI server
    (``wsgi.input`` itself for a request without a body), or None."""
    if not isinstance(environ, dict):
        return None
    stream: t.Any = environ.get("wsgi.input")
    rfile = stream if hasattr(stream, "raw") else getattr(stream, "rfile", None)
    return rfile if hasattr(rfile, "raw") else None


def _gevent_socket(environ: t.Any) -> t.Any:
    """The connection's socket in a request of gevent's WSGI server, found
    where simple-websocket finds it before it makes a duplicate."""
    sock = getattr(getattr(_gevent_rfile(environ), "raw", None), "_sock", None)
    return sock if hasattr(sock, "sendall") and hasattr(sock, "shutdown") else None


def _end_requests(environ: t.Any) -> None:
    """Have gevent's server close the connection after this request: it
    would read the frames left on its socket as the next HTTP request."""
    rfile = _gevent_rfile(environ)
    if rfile is not None:
        try:
            rfile.close()
        except OSError:
            pass


@functools.cache
def _fast_websocket_class() -> type | None:
    from eventlet.websocket import RFC6455WebSocket

    if not callable(getattr(RFC6455WebSocket, "_apply_mask", None)):
        return None  # an eventlet this module does not know

    def close(self: t.Any, close_data: t.Any = None) -> None:
        # The server ends it (Engine.IO's writer): see _Closer.
        RFC6455WebSocket.close(self, close_data)
        if self._sockreq_closer is None:
            self._sockreq_closer = _Closer(_EventletTasks, self.socket)

    return type(
        "SockReqRFC6455WebSocket",
        (RFC6455WebSocket,),
        {
            "_apply_mask": staticmethod(unmask),
            "close": close,
            "_sockreq_closer": None,
            "__module__": __name__,
        },
    )


def _lock(mode: str) -> t.Any:
    if mode == "gevent":
        # Engine.IO's gevent driver runs simple-websocket on gevent's own
        # primitives, without monkey-patching: a lock of the same kind.
        import gevent.lock

        return gevent.lock.Semaphore()
    return threading.Lock()


class WholeFrameSocket:
    """A socket whose ``send`` sends all it is given, one caller at a time:
    a frame is never cut, nor interleaved with another writer's.

    A ``borrowed`` socket belongs to the server, which closes it once the
    WebSocket's request is over: ``close`` only shuts the connection down,
    which ends the WebSocket and wakes its reader.
    """

    __slots__ = ("_sock", "_lock", "_borrowed")

    def __init__(self, sock: t.Any, lock: t.Any, borrowed: bool = False) -> None:
        self._sock = sock
        self._lock = lock
        self._borrowed = borrowed

    def close(self) -> None:
        if self._borrowed:
            _shutdown(self._sock)
        else:
            self._sock.close()

    def send(self, data: bytes) -> int:
        with self._lock:
            self._sock.sendall(data)
        return len(data)

    def sendall(self, data: bytes) -> None:
        with self._lock:
            self._sock.sendall(data)

    def recv(self, size: int) -> bytes:
        return t.cast(bytes, self._sock.recv(size))

    def __getattr__(self, name: str) -> t.Any:
        return getattr(self._sock, name)


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
