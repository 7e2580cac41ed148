"""Streams: response bodies sent as they are produced, and request bodies of
any size, over the socket, with credit-based flow control and cancellation.

A client that asks for it (the request payload's ``stream`` member, see
:func:`flask_sockreq.protocol.parse_stream`) gets a streamed response as an
acknowledgement with the status and headers and ``"body": null, "stream":
{"id", "length"}``, then the body in ``sockreq:chunk`` events, then
``sockreq:end``. The server sends at most the credit the client granted
(``window`` in the request, more with ``sockreq:credit``), so a slow reader
never makes it buffer more than that. A request body of any size arrives as
``sockreq:chunk`` events with their offsets, within the credit the server
grants with ``sockreq:credit``, while the view reads it from
``request.stream``. ``sockreq:cancel`` from the client, or its disconnect,
stops both directions: the view's response iterable is closed (a
generator's ``finally`` runs), a view reading the body gets
``ClientDisconnected``, and its answer is dropped.

One :class:`Streams` per connection, made at its first stream, holds the
streams in flight. Everything here waits with the server's own primitives
(``create_event``, ``start_background_task``), so it works in the threading,
eventlet and gevent modes alike.
"""

from __future__ import annotations

import io
import logging
import threading
import time
import typing as t

from werkzeug.exceptions import ClientDisconnected

from . import sends

if t.TYPE_CHECKING:  # pragma: no cover
    from .connection import Connection

logger = logging.getLogger("flask_sockreq")

#: The events of the stream frames, on the requests' namespace.
CHUNK = "sockreq:chunk"
CREDIT = "sockreq:credit"
END = "sockreq:end"
ERROR = "sockreq:error"
CANCEL = "sockreq:cancel"
#: The event the server sends each socket when it connects: the limits.
HELLO = "sockreq:hello"
#: The version of the stream frames this server speaks.
VERSION = 1
#: How long a response's small pieces may wait for more, in seconds, to go
#: in one frame.
HOLD = 0.002


class StreamLimits(t.NamedTuple):
    """The ``SOCKREQ_STREAM_*`` settings."""

    chunk_size: int
    window: int
    max_streams: int
    idle_timeout: float


class Cancelled(Exception):
    """The stream was cancelled by its client, or the client went away."""


class Stream:
    """What download and upload streams share: an id, a connection, a wake-up
    event and a cancelled flag."""

    def __init__(self, streams: Streams, stream_id: str) -> None:
        self.streams = streams
        self.id = stream_id
        self.event = streams.server.eio.create_event()
        self.cancelled: str | None = None
        self.lock = threading.Lock()

    def cancel(self, reason: str) -> None:
        """Stop the stream at its next step. It no longer counts against
        the socket's streams."""
        self.cancelled = reason
        self.event.set()
        self.streams.remove(self)

    def wait(self, ready: t.Callable[[], bool]) -> None:
        """Wait until ``ready()``, the stream is cancelled or it has been idle
        for the idle timeout.

        :raise Cancelled: If it was cancelled or timed out.
        """
        timeout = self.streams.limits.idle_timeout
        deadline = time.monotonic() + timeout
        while not ready():
            if self.cancelled:
                raise Cancelled(self.cancelled)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.cancelled = "idle"
                raise Cancelled(
                    f"The stream was idle for {timeout:g} seconds, past"
                    " SOCKREQ_STREAM_IDLE_TIMEOUT."
                )
            self.event.wait(remaining)
            with self.lock:
                if not ready() and not self.cancelled:
                    self.event.clear()
        if self.cancelled:
            raise Cancelled(self.cancelled)

    def emit(self, event: str, *args: t.Any) -> None:
        self.streams.emit(event, self.id, *args)


class Download(Stream):
    """A response body pumped to the client within its credit. It is in
    flight from its request on, before the view has returned: see
    :meth:`body`.

    The view's pieces are sent as frames of at most a chunk. A piece that
    comes after a pause goes at once; pieces that come in quick succession
    (a CSV export written a line at a time) are gathered for up to
    :data:`HOLD` seconds, or a chunk, into one frame, as Nagle's algorithm
    gathers small writes.

    :param window: The credit the client granted in its request.
    """

    def __init__(self, streams: Streams, stream_id: str, window: int) -> None:
        super().__init__(streams, stream_id)
        self.first = b""
        self.app_iter: t.Iterable[bytes] = ()
        self.credit = window
        self.task: t.Any = None
        self.in_app = False
        #: Body bytes taken from the view and not sent yet.
        self.pending = bytearray()
        self._sent_at = 0.0
        self._armed = False

    def body(self, first: bytes, app_iter: t.Iterable[bytes]) -> None:
        """The body to send: its first piece, and the rest (closed when the
        stream ends in any way)."""
        self.first = first
        self.app_iter = app_iter

    def grant(self, size: int) -> None:
        with self.lock:
            self.credit += size
            self._send(1)
            self.event.set()

    def cancel(self, reason: str) -> None:
        super().cancel(reason)
        if self.in_app:
            # Blocked inside the view's generator (a slow or endless stream):
            # under eventlet and gevent, end the wait with GreenletExit, which
            # runs the generator's finally. Threads cannot be interrupted: the
            # generator is closed after its next piece.
            _kill(self.task)

    def pump(self) -> None:
        """Send the body within the client's credit, in the task that ran the
        view: a generator must take all its steps in the context it started
        in."""
        self.task = _current_task()
        self._pump()

    def _send(self, minimum: int) -> None:
        """With the lock held: send what is pending, in frames of at most a
        chunk and within the credit, while at least ``minimum`` bytes are."""
        if self.cancelled:
            return
        chunk = self.streams.limits.chunk_size
        pending = self.pending
        while pending and len(pending) >= minimum and self.credit > 0:
            size = min(len(pending), self.credit, chunk)
            data = bytes(pending[:size])
            del pending[:size]
            self.credit -= size
            self.emit(CHUNK, data)
            self._sent_at = time.monotonic()

    def _send_later(self) -> None:
        self.streams.server.sleep(HOLD)
        with self.lock:
            self._armed = False
            self._send(1)

    def _pump(self) -> None:
        chunk = self.streams.limits.chunk_size
        try:
            self.pending += self.first
            self.first = b""
            iterator = iter(self.app_iter)
            while True:
                with self.lock:
                    if time.monotonic() - self._sent_at > HOLD:
                        self._send(1)  # after a pause: at once
                    else:
                        self._send(chunk)
                    if self.pending and not self._armed:
                        self._armed = True
                        self.streams.server.start_background_task(self._send_later)
                # Take no more from the view while a chunk waits for credit.
                self.wait(lambda: len(self.pending) < chunk)
                self.in_app = True
                try:
                    piece = next(iterator)
                except StopIteration:
                    break
                finally:
                    self.in_app = False
                with self.lock:
                    self.pending += piece
            while True:
                with self.lock:
                    self._send(1)
                    done = not self.pending
                if done:
                    break
                # grant() may send the rest itself.
                self.wait(lambda: self.credit > 0 or not self.pending)
            # Out of the socket's streams before the client hears the end, so
            # that it may start another at once.
            self.streams.remove(self)
            self.emit(END)
        except Cancelled as exc:
            if self.cancelled == "idle":
                self.emit(ERROR, {"error": "timeout", "message": str(exc)})
        except BaseException as exc:  # GreenletExit from cancel() included
            if not self.cancelled:
                logger.exception("The streamed response %s failed.", self.id)
                self.emit(
                    ERROR,
                    {"error": "stream_failed", "message": "The response failed."},
                )
            if not isinstance(exc, Exception):
                raise
        finally:
            self.in_app = False
            self.close()

    def close(self) -> None:
        close = getattr(self.app_iter, "close", None)
        try:
            if close is not None:
                close()
        except Exception:
            logger.exception("Closing the streamed response %s failed.", self.id)
        finally:
            self.streams.remove(self)


class Upload(Stream, io.RawIOBase):
    """A request body arriving in chunks: the view's ``wsgi.input``.

    Chunks come with their offset and may arrive out of order (the server
    handles events of one socket concurrently); they are put in order here.
    The server grants credit as the view reads, so at most the window is
    held in memory.

    :param length: The declared length, or None.
    :param window: The credit granted at the start.
    """

    def __init__(
        self, streams: Streams, stream_id: str, length: int | None, window: int
    ) -> None:
        Stream.__init__(self, streams, stream_id)
        io.RawIOBase.__init__(self)
        self.length = length
        self.window = window
        #: Bytes received in order, and granted so far.
        self.received = 0
        self.granted = 0
        self.consumed = 0
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._early: dict[int, bytes] = {}
        self.ended = False
        self.on_end: t.Callable[[], None] | None = None

    def open(self, initial: int) -> None:
        """Grant the first credit (none for a body that cannot be read)."""
        self._grant(initial)

    def _grant(self, size: int) -> None:
        if size > 0 and not self.cancelled:
            self.granted += size
            self.emit(CREDIT, size)

    def feed(self, offset: t.Any, data: t.Any) -> None:
        """A ``sockreq:chunk`` from the client."""
        if type(offset) is not int or not isinstance(data, (bytes, bytearray)):
            self._fail("A sockreq:chunk needs an integer offset and binary data.")
            return
        with self.lock:
            if self.cancelled or self.ended:
                return
            end = offset + len(data)
            if offset < self.received or end > self.granted:
                problem = (
                    "overlaps data already received"
                    if offset < self.received
                    else f"goes past the {self.granted} bytes granted"
                )
                self._fail(f"The chunk at offset {offset} {problem}.")
                return
            if self.length is not None and end > self.length:
                self._fail(
                    f"The chunk at offset {offset} goes past the declared"
                    f" length of {self.length} bytes."
                )
                return
            self._early[offset] = bytes(data)
            while self.received in self._early:
                piece = self._early.pop(self.received)
                self.received += len(piece)
                if piece:
                    self._chunks.append(piece)
                    self._buffered += len(piece)
            self._check_end()
            self.event.set()

    def end(self, length: t.Any) -> None:
        """A ``sockreq:end`` from the client: the body has ``length`` bytes."""
        if type(length) is not int or length < 0:
            self._fail("A sockreq:end needs the body's length in bytes.")
            return
        with self.lock:
            if self.length is not None and length != self.length:
                self._fail(
                    f"The body ended at {length} bytes, not the {self.length} declared."
                )
                return
            self.length = length
            self._check_end()
            self.event.set()

    def _check_end(self) -> None:
        if self.length is not None and self.received >= self.length and not self.ended:
            self.ended = True
            if self.on_end is not None:
                self.on_end()

    def _fail(self, message: str) -> None:
        logger.info("Upload %s stopped: %s", self.id, message)
        self.emit(ERROR, {"error": "invalid_stream", "message": message})
        self.cancel(message)

    # -- io.RawIOBase: what the view reads ------------------------------------

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: t.Any) -> int:
        size = len(buffer)
        if not size:
            return 0
        self.wait(lambda: bool(self._chunks) or self.ended)
        with self.lock:
            if not self._chunks:
                return 0  # the end of the body
            piece = self._chunks[0]
            if len(piece) <= size:
                self._chunks.pop(0)
            else:
                self._chunks[0] = piece[size:]
                piece = piece[:size]
            self._buffered -= len(piece)
            self.consumed += len(piece)
            more = self._refill()
        buffer[: len(piece)] = piece
        self._grant(more)
        return len(piece)

    def wait(self, ready: t.Callable[[], bool]) -> None:
        try:
            super().wait(ready)
        except Cancelled:
            raise ClientDisconnected(
                description=f"The upload stopped: {self.cancelled}"
            ) from None

    def _refill(self) -> int:
        # Keep up to a window of body granted ahead of what the view read.
        limit = self.consumed + self.window
        if self.length is not None:
            limit = min(limit, self.length)
        ahead = limit - self.granted
        # Grant in steps of at least half the window, not per read.
        return ahead if ahead >= self.window // 2 or limit == self.length else 0

    def close(self) -> None:
        io.RawIOBase.close(self)


class Streams:
    """The streams of one connection.

    :param conn: The connection.
    :param server: The python-socketio server.
    :param limits: The stream settings.
    """

    def __init__(self, conn: Connection, server: t.Any, limits: StreamLimits) -> None:
        self.conn = conn
        self.server = server
        self.limits = limits
        self.active: dict[str, Stream] = {}

    def add(self, stream: Stream) -> None:
        self.active[stream.id] = stream

    def remove(self, stream: Stream) -> None:
        if self.active.get(stream.id) is stream:
            del self.active[stream.id]

    def emit(self, event: str, *args: t.Any) -> None:
        # One packet (a chunk is two messages, sent together), to a socket
        # connected to this process.
        socket = self.conn.socket
        sends.send(
            self.server, socket.id, socket.namespace, sends.EVENT, data=[event, *args]
        )

    def cancel_all(self, reason: str) -> None:
        for stream in list(self.active.values()):
            stream.cancel(reason)


def _current_task() -> t.Any:
    """The current greenlet under eventlet or gevent, to kill it on cancel;
    None in a thread."""
    try:
        import greenlet
    except ImportError:  # pragma: no cover - the threading mode needs none
        return None
    current = greenlet.getcurrent()
    return current if current.parent is not None else None


def _kill(task: t.Any) -> None:
    kill = getattr(task, "kill", None)
    if kill is None or getattr(task, "dead", True):
        return
    try:
        kill(block=False)  # gevent's Greenlet
    except TypeError:
        kill()  # eventlet's GreenThread


class FrameHandler:
    """The python-socketio handler of one client stream frame event
    (``sockreq:chunk``, ``sockreq:end``, ``sockreq:credit``,
    ``sockreq:cancel``). A frame for an unknown or finished stream is
    ignored, as it may have crossed the stream's end on the wire.

    :param socketio: The Flask-SocketIO instance.
    :param event: The event.
    :param namespace: The namespace.
    """

    __slots__ = ("socketio", "event", "namespace")

    def __init__(self, socketio: t.Any, event: str, namespace: str) -> None:
        self.socketio = socketio
        self.event = event
        self.namespace = namespace

    def __call__(self, sid: str, stream_id: t.Any = None, *args: t.Any) -> None:
        from .connection import CONNECTION_KEY

        handshake = self.socketio.server.get_environ(sid, namespace=self.namespace)
        conn = handshake.get(CONNECTION_KEY) if handshake is not None else None
        streams = conn.streams if conn is not None else None
        if streams is None:
            return
        if isinstance(stream_id, int) and not isinstance(stream_id, bool):
            stream_id = str(stream_id)
        stream = streams.active.get(stream_id) if isinstance(stream_id, str) else None
        if stream is None:
            logger.debug(
                "Ignored %s for no stream %r of %s.", self.event, stream_id, sid
            )
            return
        event = self.event
        if event == CANCEL:
            stream.cancel("cancelled by the client")
        elif isinstance(stream, Upload) and event == CHUNK:
            stream.feed(*args[:2]) if len(args) >= 2 else stream.feed(None, None)
        elif isinstance(stream, Upload) and event == END:
            stream.end(args[0] if args else None)
        elif isinstance(stream, Download) and event == CREDIT:
            size = args[0] if args else None
            if type(size) is int and size > 0:
                stream.grant(size)
            else:
                logger.debug("Ignored a credit of %r for %r.", size, stream_id)
        else:
            logger.debug(
                "Ignored %s for the %s %r.", event, type(stream).__name__, stream_id
            )


#: The client's frame events.
CLIENT_FRAMES = (CHUNK, END, CREDIT, CANCEL)


def hello(state: t.Any) -> dict[str, t.Any]:
    """What the server tells each socket when it connects (``sockreq:hello``):
    the version of the protocol and its limits."""
    limits = state.stream_limits
    return {
        "v": VERSION,
        "maxInflight": state.max_inflight,
        "streams": {
            "v": VERSION,
            "chunkSize": limits.chunk_size,
            "window": limits.window,
            "maxStreams": limits.max_streams,
            "idleTimeout": limits.idle_timeout,
        },
    }
