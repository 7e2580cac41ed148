"""A synchronous Python client for Flask-SockReq servers.

.. code-block:: python

    from flask_sockreq.client import Client

    with Client("http://127.0.0.1:5000") as client:
        response = client.post("/todos", json={"title": "milk"})
        assert response.status_code == 201
        print(response.get_json())

Requests take the arguments of Flask's test client and return a
:class:`ClientResponse`, a :class:`werkzeug.wrappers.Response`. It runs on
python-socketio's client: install ``Flask-SockReq[client]``.

:class:`AsyncClient` is the same for asyncio (``Flask-SockReq[asyncio]``)::

    async with AsyncClient("http://127.0.0.1:5000") as client:
        response = await client.get("/todos")
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
import typing as t

from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Response

from .payload import build_request
from .payload import response_parts

if t.TYPE_CHECKING:  # pragma: no cover
    import socketio


class ClientError(Exception):
    """Base class of the errors of :class:`Client`."""


class TransportError(ClientError):
    """A request got no answer: the client is not connected, the connection
    dropped while the request was in flight, or no answer came in time.

    :param code: ``"not_connected"``, ``"disconnected"`` or ``"timeout"``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class ClientResponse(Response):
    """A response received over the socket: ``status_code``, ``headers``,
    ``data``, ``text``, ``get_json()`` and ``json`` as a werkzeug response,
    and ``jwr``, the acknowledgement as received."""

    #: The JWR ``{"body", "headers", "statusCode"}`` as received.
    jwr: dict[str, t.Any]

    @property
    def text(self) -> str:
        """The body as text, decoded with the response's charset."""
        return self.get_data(as_text=True)


class _Pending:
    __slots__ = ("done", "jwr", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.jwr: t.Any = None
        self.error: TransportError | None = None


class Client:
    """A connection to a Flask-SockReq server.

    :param url: The server, such as ``"http://127.0.0.1:5000"``.
    :param headers: Headers of the handshake: ``Cookie`` and
        ``Authorization`` there apply to every request.
    :param namespace: The server's ``SOCKREQ_NAMESPACE``.
    :param timeout: Seconds to wait for an answer (and for the connection)
        before :class:`TransportError`; None waits for ever.
    :param request_headers: Headers sent with every request, under those of
        the request.
    :param socketio_path: The Socket.IO path of the server.
    :param connect: Connect now; otherwise call :meth:`connect`.
    :param client_options: Passed on to :class:`socketio.Client`, such as
        ``reconnection=False``.
    """

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
        import socketio

        self.url = url.rstrip("/")
        self.headers = dict(headers or {})
        self.namespace = namespace
        self.timeout = timeout
        #: Headers sent with every request; change them at any time.
        self.request_headers = dict(request_headers or {})
        self.socketio_path = socketio_path
        #: The python-socketio client.
        self.sio: socketio.Client = socketio.Client(**client_options)
        self._pending: dict[int, _Pending] = {}
        self._next = 0
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self.sio.on("connect", self._on_connect, namespace=namespace)
        self.sio.on("disconnect", self._on_disconnect, namespace=namespace)
        if connect:
            self.connect()

    def connect(self) -> None:
        """Connect over WebSocket.

        :raise TransportError: If the server cannot be reached.
        """
        import socketio

        try:
            self.sio.connect(
                self.url,
                headers=self.headers,
                transports=["websocket"],
                namespaces=[self.namespace],
                socketio_path=self.socketio_path,
                wait_timeout=self.timeout or 30,
            )
        except socketio.exceptions.ConnectionError as exc:
            raise TransportError(
                "not_connected", f"Could not connect to {self.url}: {exc}"
            ) from exc

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def sid(self) -> str | None:
        """The socket's session id on the namespace, ``request.sid``."""
        return t.cast("str | None", self.sio.get_sid(self.namespace))

    def request(self, *args: t.Any, **kwargs: t.Any) -> ClientResponse:
        """Send a request described as for Flask's test client:
        ``request("/todos", method="POST", json={...})``.

        :param timeout: Seconds to wait for this answer, instead of the
            client's.
        :raise TransportError: If no answer comes.
        :raise ValueError: If the request cannot be sent over a socket.
        """
        timeout = kwargs.pop("timeout", self.timeout)
        request = _build(self.url, self.request_headers, args, kwargs)
        return _response(self._call(request.event, request.payload, timeout))

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
        to this socket (to it, its rooms, or everyone). It runs in the
        client's background thread."""
        self.sio.on(event, handler, namespace=self.namespace)

    def close(self) -> None:
        """Disconnect; requests in flight raise :class:`TransportError`."""
        self.sio.disconnect()
        self._fail_pending("disconnected", "The client was closed.")

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "connected" if self.connected else "disconnected"
        return f"<{type(self).__name__} {self.url} {state}>"

    # -- internals --------------------------------------------------------

    def _on_connect(self) -> None:
        self._connected.set()

    def _on_disconnect(self, *args: t.Any) -> None:
        self._connected.clear()
        self._fail_pending(
            "disconnected",
            "The connection dropped before the server answered; the request"
            " may or may not have run.",
        )

    def _fail_pending(self, code: str, message: str) -> None:
        with self._lock:
            pending = list(self._pending.values())
            self._pending.clear()
        for entry in pending:
            entry.error = TransportError(code, message)
            entry.done.set()

    def _call(
        self, event: str, payload: dict[str, t.Any], timeout: float | None
    ) -> t.Any:
        if not self._connected.wait(timeout):
            raise TransportError(
                "not_connected",
                f"The client is not connected to {self.url}"
                + (f" (waited {timeout} s)." if timeout else "."),
            )
        entry = _Pending()
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

        try:
            self.sio.emit(event, payload, namespace=self.namespace, callback=answer)
        except Exception as exc:
            with self._lock:
                self._pending.pop(key, None)
            raise TransportError(
                "not_connected", f"The request could not be sent: {exc}"
            ) from exc
        if not entry.done.wait(timeout):
            with self._lock:
                late = self._pending.pop(key, None) is None
            if not late or not entry.done.wait(1):
                raise TransportError(
                    "timeout",
                    f"No answer to {event.upper()} {payload['url']} within"
                    f" {timeout} s.",
                )
        if entry.error is not None:
            raise entry.error
        return entry.jwr


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
) -> t.Any:
    if request_headers:
        headers = dict(request_headers)
        headers.update(dict(kwargs.get("headers") or {}))
        kwargs["headers"] = headers
    kwargs.setdefault("base_url", url)
    return build_request(EnvironBuilder, *args, **kwargs)


def _response(jwr: t.Any) -> ClientResponse:
    data, status, headers = response_parts(jwr)
    response = ClientResponse([data] if data else [], status, headers)
    response.jwr = jwr
    return response


class AsyncClient:
    """A connection to a Flask-SockReq server, for asyncio: the methods of
    :class:`Client`, as coroutines. Connect with ``await client.connect()``
    or ``async with AsyncClient(url) as client``.

    It runs on python-socketio's ``AsyncClient``, which needs aiohttp:
    install ``Flask-SockReq[asyncio]``.

    :param url: The server, such as ``"http://127.0.0.1:5000"``.
    :param headers: Headers of the handshake.
    :param namespace: The server's ``SOCKREQ_NAMESPACE``.
    :param timeout: Seconds to wait for an answer (and for the connection)
        before :class:`TransportError`; None waits for ever.
    :param request_headers: Headers sent with every request.
    :param socketio_path: The Socket.IO path of the server.
    :param client_options: Passed on to :class:`socketio.AsyncClient`.
    """

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

        self.url = url.rstrip("/")
        self.headers = dict(headers or {})
        self.namespace = namespace
        self.timeout = timeout
        #: Headers sent with every request; change them at any time.
        self.request_headers = dict(request_headers or {})
        self.socketio_path = socketio_path
        #: The python-socketio client.
        self.sio: socketio.AsyncClient = socketio.AsyncClient(**client_options)
        self._pending: set[asyncio.Future[t.Any]] = set()
        self.sio.on("disconnect", self._on_disconnect, namespace=namespace)

    async def connect(self) -> None:
        """Connect over WebSocket.

        :raise TransportError: If the server cannot be reached.
        """
        import socketio

        try:
            await self.sio.connect(
                self.url,
                headers=self.headers,
                transports=["websocket"],
                namespaces=[self.namespace],
                socketio_path=self.socketio_path,
                wait_timeout=self.timeout or 30,
            )
        except socketio.exceptions.ConnectionError as exc:
            # Close the HTTP session Engine.IO opened for the attempt.
            await self.sio.eio.disconnect(abort=True)
            raise TransportError(
                "not_connected", f"Could not connect to {self.url}: {exc}"
            ) from exc

    @property
    def connected(self) -> bool:
        return bool(self.sio.connected) and self.sid is not None

    @property
    def sid(self) -> str | None:
        """The socket's session id on the namespace, ``request.sid``."""
        return t.cast("str | None", self.sio.get_sid(self.namespace))

    async def request(self, *args: t.Any, **kwargs: t.Any) -> ClientResponse:
        """Send a request described as for Flask's test client; see
        :meth:`Client.request`.

        :raise TransportError: If no answer comes.
        """
        timeout = kwargs.pop("timeout", self.timeout)
        request = _build(self.url, self.request_headers, args, kwargs)
        if not self.connected:
            raise TransportError(
                "not_connected", f"The client is not connected to {self.url}."
            )
        answer: asyncio.Future[t.Any] = asyncio.get_running_loop().create_future()

        def acknowledge(*args: t.Any) -> None:
            if not answer.done():
                answer.set_result(args[0] if len(args) == 1 else list(args))

        self._pending.add(answer)
        try:
            await self.sio.emit(
                request.event,
                request.payload,
                namespace=self.namespace,
                callback=acknowledge,
            )
            jwr = await asyncio.wait_for(answer, timeout)
        except asyncio.TimeoutError:
            raise TransportError(
                "timeout",
                f"No answer to {request.event.upper()} {request.payload['url']}"
                f" within {timeout} s.",
            ) from None
        finally:
            self._pending.discard(answer)
        return _response(jwr)

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
        of each ``event`` the server pushes to this socket."""
        self.sio.on(event, handler, namespace=self.namespace)

    async def close(self) -> None:
        """Disconnect; requests in flight raise :class:`TransportError`."""
        await self.sio.disconnect()
        self._fail_pending("disconnected", "The client was closed.")

    async def __aenter__(self) -> AsyncClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "connected" if self.connected else "disconnected"
        return f"<{type(self).__name__} {self.url} {state}>"

    def _on_disconnect(self, *args: t.Any) -> None:
        self._fail_pending(
            "disconnected",
            "The connection dropped before the server answered; the request"
            " may or may not have run.",
        )

    def _fail_pending(self, code: str, message: str) -> None:
        for answer in list(self._pending):
            if not answer.done():
                answer.set_exception(TransportError(code, message))
