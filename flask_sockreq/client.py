"""Python clients for Flask-SockReq servers.

.. code-block:: python

    from flask_sockreq.client import Client

    with Client("http://127.0.0.1:5000") as client:
        response = client.post("/todos", json={"title": "milk"})
        assert response.status_code == 201
        print(response.get_json())

Requests take the arguments of Flask's test client and return a
:class:`ClientResponse`, a :class:`werkzeug.wrappers.Response`. It runs on
python-socketio's client: install ``Flask-SockReq[client]``.

Bodies of any size go both ways as streams (the protocol's stream frames):
``buffered=False`` gives a response whose body iterates as it arrives, and a
file object, an iterator of bytes or a large form as ``data=`` is uploaded
in chunks. The client keeps no more requests and streams in flight than the
server's ``sockreq:hello`` allows, and after a reconnection it replays the
requests that put the socket in rooms.

:class:`AsyncClient` is the same for asyncio (``Flask-SockReq[asyncio]``)::

    async with AsyncClient("http://127.0.0.1:5000") as client:
        response = await client.get("/todos")
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import importlib.util
import io
import itertools
import logging
import threading
import time
import typing as t

from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Response

from .payload import build_upload_request
from .payload import Request
from .payload import response_parts
from .payload import UploadBody
from .streams import CANCEL
from .streams import CHUNK
from .streams import CREDIT
from .streams import END
from .streams import ERROR
from .streams import HELLO

if t.TYPE_CHECKING:  # pragma: no cover
    import socketio

logger = logging.getLogger("flask_sockreq")

#: Progress callbacks take the bytes done so far and the total (None when
#: unknown).
ProgressCallback = t.Callable[[int, "int | None"], None]

# How long connect() waits for the server's sockreq:hello, which a
# Flask-SockReq server sends right after the connection: without it the
# client assumes the protocol's defaults.
_HELLO_WAIT = 1.0
# The connection's own events, which the clients handle first.
_LIFECYCLE = ("connect", "disconnect")
# A request refused at the server's limit is sent again after this delay,
# doubled up to the maximum, until the request's timeout.
_RETRY_DELAY = 0.01
_RETRY_DELAY_MAX = 0.25


class ClientError(Exception):
    """Base class of the errors of :class:`Client`."""


class TransportError(ClientError):
    """A request got no answer, or its streamed body broke off: the client
    is not connected, the connection dropped while the request was in
    flight, the server stopped the stream, or nothing came in time.

    :param code: ``"not_connected"``, ``"disconnected"``, ``"timeout"`` or
        ``"stream_failed"``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class ClientResponse(Response):
    """A response received over the socket: ``status_code``, ``headers``,
    ``data``, ``text``, ``get_json()`` and ``json`` as a werkzeug response,
    and ``jwr``, the acknowledgement as received.

    A streamed response (``buffered=False``) holds an iterator as
    ``response`` (``is_streamed`` is true): ``iter_encoded()``, iterating
    ``response.response`` or reading :attr:`stream` take the body as it
    arrives, and reading ``data`` or ``get_data()`` waits for all of it.
    :meth:`close` before the end cancels the stream; use the response as a
    context manager to close it.
    """

    #: The JWR ``{"body", "headers", "statusCode"}`` as received.
    jwr: dict[str, t.Any]

    @property
    def text(self) -> str:
        """The body as text, decoded with the response's charset."""
        return self.get_data(as_text=True)

    @property
    def stream(self) -> t.BinaryIO:  # type: ignore[override]
        """The body as a readable binary file, read as it arrives. (A
        received response cannot be written to: werkzeug's output stream
        makes no sense here.)"""
        reader = self.__dict__.get("_sockreq_reader")
        if reader is None:
            raw = _IteratorReader(self.iter_encoded(), self.close)
            reader = self.__dict__["_sockreq_reader"] = io.BufferedReader(raw)
        return t.cast(t.BinaryIO, reader)


class AsyncClientResponse(ClientResponse):
    """A streamed response of :class:`AsyncClient` (``buffered=False``): its
    body arrives as ``async for chunk in response``, or all of it with
    ``await response.aread()``, after which ``data``, ``text`` and
    ``get_json()`` work as for any response. ``await response.aclose()``
    (or ``async with response:``) before the end cancels the stream.
    """

    _body: _AsyncStreamedBody

    def __aiter__(self) -> t.AsyncIterator[bytes]:
        return self._body

    @property
    def is_streamed(self) -> bool:
        """Whether the body is still a stream, not yet read."""
        return self._body.pieces is not None

    async def aread(self) -> bytes:
        """Wait for the rest of the body and return all of it.

        :raise TransportError: If the stream breaks off.
        """
        if self._body.pieces is None:
            return t.cast(bytes, self.get_data())
        async for _ in self._body:
            pass
        data = b"".join(self._body.pieces)
        self._body.pieces = None
        self.response = [data]
        return data

    async def aclose(self) -> None:
        """Cancel the stream if it has not ended."""
        await self._body.aclose()

    def close(self) -> None:
        """Cancel the stream if it has not ended (in the background)."""
        self._body.close_soon()
        super().close()

    def get_data(self, as_text: bool = False) -> t.Any:
        """The body, once read with :meth:`aread`.

        :raise RuntimeError: If it has not been read yet.
        """
        if self._body.pieces is not None:
            raise RuntimeError(
                "The streamed body has not been read: 'await response.aread()'"
                " or 'async for chunk in response' first."
            )
        if as_text:
            return super().get_data(as_text=True)
        return super().get_data()

    async def __aenter__(self) -> AsyncClientResponse:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class _IteratorReader(io.RawIOBase):
    """A readable raw stream over an iterator of bytes."""

    def __init__(self, pieces: t.Iterator[bytes], on_close: t.Callable[[], None]):
        super().__init__()
        self._pieces = pieces
        self._left = b""
        self._on_close = on_close

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: t.Any) -> int:
        while not self._left:
            try:
                self._left = next(self._pieces)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._left))
        buffer[:size] = self._left[:size]
        self._left = self._left[size:]
        return size

    def close(self) -> None:
        if not self.closed:
            self._on_close()
        super().close()


class _Limits:
    """What the server's ``sockreq:hello`` says, or the protocol's defaults
    until it has come."""

    __slots__ = ("max_inflight", "chunk_size", "window", "max_streams")

    def __init__(self) -> None:
        self.max_inflight: int | None = 100
        self.chunk_size = 65536
        self.window = 1048576
        self.max_streams: int | None = 16

    def update(self, hello: t.Any) -> bool:
        """Read a hello; whether it was one."""
        if not isinstance(hello, dict):
            return False
        self.max_inflight = _limit(hello, "maxInflight", self.max_inflight)
        streams = hello.get("streams")
        if isinstance(streams, dict) and streams.get("v", 1) == 1:
            self.chunk_size = _limit(streams, "chunkSize", self.chunk_size, False)
            self.window = _limit(streams, "window", self.window, False)
            self.max_streams = _limit(streams, "maxStreams", self.max_streams)
        return True


def _limit(
    values: dict[str, t.Any], key: str, default: t.Any, nullable: bool = True
) -> t.Any:
    """A positive integer of the hello; null for no limit, if allowed."""
    value = values.get(key, default)
    if value is None and nullable:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return default


class _Credit:
    """The download side of a stream: how much body the client granted, and
    when to grant more. The server sends at most what was granted, and the
    client grants as the caller consumes: at most ``window`` bytes wait in
    the client."""

    __slots__ = ("window", "granted", "consumed")

    def __init__(self, window: int) -> None:
        self.window = window
        self.granted = window
        self.consumed = 0

    def take(self, size: int) -> int:
        """Count ``size`` bytes consumed; the credit to grant now, if any
        (in steps of at least half the window, not per chunk)."""
        self.consumed += size
        if self.granted - self.consumed > self.window // 2:
            return 0
        more = self.consumed + self.window - self.granted
        self.granted += more
        return more


class _Replays:
    """The requests whose views put the socket in rooms (``joined: true``),
    in order, to send again after a reconnection."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, t.Any]]] = []
        self.lock = threading.Lock()

    def note(self, event: str, payload: dict[str, t.Any], jwr: t.Any) -> None:
        """Remember or forget a request after its answer."""
        if not isinstance(jwr, dict):
            return
        if jwr.get("left") is True:
            self.forget(_path(payload["url"]))
        if jwr.get("joined") is True:
            entry = (event, {k: v for k, v in payload.items() if k != "stream"})
            with self.lock:
                if entry not in self.requests:
                    self.requests.append(entry)

    def forget(self, path: str | None) -> int:
        with self.lock:
            kept = [
                entry
                for entry in self.requests
                if path is not None and _path(entry[1]["url"]) != path
            ]
            forgotten = len(self.requests) - len(kept)
            self.requests = kept
        return forgotten

    def snapshot(self) -> list[tuple[str, dict[str, t.Any]]]:
        with self.lock:
            return list(self.requests)


def _path(url: str) -> str:
    path = url.split("?", 1)[0].split("#", 1)[0]
    if "://" in path:
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    return path or "/"


def _refused(jwr: t.Any) -> bool:
    """Whether the server refused a request at its limit before running it
    (so that sending it again is safe): the protocol's own 429, which no
    view answers."""
    if not isinstance(jwr, dict) or jwr.get("statusCode") != 429:
        return False
    body = jwr.get("body")
    return (
        isinstance(body, dict)
        and set(body) == {"error", "message"}
        and body["error"] in ("too_many_requests", "too_many_streams")
        and jwr.get("headers") == {"Content-Type": "application/json"}
    )


def _stream_error(value: t.Any, what: str) -> TransportError:
    error = value if isinstance(value, dict) else {}
    message = error.get("message")
    message = message if isinstance(message, str) else "The server stopped it."
    code = "timeout" if error.get("error") == "timeout" else "stream_failed"
    return TransportError(code, f"The stream of {what} failed: {message}")


def _describe(request: Request) -> str:
    return f"{request.event.upper()} {request.payload['url']}"


# -- what both clients share --------------------------------------------------


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def _may_retry(request: Request, deadline: float | None, delay: float) -> bool:
    """Whether a request refused at the server's limit is sent again after
    ``delay``, within its deadline."""
    if deadline is not None and time.monotonic() + delay > deadline:
        return False
    logger.debug(
        "%s was refused at the server's limit; sending it again.",
        _describe(request),
    )
    return True


def _no_stream_turn(limits: _Limits, timeout: float | None) -> TransportError:
    return TransportError(
        "timeout",
        f"{limits.max_streams} streams were in flight for"
        f" {timeout} s: read or close streamed responses.",
    )


def _no_request_turn(
    limits: _Limits, timeout: float | None, request: Request
) -> TransportError:
    return TransportError(
        "timeout",
        f"{limits.max_inflight} requests were in flight for"
        f" {timeout} s; {_describe(request)} was not sent.",
    )


def _is_streamed(jwr: t.Any, stream_id: str) -> bool:
    """Whether the answer's body follows in the frames of the stream."""
    answer = jwr.get("stream") if isinstance(jwr, dict) else None
    return isinstance(answer, dict) and answer.get("id") == stream_id


def _stream_length(jwr: t.Any) -> int | None:
    length = jwr["stream"].get("length")
    return length if isinstance(length, int) else None


def _buffered_response(
    jwr: t.Any, on_download: ProgressCallback | None
) -> ClientResponse:
    response = _response(jwr)
    if on_download is not None:
        size = len(response.get_data())
        on_download(size, size)
    return response


def _chunk_size(
    stream: _StreamState,
    ready: object,
    answered: bool,
    chunk_size: int,
    timeout: float | None,
    what: str,
) -> int | None:
    """The credit for the next chunk of an upload, once the wait for it is
    over; None once the view answered."""
    if stream.answered or answered:
        return None
    if stream.error is not None:
        raise stream.error
    if not ready:
        raise TransportError(
            "timeout",
            f"The server granted no credit for the upload of {what} for {timeout} s.",
        )
    return min(stream.credit, chunk_size)


def _no_piece(what: str, timeout: float | None) -> TransportError:
    return TransportError(
        "timeout",
        f"No part of the streamed body of {what} came within {timeout} s.",
    )


def _log_replay_failed(event: str, payload: dict[str, t.Any], exc: Exception) -> None:
    logger.info(
        "Could not send %s %s again after the reconnection: %s",
        event.upper(),
        payload["url"],
        exc,
    )


def _log_replayed(event: str, payload: dict[str, t.Any], jwr: t.Any) -> None:
    if isinstance(jwr, dict) and jwr.get("joined") is not True:
        logger.info(
            "Sent %s %s again after the reconnection: %s, and it joined no room.",
            event.upper(),
            payload["url"],
            jwr.get("statusCode"),
        )


class _StreamState:
    """One stream, as both clients keep it: the upload credit the server
    granted and the response body's chunks, fed by the frame handlers.
    Changes are made in :meth:`guard` and announced with :meth:`notify`."""

    def __init__(self, stream_id: str, window: int, what: str) -> None:
        self.id = stream_id
        #: The request, for messages: ``GET /export.csv``.
        self.what = what
        self.credit = 0
        self.answered = False
        self.chunks: collections.deque[bytes] = collections.deque()
        self.ended = False
        self.error: TransportError | None = None
        self.download = _Credit(window)
        #: Whether it still counts against maxStreams.
        self.counted = True

    def guard(self) -> t.ContextManager[t.Any]:
        raise NotImplementedError

    def notify(self) -> None:
        raise NotImplementedError

    def mark_answered(self) -> None:
        with self.guard():
            self.answered = True
            self.notify()


_StreamT = t.TypeVar("_StreamT", bound=_StreamState)


class _ClientCore(t.Generic[_StreamT]):
    """The state both clients keep and the handlers of the server's frames,
    which never block nor send; what waits or sends is each client's own."""

    _stream_class: type[_StreamT]
    sio: socketio.Client | socketio.AsyncClient
    request_headers: dict[str, str]
    hello: dict[str, t.Any] | None
    _slots: _Slots | _AsyncSlots
    _stream_slots: _Slots | _AsyncSlots
    _hello: threading.Event | asyncio.Event | None

    def __init__(
        self,
        url: str,
        headers: dict[str, str] | None,
        namespace: str,
        timeout: float | None,
        socketio_path: str,
    ) -> None:
        self.url = url.rstrip("/")
        self.headers = dict(headers or {})
        self.namespace = namespace
        self.timeout = timeout
        self.socketio_path = socketio_path
        self._limits = _Limits()
        self._streams: dict[str, _StreamT] = {}
        self._stream_ids = itertools.count(1)
        self._replays = _Replays()
        self._lifecycle: dict[str, t.Callable[..., t.Any]] = {}

    def _connect_options(self) -> dict[str, t.Any]:
        return {
            "headers": self.headers,
            "transports": ["websocket"],
            "namespaces": [self.namespace],
            "socketio_path": self.socketio_path,
            "wait_timeout": self.timeout or 30,
        }

    def _open_stream(
        self, request: Request, upload: UploadBody | None
    ) -> tuple[_StreamT, dict[str, t.Any]]:
        """A new stream, and the request's payload asking for it."""
        window = self._limits.window
        stream = self._stream_class(
            f"s{next(self._stream_ids)}", window, _describe(request)
        )
        spec: dict[str, t.Any] = {"v": 1, "id": stream.id, "window": window}
        if upload is not None:
            spec["upload"] = {"length": upload.length}
        return stream, {**request.payload, "stream": spec}

    def _listen(self) -> None:
        on = functools.partial(self.sio.on, namespace=self.namespace)
        on("connect", self._on_connect)
        on("disconnect", self._on_disconnect)
        on(HELLO, self._on_hello)
        on(CHUNK, self._on_chunk)
        on(CREDIT, self._on_credit)
        on(END, self._on_end)
        on(ERROR, self._on_error)

    @property
    def connected(self) -> bool:
        raise NotImplementedError

    def __repr__(self) -> str:
        state = "connected" if self.connected else "disconnected"
        return f"<{type(self).__name__} {self.url} {state}>"

    def _prepare(
        self, args: tuple[t.Any, ...], kwargs: dict[str, t.Any]
    ) -> tuple[
        Request,
        UploadBody | None,
        float | None,
        bool,
        ProgressCallback | None,
        ProgressCallback | None,
    ]:
        """A request's own keywords, and the request and upload the others
        describe."""
        timeout = kwargs.pop("timeout", self.timeout)
        buffered = kwargs.pop("buffered", True)
        on_upload: ProgressCallback | None = kwargs.pop("on_upload_progress", None)
        on_download: ProgressCallback | None = kwargs.pop("on_download_progress", None)
        request, upload = _build(
            self.url, self.request_headers, args, kwargs, self._limits.chunk_size
        )
        return request, upload, timeout, buffered, on_upload, on_download

    def _on_connect(self) -> None:
        raise NotImplementedError

    def _on_disconnect(self, *args: t.Any) -> None:
        self._fail_pending(
            "disconnected",
            "The connection dropped before the server answered; the request"
            " may or may not have run.",
        )
        self._call_lifecycle("disconnect", *args)

    def _call_lifecycle(self, event: str, *args: t.Any) -> None:
        raise NotImplementedError

    def _fail_pending(self, code: str, message: str) -> None:
        raise NotImplementedError

    def _on_hello(self, hello: t.Any = None) -> None:
        if self._limits.update(hello):
            self.hello = hello
            self._slots.set_limit(self._limits.max_inflight)
            self._stream_slots.set_limit(self._limits.max_streams)
            if self._hello is not None:
                self._hello.set()

    def _on_chunk(self, stream_id: t.Any = None, data: t.Any = None, *_: t.Any) -> None:
        stream = self._streams.get(stream_id)
        if stream is not None and isinstance(data, (bytes, bytearray)):
            with stream.guard():
                stream.chunks.append(bytes(data))
                stream.notify()

    def _on_credit(
        self, stream_id: t.Any = None, size: t.Any = None, *_: t.Any
    ) -> None:
        stream = self._streams.get(stream_id)
        if stream is not None and type(size) is int and size > 0:
            with stream.guard():
                stream.credit += size
                stream.notify()

    def _on_end(self, stream_id: t.Any = None, *_: t.Any) -> None:
        stream = self._streams.get(stream_id)
        if stream is not None:
            self._end_stream(stream, None)

    def _on_error(
        self, stream_id: t.Any = None, error: t.Any = None, *_: t.Any
    ) -> None:
        stream = self._streams.get(stream_id)
        if stream is not None:
            self._end_stream(stream, _stream_error(error, stream.what))

    def _end_stream(self, stream: _StreamT, error: TransportError | None) -> None:
        with stream.guard():
            if stream.ended or stream.error is not None:
                return
            if error is None:
                stream.ended = True
            else:
                stream.error = error
            stream.notify()
        self._forget_stream(stream)

    def _forget_stream(self, stream: _StreamT) -> None:
        """Stop counting a stream in flight."""
        raise NotImplementedError


# -- the synchronous client ---------------------------------------------------


class _Slots:
    """A counting semaphore whose size the server may change: requests (or
    streams) in flight, at most ``limit`` (None for no limit). Threads wait
    their turn in order."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.used = 0
        self._cond = threading.Condition()

    def acquire(self, deadline: float | None) -> bool:
        with self._cond:
            while self.limit is not None and self.used >= self.limit:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
            self.used += 1
            return True

    def release(self) -> None:
        with self._cond:
            self.used -= 1
            self._cond.notify()

    def set_limit(self, limit: int | None) -> None:
        with self._cond:
            self.limit = limit
            self._cond.notify_all()


class _Pending:
    __slots__ = ("done", "jwr", "error", "stream")

    def __init__(self, stream: _Stream | None = None) -> None:
        self.done = threading.Event()
        self.jwr: t.Any = None
        self.error: TransportError | None = None
        self.stream = stream


class _Stream(_StreamState):
    """One stream of the synchronous client, guarded by its condition."""

    def __init__(self, stream_id: str, window: int, what: str) -> None:
        super().__init__(stream_id, window, what)
        self.cond = threading.Condition()

    def guard(self) -> threading.Condition:
        return self.cond

    def notify(self) -> None:
        self.cond.notify_all()


class _StreamedBody:
    """The body of a streamed response: an iterator of its chunks as they
    arrive, granting credit as they are taken."""

    def __init__(
        self,
        client: Client,
        stream: _Stream,
        what: str,
        length: int | None,
        timeout: float | None,
        progress: ProgressCallback | None,
    ) -> None:
        self.client = client
        self.stream = stream
        self.what = what
        self.length = length
        self.timeout = timeout
        self.progress = progress
        #: The bytes taken so far.
        self.loaded = 0
        self.closed = False

    def __iter__(self) -> _StreamedBody:
        return self

    def __next__(self) -> bytes:
        stream = self.stream
        with stream.cond:
            if self.closed:
                raise StopIteration
            ready = stream.cond.wait_for(
                lambda: stream.chunks or stream.ended or stream.error is not None,
                self.timeout,
            )
            if stream.chunks:
                piece = stream.chunks.popleft()
            elif stream.error is not None:
                self.closed = True
                raise stream.error
            elif stream.ended:
                self.closed = True
                raise StopIteration
            else:
                assert not ready
                self.close()
                raise _no_piece(self.what, self.timeout)
            more = 0 if stream.ended else stream.download.take(len(piece))
        if more:
            self.client._emit(CREDIT, stream.id, more)
        self.loaded += len(piece)
        if self.progress is not None:
            self.progress(self.loaded, self.length)
        return piece

    def close(self) -> None:
        """Cancel the stream unless it has ended."""
        stream = self.stream
        with stream.cond:
            if self.closed:
                return
            self.closed = True
            over = stream.ended or stream.error is not None
            stream.chunks.clear()
        if not over:
            self.client._drop_stream(stream, cancel=True)


def _ordered_socketio_client(**options: t.Any) -> socketio.Client:
    """python-socketio's client, handling the server's messages in the order
    they arrive.

    python-socketio's threaded client hands each Engine.IO message to a
    thread of its own, so that two messages may be handled out of order:
    the chunks of a body, or the two halves of a binary event (its own
    "Unexpected binary attachment"). Here the reading thread decodes every
    message itself, in order, and hands only the application's events to
    threads, as python-socketio does; the protocol's frames and the
    acknowledgements are handled at once, and never block.
    """
    return _ordered_class()(**options)


class _ClosesItsWebSocket:
    """For a subclass of python-engineio's ``Client``: the WebSocket is
    closed when the reader ends, whoever ended the connection.

    python-engineio leaves it open when the server dropped the connection,
    and websocket-client's ``close()`` does nothing once the server's close
    frame has come in; the garbage collector would close it later (a
    ResourceWarning, a descriptor held meanwhile).
    """

    ws: t.Any

    def _read_loop_websocket(self) -> None:
        ws = self.ws
        try:
            super()._read_loop_websocket()  # type: ignore[misc]
        finally:
            ws.shutdown()


@functools.cache
def _ordered_class() -> type[socketio.Client]:
    import engineio
    import socketio

    class OrderedEngineIOClient(_ClosesItsWebSocket, engineio.Client):  # type: ignore[misc]
        def _trigger_event(self, event: str, *args: t.Any, **kwargs: t.Any) -> t.Any:
            if event == "message":
                if self.state != "connected":
                    # Disconnecting: python-socketio has dropped its state
                    # (a binary event half received, the namespaces).
                    return None
                kwargs["run_async"] = False
            return super()._trigger_event(event, *args, **kwargs)

    class OrderedClient(socketio.Client):  # type: ignore[misc]
        def _engineio_client_class(self) -> type[engineio.Client]:
            return OrderedEngineIOClient

        def _handle_event(self, namespace: str, id: t.Any, data: t.Any) -> None:
            if data and isinstance(data[0], str) and data[0].startswith("sockreq:"):
                super()._handle_event(namespace, id, data)
            else:
                self.start_background_task(super()._handle_event, namespace, id, data)

    return OrderedClient


class Client(_ClientCore[_Stream]):
    """A connection to a Flask-SockReq server.

    It keeps at most as many requests (and streams) in flight as the
    server's ``sockreq:hello`` allows (``maxInflight``, ``maxStreams``):
    threads sending more wait their turn, within their timeout. A request
    the server still refuses at its limit (a 429 ``too_many_requests`` or
    ``too_many_streams``, which no view answers) is sent again until its
    timeout.

    After a reconnection (python-socketio reconnects by itself unless
    ``reconnection=False``), it sends again, in order, each request whose
    view put the socket in rooms (a JWR with ``joined: true``), so that
    pushes resume; a JWR with ``left: true`` forgets those of its path, and
    :meth:`forget` forgets them by hand.

    :param url: The server, such as ``"http://127.0.0.1:5000"``.
    :param headers: Headers of the handshake: ``Cookie`` and
        ``Authorization`` there apply to every request.
    :param namespace: The server's ``SOCKREQ_NAMESPACE``.
    :param timeout: Seconds to wait for an answer (and for the connection,
        a turn among the requests in flight, upload credit or the next piece
        of a streamed body) before :class:`TransportError`; None waits for
        ever.
    :param request_headers: Headers sent with every request, under those of
        the request.
    :param socketio_path: The Socket.IO path of the server.
    :param connect: Connect now; otherwise call :meth:`connect`.
    :param client_options: Passed on to :class:`socketio.Client`, such as
        ``reconnection=False``.
    """

    _stream_class = _Stream

    def __init__(
        self,
        url: str,
        headers: dict[str, str] | None = None,
        *,
        namespace: str = "/",
        timeout: float | None = 30,
        request_headers: dict[str, str] | None = None,
        socketio_path: str = "socket.io",
        connect: bool = True,
        **client_options: t.Any,
    ) -> None:
        _require("websocket", "Client", "client")
        super().__init__(url, headers, namespace, timeout, socketio_path)
        #: Headers sent with every request; change them at any time.
        self.request_headers = dict(request_headers or {})
        #: The python-socketio client.
        self.sio: socketio.Client = _ordered_socketio_client(**client_options)
        #: The server's ``sockreq:hello``, once it has come.
        self.hello: dict[str, t.Any] | None = None
        self._slots: _Slots = _Slots(self._limits.max_inflight)
        self._stream_slots: _Slots = _Slots(self._limits.max_streams)
        self._hello: threading.Event = threading.Event()
        self._pending: dict[int, _Pending] = {}
        self._next = 0
        self._lock = threading.Lock()
        # python-socketio's emit is not thread-safe: the parts of a binary
        # event, or the ack ids, of two threads could interleave.
        self._emit_lock = threading.Lock()
        self._connected = threading.Event()
        self._closed = False
        self._listen()
        if connect:
            self.connect()

    def connect(self) -> None:
        """Connect over WebSocket, and wait (at most a second) for the
        server's limits.

        :raise TransportError: If the server cannot be reached.
        """
        import socketio

        self._closed = False
        try:
            self.sio.connect(self.url, **self._connect_options())
        except socketio.exceptions.ConnectionError as exc:
            raise TransportError(
                "not_connected", f"Could not connect to {self.url}: {exc}"
            ) from exc
        self._hello.wait(min(self.timeout or _HELLO_WAIT, _HELLO_WAIT))

    @property
    def connected(self) -> bool:
        """Whether the socket is connected to the namespace now. False
        while it reconnects; requests sent meanwhile wait for it."""
        return self._connected.is_set()

    @property
    def sid(self) -> str | None:
        """The socket's session id on the namespace, ``request.sid``."""
        return t.cast("str | None", self.sio.get_sid(self.namespace))

    @property
    def replays(self) -> list[tuple[str, str]]:
        """The requests sent again after a reconnection, in order, as
        ``(method, url)``."""
        return [
            (event.upper(), payload["url"])
            for event, payload in self._replays.snapshot()
        ]

    def forget(self, path: str | None = None) -> int:
        """Stop sending the requests of ``path`` (such as ``"/pets"``; a query
        is ignored) again after a reconnection, or all of them if None. The
        socket stays in its rooms until it reconnects or leaves them.

        :return: How many were forgotten.
        """
        return self._replays.forget(None if path is None else _path(path))

    def request(self, *args: t.Any, **kwargs: t.Any) -> ClientResponse:
        """Send a request described as for Flask's test client:
        ``request("/todos", method="POST", json={...})``.

        A body larger than the server's chunk size (256 KiB by default), a
        file object or iterator of bytes as ``data=``, or a form with large
        files is uploaded as a stream, a chunk at a time: a file is never
        read into memory all at once.

        :param timeout: Seconds to wait for this answer, instead of the
            client's. For an upload it runs from the end of the upload.
        :param buffered: False for a streamed response, returned as soon as
            the server answers, whose body arrives as it is read.
        :param on_upload_progress: Called with the bytes of the body sent so
            far and its length (None if unknown), in the calling thread.
        :param on_download_progress: Called with the bytes of the response
            body received so far and its length (None if unknown), as it is
            read.
        :raise TransportError: If no answer comes, or a streamed body breaks
            off.
        :raise ValueError: If the request cannot be sent over a socket.
        """
        request, upload, timeout, buffered, on_upload, on_download = self._prepare(
            args, kwargs
        )
        if upload is not None and upload.is_async:
            raise TypeError(
                "An async iterable can only be uploaded by AsyncClient; give"
                " Client an iterator of bytes or a file object."
            )
        try:
            jwr, stream = self._send(
                request, upload, upload is not None or not buffered, timeout, on_upload
            )
        finally:
            if upload is not None:
                upload.close()
        if upload is None:
            self._replays.note(request.event, request.payload, jwr)
        if stream is None:
            return _buffered_response(jwr, on_download)
        response = _response(jwr)
        response.response = _StreamedBody(
            self, stream, _describe(request), _stream_length(jwr), timeout, on_download
        )
        if buffered:
            try:
                response.make_sequence()
            finally:
                response.close()
        return response

    def open(self, *args: t.Any, **kwargs: t.Any) -> ClientResponse:
        """Send a request; the name of Flask's test client for
        :meth:`request`."""
        return self.request(*args, **kwargs)

    def get(self, *args: t.Any, **kwargs: t.Any) -> ClientResponse:
        """Send a GET request; see :meth:`request`."""
        return self.request(*args, method="GET", **kwargs)

    def post(self, *args: t.Any, **kwargs: t.Any) -> ClientResponse:
        """Send a POST request; see :meth:`request`."""
        return self.request(*args, method="POST", **kwargs)

    def put(self, *args: t.Any, **kwargs: t.Any) -> ClientResponse:
        """Send a PUT request; see :meth:`request`."""
        return self.request(*args, method="PUT", **kwargs)

    def patch(self, *args: t.Any, **kwargs: t.Any) -> ClientResponse:
        """Send a PATCH request; see :meth:`request`."""
        return self.request(*args, method="PATCH", **kwargs)

    def delete(self, *args: t.Any, **kwargs: t.Any) -> ClientResponse:
        """Send a DELETE request; see :meth:`request`."""
        return self.request(*args, method="DELETE", **kwargs)

    def head(self, *args: t.Any, **kwargs: t.Any) -> ClientResponse:
        """Send a HEAD request; see :meth:`request`."""
        return self.request(*args, method="HEAD", **kwargs)

    def options(self, *args: t.Any, **kwargs: t.Any) -> ClientResponse:
        """Send an OPTIONS request; see :meth:`request`."""
        return self.request(*args, method="OPTIONS", **kwargs)

    def on(self, event: str, handler: t.Callable[..., t.Any]) -> None:
        """Call ``handler`` with the data of each ``event`` the server pushes
        to this socket (to it, its rooms, or everyone). It runs in a
        background thread. ``"connect"`` and ``"disconnect"`` are the
        connection's own events (a disconnect's handler gets the reason)."""
        if event in _LIFECYCLE:
            self._lifecycle[event] = handler
        else:
            self.sio.on(event, handler, namespace=self.namespace)

    def close(self) -> None:
        """Disconnect; requests in flight raise :class:`TransportError`."""
        self._closed = True
        # Also stops python-socketio's reconnection attempts, if any.
        self.sio.shutdown()
        self._fail_pending("disconnected", "The client was closed.")

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals --------------------------------------------------------

    def _emit(self, event: str, *args: t.Any, callback: t.Any = None) -> None:
        data: t.Any = args if len(args) != 1 else args[0]
        with self._emit_lock:
            self.sio.emit(event, data, namespace=self.namespace, callback=callback)

    def _on_connect(self) -> None:
        self._connected.set()
        if self._replays.requests:
            # Not in the reading thread, which must go on to read the answers.
            self.sio.start_background_task(self._replay)
        self._call_lifecycle("connect")

    def _on_disconnect(self, *args: t.Any) -> None:
        self._connected.clear()
        super()._on_disconnect(*args)

    def _call_lifecycle(self, event: str, *args: t.Any) -> None:
        handler = self._lifecycle.get(event)
        if handler is not None:
            self.sio.start_background_task(handler, *args)

    def _fail_pending(self, code: str, message: str) -> None:
        with self._lock:
            pending = list(self._pending.values())
            self._pending.clear()
            streams = list(self._streams.values())
        for entry in pending:
            entry.error = TransportError(code, message)
            entry.done.set()
        for stream in streams:
            self._end_stream(stream, TransportError(code, message))

    def _forget_stream(self, stream: _Stream) -> None:
        with self._lock:
            if self._streams.get(stream.id) is stream:
                del self._streams[stream.id]
            counted, stream.counted = stream.counted, False
        if counted:
            self._stream_slots.release()

    def _drop_stream(self, stream: _Stream, cancel: bool = False) -> None:
        """Stop counting a stream in flight, and cancel it on the server."""
        self._forget_stream(stream)
        if cancel and self.connected:
            try:
                self._emit(CANCEL, stream.id)
            except Exception:  # the connection went away meanwhile
                logger.debug("Could not cancel the stream %s.", stream.id)

    def _wait_connected(self, timeout: float | None) -> None:
        if self._connected.is_set():
            return
        if self._closed or not self.sio.reconnection:
            # Nothing will connect it again.
            timeout = 0
        if not self._connected.wait(timeout):
            raise TransportError(
                "not_connected",
                f"The client is not connected to {self.url}"
                + (f" (waited {timeout} s)." if timeout else "."),
            )

    def _send(
        self,
        request: Request,
        upload: UploadBody | None,
        streamed: bool,
        timeout: float | None,
        on_upload: ProgressCallback | None,
    ) -> tuple[t.Any, _Stream | None]:
        """Send a request until it is not refused at the server's limit: its
        JWR, and its stream if the body follows in frames."""
        deadline = _deadline(timeout)
        delay = _RETRY_DELAY
        while True:
            jwr, stream = self._exchange(
                request, upload, streamed, timeout, deadline, on_upload
            )
            if not _refused(jwr):
                return jwr, stream
            if not _may_retry(request, deadline, delay):
                return jwr, None
            time.sleep(delay)
            delay = min(delay * 2, _RETRY_DELAY_MAX)

    def _exchange(
        self,
        request: Request,
        upload: UploadBody | None,
        streamed: bool,
        timeout: float | None,
        deadline: float | None,
        on_upload: ProgressCallback | None,
    ) -> tuple[t.Any, _Stream | None]:
        self._wait_connected(timeout)
        stream = None
        if streamed and not self._stream_slots.acquire(deadline):
            raise _no_stream_turn(self._limits, timeout)
        try:
            if not self._slots.acquire(deadline):
                raise _no_request_turn(self._limits, timeout, request)
            try:
                payload = request.payload
                if streamed:
                    stream, payload = self._open_stream(request, upload)
                    with self._lock:
                        self._streams[stream.id] = stream
                jwr = self._call(
                    request.event, payload, timeout, upload, stream, on_upload
                )
            finally:
                self._slots.release()
        except BaseException:
            if stream is not None:
                self._drop_stream(stream, cancel=True)
            elif streamed:
                self._stream_slots.release()
            raise
        if stream is not None and not _is_streamed(jwr, stream.id):
            self._drop_stream(stream)
            stream = None
        return jwr, stream

    def _call(
        self,
        event: str,
        payload: dict[str, t.Any],
        timeout: float | None,
        upload: UploadBody | None = None,
        stream: _Stream | None = None,
        on_upload: ProgressCallback | None = None,
    ) -> t.Any:
        entry = _Pending(stream)
        with self._lock:
            self._next += 1
            key = self._next
            self._pending[key] = entry

        def answer(*args: t.Any) -> None:
            with self._lock:
                if self._pending.pop(key, None) is None:
                    return  # failed or timed out already
            entry.jwr = args[0] if len(args) == 1 else list(args)
            entry.done.set()
            if stream is not None:
                stream.mark_answered()

        try:
            self._emit(event, payload, callback=answer)
        except Exception as exc:
            with self._lock:
                self._pending.pop(key, None)
            raise TransportError(
                "not_connected", f"The request could not be sent: {exc}"
            ) from exc
        what = f"{event.upper()} {payload['url']}"
        if upload is not None:
            assert stream is not None
            try:
                self._upload(stream, upload, entry, timeout, on_upload, what)
            except BaseException:
                with self._lock:
                    self._pending.pop(key, None)
                raise
        if not entry.done.wait(timeout):
            with self._lock:
                late = self._pending.pop(key, None) is None
            if not late or not entry.done.wait(1):
                raise TransportError(
                    "timeout", f"No answer to {what} within {timeout} s."
                )
        if entry.error is not None:
            raise entry.error
        return entry.jwr

    def _upload(
        self,
        stream: _Stream,
        upload: UploadBody,
        entry: _Pending,
        timeout: float | None,
        on_upload: ProgressCallback | None,
        what: str,
    ) -> None:
        """Send the body in chunks within the credit the server grants, until
        its end or the answer."""
        total = upload.length
        offset = 0
        chunk_size = self._limits.chunk_size
        while total is None or offset < total:
            with stream.cond:
                ready = stream.cond.wait_for(
                    lambda: stream.credit > 0 or stream.answered or stream.error,
                    timeout,
                )
                size = _chunk_size(
                    stream, ready, entry.done.is_set(), chunk_size, timeout, what
                )
            if size is None:
                return  # the view answered: the rest is not needed
            if total is not None:
                size = min(size, total - offset)
            piece = upload.read(size)
            if not piece:
                break
            self._emit(CHUNK, stream.id, offset, piece)
            with stream.cond:
                stream.credit -= len(piece)
            offset += len(piece)
            if on_upload is not None:
                on_upload(offset, total)
        self._emit(END, stream.id, offset)

    def _replay(self) -> None:
        for event, payload in self._replays.snapshot():
            try:
                self._wait_connected(self.timeout)
                if not self._slots.acquire(_deadline(self.timeout)):
                    raise TransportError("timeout", "No turn among the requests.")
                try:
                    jwr = self._call(event, payload, self.timeout)
                finally:
                    self._slots.release()
            except TransportError as exc:
                _log_replay_failed(event, payload, exc)
                return
            _log_replayed(event, payload, jwr)


def _require(module: str, client: str, extra: str) -> None:
    # python-socketio's clients speak WebSocket through these packages; without
    # them a connection fails with "Unexpected connection error".
    if importlib.util.find_spec(module) is None:
        raise ImportError(
            f"{client} needs the {module!r} package for WebSocket: install"
            f" 'Flask-SockReq[{extra}]'."
        )


def _build(
    url: str,
    request_headers: dict[str, str],
    args: tuple[t.Any, ...],
    kwargs: dict[str, t.Any],
    inline_limit: int,
) -> tuple[Request, UploadBody | None]:
    if request_headers:
        headers = dict(request_headers)
        headers.update(dict(kwargs.get("headers") or {}))
        kwargs["headers"] = headers
    kwargs.setdefault("base_url", url)
    return build_upload_request(
        EnvironBuilder, *args, inline_limit=inline_limit, **kwargs
    )


def _response(
    jwr: t.Any, response_class: type[ClientResponse] = ClientResponse
) -> ClientResponse:
    data, status, headers = response_parts(jwr)
    response = response_class([data] if data else [], status, headers)
    response.jwr = jwr
    return response


# -- the asyncio client -------------------------------------------------------


class _AsyncSlots:
    """:class:`_Slots` for asyncio: coroutines wait their turn in order."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.used = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def _free(self) -> bool:
        return self.limit is None or self.used < self.limit

    async def acquire(self, deadline: float | None) -> bool:
        if self._waiters or not self._free():
            loop = asyncio.get_running_loop()
            while True:
                waiter: asyncio.Future[None] = loop.create_future()
                self._waiters.append(waiter)
                remaining = None if deadline is None else deadline - time.monotonic()
                try:
                    await asyncio.wait_for(waiter, remaining)
                except asyncio.TimeoutError:
                    if waiter.done() and not waiter.cancelled():
                        self._wake()  # pass the turn on
                    return False
                finally:
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)
                if self._free():
                    break
        self.used += 1
        if self._free():
            self._wake()
        return True

    def release(self) -> None:
        self.used -= 1
        self._wake()

    def set_limit(self, limit: int | None) -> None:
        self.limit = limit
        self._wake()

    def _wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
                return


class _AsyncStream(_StreamState):
    """One stream of :class:`AsyncClient`; the frame handlers run in the
    event loop and wake its waiters, so that it needs no lock."""

    def __init__(self, stream_id: str, window: int, what: str) -> None:
        super().__init__(stream_id, window, what)
        self.wake = asyncio.Event()

    def guard(self) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()

    def notify(self) -> None:
        self.wake.set()

    async def wait(self, ready: t.Callable[[], t.Any], timeout: float | None) -> bool:
        """Wait until ``ready()``; False if ``timeout`` passed first."""
        deadline = _deadline(timeout)
        while not ready():
            self.wake.clear()
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self.wake.wait(), remaining)
            except asyncio.TimeoutError:
                return bool(ready())
        return True


class _AsyncStreamedBody:
    """The body of an :class:`AsyncClientResponse`: an async iterator of its
    chunks as they arrive, granting credit as they are taken."""

    def __init__(
        self,
        client: AsyncClient,
        stream: _AsyncStream,
        what: str,
        length: int | None,
        timeout: float | None,
        progress: ProgressCallback | None,
    ) -> None:
        self.client = client
        self.stream = stream
        self.what = what
        self.length = length
        self.timeout = timeout
        self.progress = progress
        self.loaded = 0
        self.closed = False
        #: What was taken, for ``aread()``; None once read.
        self.pieces: list[bytes] | None = []

    def __aiter__(self) -> _AsyncStreamedBody:
        return self

    async def __anext__(self) -> bytes:
        stream = self.stream
        if self.closed:
            raise StopAsyncIteration
        ready = await stream.wait(
            lambda: stream.chunks or stream.ended or stream.error is not None,
            self.timeout,
        )
        if stream.chunks:
            piece = stream.chunks.popleft()
        elif stream.error is not None:
            self.closed = True
            raise stream.error
        elif stream.ended:
            self.closed = True
            raise StopAsyncIteration
        else:
            assert not ready
            await self.aclose()
            raise _no_piece(self.what, self.timeout)
        more = 0 if stream.ended else stream.download.take(len(piece))
        if more:
            await self.client._emit(CREDIT, stream.id, more)
        self.loaded += len(piece)
        if self.pieces is not None:
            self.pieces.append(piece)
        if self.progress is not None:
            self.progress(self.loaded, self.length)
        return piece

    def _close(self) -> bool:
        """Close; whether the stream must be cancelled on the server."""
        if self.closed:
            return False
        self.closed = True
        stream = self.stream
        stream.chunks.clear()
        return not (stream.ended or stream.error is not None)

    async def aclose(self) -> None:
        if self._close():
            await self.client._drop_stream(self.stream, cancel=True)

    def close_soon(self) -> None:
        if self._close():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop: nothing can be sent
                self.client._forget_stream(self.stream)
                return
            task = loop.create_task(self.client._drop_stream(self.stream, cancel=True))
            self.client._tasks.add(task)
            task.add_done_callback(self.client._tasks.discard)


class AsyncClient(_ClientCore[_AsyncStream]):
    """A connection to a Flask-SockReq server, for asyncio: the methods of
    :class:`Client`, as coroutines. Connect with ``await client.connect()``
    or ``async with AsyncClient(url) as client``.

    Requests beyond the server's ``maxInflight`` (and streams beyond its
    ``maxStreams``) wait their turn, so that ``asyncio.gather`` of any number
    of requests works; requests that joined rooms are sent again after a
    reconnection, as for :class:`Client`. A streamed response
    (``buffered=False``) is an :class:`AsyncClientResponse`. ``data=`` may
    also be an async iterable of bytes.

    It runs on python-socketio's ``AsyncClient``, which needs aiohttp:
    install ``Flask-SockReq[asyncio]``.

    :param url: The server, such as ``"http://127.0.0.1:5000"``.
    :param headers: Headers of the handshake.
    :param namespace: The server's ``SOCKREQ_NAMESPACE``.
    :param timeout: Seconds to wait for an answer (and for the connection,
        a turn among the requests in flight, upload credit or the next piece
        of a streamed body) before :class:`TransportError`; None waits for
        ever.
    :param request_headers: Headers sent with every request.
    :param socketio_path: The Socket.IO path of the server.
    :param client_options: Passed on to :class:`socketio.AsyncClient`.
    """

    _stream_class = _AsyncStream

    def __init__(
        self,
        url: str,
        headers: dict[str, str] | None = None,
        *,
        namespace: str = "/",
        timeout: float | None = 30,
        request_headers: dict[str, str] | None = None,
        socketio_path: str = "socket.io",
        **client_options: t.Any,
    ) -> None:
        _require("aiohttp", "AsyncClient", "asyncio")
        import socketio

        super().__init__(url, headers, namespace, timeout, socketio_path)
        #: Headers sent with every request; change them at any time.
        self.request_headers = dict(request_headers or {})
        #: The python-socketio client.
        self.sio: socketio.AsyncClient = socketio.AsyncClient(**client_options)
        #: The server's ``sockreq:hello``, once it has come.
        self.hello: dict[str, t.Any] | None = None
        self._slots: _AsyncSlots = _AsyncSlots(self._limits.max_inflight)
        self._stream_slots: _AsyncSlots = _AsyncSlots(self._limits.max_streams)
        self._hello: asyncio.Event | None = None
        self._pending: set[asyncio.Future[t.Any]] = set()
        self._tasks: set[asyncio.Task[t.Any]] = set()
        self._listen()

    async def connect(self) -> None:
        """Connect over WebSocket, and wait (at most a second) for the
        server's limits.

        :raise TransportError: If the server cannot be reached.
        """
        import socketio

        if self._hello is None:
            self._hello = asyncio.Event()
            if self.hello is not None:
                self._hello.set()
        try:
            await self.sio.connect(self.url, **self._connect_options())
        except socketio.exceptions.ConnectionError as exc:
            # Close the HTTP session Engine.IO opened for the attempt.
            await self.sio.eio.disconnect(abort=True)
            raise TransportError(
                "not_connected", f"Could not connect to {self.url}: {exc}"
            ) from exc
        try:
            await asyncio.wait_for(
                self._hello.wait(), min(self.timeout or _HELLO_WAIT, _HELLO_WAIT)
            )
        except asyncio.TimeoutError:
            pass

    @property
    def connected(self) -> bool:
        """See :attr:`Client.connected`."""
        return bool(self.sio.connected) and self.sid is not None

    @property
    def sid(self) -> str | None:
        """The socket's session id on the namespace, ``request.sid``."""
        return t.cast("str | None", self.sio.get_sid(self.namespace))

    @property
    def replays(self) -> list[tuple[str, str]]:
        """See :attr:`Client.replays`."""
        return [
            (event.upper(), payload["url"])
            for event, payload in self._replays.snapshot()
        ]

    def forget(self, path: str | None = None) -> int:
        """See :meth:`Client.forget`."""
        return self._replays.forget(None if path is None else _path(path))

    async def request(self, *args: t.Any, **kwargs: t.Any) -> ClientResponse:
        """Send a request described as for Flask's test client; see
        :meth:`Client.request`, whose keywords it takes. With
        ``buffered=False`` the answer is an :class:`AsyncClientResponse`.

        :raise TransportError: If no answer comes.
        """
        request, upload, timeout, buffered, on_upload, on_download = self._prepare(
            args, kwargs
        )
        try:
            jwr, stream = await self._send(
                request, upload, upload is not None or not buffered, timeout, on_upload
            )
        finally:
            if upload is not None:
                await _aclose_upload(upload)
        if upload is None:
            self._replays.note(request.event, request.payload, jwr)
        if stream is None:
            return _buffered_response(jwr, on_download)
        body = _AsyncStreamedBody(
            self, stream, _describe(request), _stream_length(jwr), timeout, on_download
        )
        streamed = t.cast(AsyncClientResponse, _response(jwr, AsyncClientResponse))
        streamed._body = body
        if not buffered:
            return streamed
        try:
            data = await streamed.aread()
        finally:
            await body.aclose()
        response = _response(jwr)
        response.response = [data]
        return response

    async def open(self, *args: t.Any, **kwargs: t.Any) -> ClientResponse:
        """Send a request; see :meth:`request`."""
        return await self.request(*args, **kwargs)

    async def get(self, *args: t.Any, **kwargs: t.Any) -> ClientResponse:
        """Send a GET request; see :meth:`request`."""
        return await self.request(*args, method="GET", **kwargs)

    async def post(self, *args: t.Any, **kwargs: t.Any) -> ClientResponse:
        """Send a POST request; see :meth:`request`."""
        return await self.request(*args, method="POST", **kwargs)

    async def put(self, *args: t.Any, **kwargs: t.Any) -> ClientResponse:
        """Send a PUT request; see :meth:`request`."""
        return await self.request(*args, method="PUT", **kwargs)

    async def patch(self, *args: t.Any, **kwargs: t.Any) -> ClientResponse:
        """Send a PATCH request; see :meth:`request`."""
        return await self.request(*args, method="PATCH", **kwargs)

    async def delete(self, *args: t.Any, **kwargs: t.Any) -> ClientResponse:
        """Send a DELETE request; see :meth:`request`."""
        return await self.request(*args, method="DELETE", **kwargs)

    async def head(self, *args: t.Any, **kwargs: t.Any) -> ClientResponse:
        """Send a HEAD request; see :meth:`request`."""
        return await self.request(*args, method="HEAD", **kwargs)

    async def options(self, *args: t.Any, **kwargs: t.Any) -> ClientResponse:
        """Send an OPTIONS request; see :meth:`request`."""
        return await self.request(*args, method="OPTIONS", **kwargs)

    def on(self, event: str, handler: t.Callable[..., t.Any]) -> None:
        """Call ``handler`` (a function or a coroutine function) with the data
        of each ``event`` the server pushes to this socket; see
        :meth:`Client.on`."""
        if event in _LIFECYCLE:
            self._lifecycle[event] = handler
        else:
            self.sio.on(event, handler, namespace=self.namespace)

    async def close(self) -> None:
        """Disconnect; requests in flight raise :class:`TransportError`."""
        await self.sio.shutdown()
        self._fail_pending("disconnected", "The client was closed.")

    async def __aenter__(self) -> AsyncClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- internals --------------------------------------------------------

    async def _emit(self, event: str, *args: t.Any, callback: t.Any = None) -> None:
        data: t.Any = args if len(args) != 1 else args[0]
        await self.sio.emit(event, data, namespace=self.namespace, callback=callback)

    def _on_connect(self) -> None:
        if self._replays.requests:
            self._spawn(self._replay())
        self._call_lifecycle("connect")

    def _spawn(self, coroutine: t.Coroutine[t.Any, t.Any, t.Any]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _call_lifecycle(self, event: str, *args: t.Any) -> None:
        handler = self._lifecycle.get(event)
        if handler is not None:
            result = handler(*args)
            if asyncio.iscoroutine(result):
                self._spawn(result)

    def _fail_pending(self, code: str, message: str) -> None:
        for answer in list(self._pending):
            if not answer.done():
                answer.set_exception(TransportError(code, message))
        for stream in list(self._streams.values()):
            self._end_stream(stream, TransportError(code, message))

    def _forget_stream(self, stream: _AsyncStream) -> None:
        if self._streams.get(stream.id) is stream:
            del self._streams[stream.id]
        if stream.counted:
            stream.counted = False
            self._stream_slots.release()

    async def _drop_stream(self, stream: _AsyncStream, cancel: bool = False) -> None:
        self._forget_stream(stream)
        if cancel and self.connected:
            try:
                await self._emit(CANCEL, stream.id)
            except Exception:  # the connection went away meanwhile
                logger.debug("Could not cancel the stream %s.", stream.id)

    async def _send(
        self,
        request: Request,
        upload: UploadBody | None,
        streamed: bool,
        timeout: float | None,
        on_upload: ProgressCallback | None,
    ) -> tuple[t.Any, _AsyncStream | None]:
        deadline = _deadline(timeout)
        delay = _RETRY_DELAY
        while True:
            jwr, stream = await self._exchange(
                request, upload, streamed, timeout, deadline, on_upload
            )
            if not _refused(jwr):
                return jwr, stream
            if not _may_retry(request, deadline, delay):
                return jwr, None
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_DELAY_MAX)

    async def _exchange(
        self,
        request: Request,
        upload: UploadBody | None,
        streamed: bool,
        timeout: float | None,
        deadline: float | None,
        on_upload: ProgressCallback | None,
    ) -> tuple[t.Any, _AsyncStream | None]:
        if not self.connected:
            raise TransportError(
                "not_connected", f"The client is not connected to {self.url}."
            )
        stream = None
        if streamed and not await self._stream_slots.acquire(deadline):
            raise _no_stream_turn(self._limits, timeout)
        try:
            if not await self._slots.acquire(deadline):
                raise _no_request_turn(self._limits, timeout, request)
            try:
                payload = request.payload
                if streamed:
                    stream, payload = self._open_stream(request, upload)
                    self._streams[stream.id] = stream
                jwr = await self._call(
                    request.event, payload, timeout, upload, stream, on_upload
                )
            finally:
                self._slots.release()
        except BaseException:
            if stream is not None:
                await self._drop_stream(stream, cancel=True)
            elif streamed:
                self._stream_slots.release()
            raise
        if stream is not None and not _is_streamed(jwr, stream.id):
            self._forget_stream(stream)
            stream = None
        return jwr, stream

    async def _call(
        self,
        event: str,
        payload: dict[str, t.Any],
        timeout: float | None,
        upload: UploadBody | None = None,
        stream: _AsyncStream | None = None,
        on_upload: ProgressCallback | None = None,
    ) -> t.Any:
        answer: asyncio.Future[t.Any] = asyncio.get_running_loop().create_future()

        def acknowledge(*args: t.Any) -> None:
            if not answer.done():
                answer.set_result(args[0] if len(args) == 1 else list(args))
            if stream is not None:
                stream.mark_answered()

        what = f"{event.upper()} {payload['url']}"
        self._pending.add(answer)
        try:
            await self._emit(event, payload, callback=acknowledge)
            if upload is not None:
                assert stream is not None
                await self._upload(stream, upload, answer, timeout, on_upload, what)
            return await asyncio.wait_for(answer, timeout)
        except asyncio.TimeoutError:
            raise TransportError(
                "timeout", f"No answer to {what} within {timeout} s."
            ) from None
        finally:
            self._pending.discard(answer)
            if not answer.done():
                answer.cancel()
            elif not answer.cancelled():
                answer.exception()  # retrieved, if it failed while uploading

    async def _upload(
        self,
        stream: _AsyncStream,
        upload: UploadBody,
        answer: asyncio.Future[t.Any],
        timeout: float | None,
        on_upload: ProgressCallback | None,
        what: str,
    ) -> None:
        total = upload.length
        offset = 0
        chunk_size = self._limits.chunk_size
        read = _async_reader(upload)
        while total is None or offset < total:
            ready = await stream.wait(
                lambda: stream.credit > 0 or stream.answered or stream.error,
                timeout,
            )
            size = _chunk_size(stream, ready, answer.done(), chunk_size, timeout, what)
            if size is None:
                return
            if total is not None:
                size = min(size, total - offset)
            piece = await read(size)
            if not piece:
                break
            await self._emit(CHUNK, stream.id, offset, piece)
            stream.credit -= len(piece)
            offset += len(piece)
            if on_upload is not None:
                on_upload(offset, total)
        await self._emit(END, stream.id, offset)

    async def _replay(self) -> None:
        for event, payload in self._replays.snapshot():
            try:
                if not await self._slots.acquire(_deadline(self.timeout)):
                    raise TransportError("timeout", "No turn among the requests.")
                try:
                    jwr = await self._call(event, payload, self.timeout)
                finally:
                    self._slots.release()
            except TransportError as exc:
                _log_replay_failed(event, payload, exc)
                return
            _log_replayed(event, payload, jwr)


def _async_reader(upload: UploadBody) -> t.Callable[[int], t.Awaitable[bytes]]:
    """Read an upload from a coroutine: an async iterable as it comes, a
    file or an iterator in a thread, bytes at once."""
    if upload.is_async:
        iterator = upload.source.__aiter__()
        left = b""

        async def read_async(size: int) -> bytes:
            nonlocal left
            while not left:
                try:
                    piece = await iterator.__anext__()
                except StopAsyncIteration:
                    return b""
                left = _piece(piece)
            piece, left = left[:size], left[size:]
            return piece

        return read_async
    if upload.blocking:

        async def read_blocking(size: int) -> bytes:
            return await asyncio.to_thread(upload.read, size)

        return read_blocking

    async def read_now(size: int) -> bytes:
        return upload.read(size)

    return read_now


def _piece(piece: t.Any) -> bytes:
    if isinstance(piece, (bytes, bytearray, memoryview)):
        return bytes(piece)
    if isinstance(piece, str):
        return piece.encode()
    raise TypeError(
        f"The upload's async iterable gave {type(piece).__name__}, not bytes."
    )


async def _aclose_upload(upload: UploadBody) -> None:
    if upload.is_async:
        aclose = getattr(upload.source, "aclose", None)
        if aclose is not None:
            await aclose()
    else:
        upload.close()
