"""The test client: ``app.test_client()``'s API, over an in-process socket.

It drives the app's real python-socketio server in-process through
Flask-SocketIO's :class:`~flask_socketio.test_client.SocketIOTestClient`, so
every request takes the path of a real socket request: the event handler,
payload validation, the connection's cookie jar, the replay through the WSGI
pipeline and the JWR encoding, and the packet encoding both ways.
"""

from __future__ import annotations

import typing as t
from urllib.parse import urlsplit

from flask.testing import EnvironBuilder
from flask.testing import FlaskClient
from werkzeug.test import TestResponse
from werkzeug.wrappers import Request as WerkzeugRequest

from .connection import Connection
from .cookies import CookieJar
from .payload import build_request
from .payload import response_parts
from .sockets import AUTH_KEY

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask
    from flask_socketio.test_client import SocketIOTestClient

    from .extension import SockReqState

_REDIRECTS = frozenset({301, 302, 303, 305, 307, 308})
_MAX_REDIRECTS = 30


class _RecordingJar(CookieJar):
    """A connection's cookie jar that remembers the ``Set-Cookie`` headers it
    was given, to hand them on to a Flask test client."""

    def __init__(self, header: str | None, host: str) -> None:
        super().__init__(header, host)
        self.received: list[tuple[str, list[str]]] = []

    def update(self, set_cookie_headers: list[str], path: str) -> None:
        self.received.append((path, list(set_cookie_headers)))
        super().update(set_cookie_headers, path)


class SockReqTestClient:
    """Send requests to an app over an in-process Socket.IO connection, with
    the API of Flask's test client: ``get``, ``post``, ..., ``open`` take the
    same arguments and return the same :class:`~werkzeug.test.TestResponse`.

    Create one with :meth:`SockReq.test_client <flask_sockreq.SockReq.test_client>`
    or :func:`test_client`.

    :param app: The app, with :class:`~flask_sockreq.SockReq` set up.
    :param flask_test_client: A Flask test client whose cookies the socket
        shares: its cookies are sent with every socket request, and the
        cookies socket responses set go into it, as if one browser made both
        kinds of request.
    :param headers: Headers of the Socket.IO handshake, such as ``Cookie``
        or ``Authorization``.
    :param namespace: The namespace to connect to; ``SOCKREQ_NAMESPACE`` by
        default.
    :param query_string: The handshake's query string.
    :param auth: The Socket.IO ``auth`` data of the connection.
    :raise RuntimeError: If SockReq is not set up on the app, or the app's
        ``connect`` handler refuses the connection.
    """

    def __init__(
        self,
        app: Flask,
        flask_test_client: FlaskClient | None = None,
        *,
        headers: dict[str, str] | None = None,
        namespace: str | None = None,
        query_string: str | None = None,
        auth: dict[str, t.Any] | None = None,
    ) -> None:
        state: SockReqState | None = app.extensions.get("sockreq")
        if state is None:
            raise RuntimeError(
                "The app has no 'SockReq': call 'SockReq(app)' or"
                " 'sockreq.init_app(app)' before creating its test client."
            )
        self.app = app
        self.state = state
        self.flask_test_client = flask_test_client
        self.namespace = namespace or state.namespace
        #: The Flask-SocketIO test client that carries the packets.
        self.socketio_client: SocketIOTestClient = state.socketio.test_client(
            app,
            namespace=self.namespace,
            query_string=query_string,
            headers=headers,
            auth=auth,
            flask_test_client=flask_test_client,
        )
        # As werkzeug's Client does: the app's response class, with the
        # test response's extras, so both clients return the same type.
        self.response_class: type[TestResponse] = type(
            "WrapperTestResponse", (TestResponse, app.response_class), {}
        )
        if not self.socketio_client.is_connected(self.namespace):
            raise RuntimeError(
                f"The test client could not connect to the namespace"
                f" {self.namespace!r}: the app's connect handler refused it."
            )
        if auth is not None:
            # As a real connection's handshake keeps it, for request.socket.auth.
            handshake = state.socketio.server.get_environ(self.sid, self.namespace)
            handshake.setdefault(AUTH_KEY, {})[self.namespace] = auth

    @property
    def sid(self) -> str:
        """The socket's session id, ``request.sid`` in the views."""
        server = self.state.socketio.server
        sid = server.manager.sid_from_eio_sid(
            self.socketio_client.eio_sid, self.namespace
        )
        if sid is None:
            raise RuntimeError("The test client is not connected.")
        return t.cast(str, sid)

    @property
    def connected(self) -> bool:
        return bool(self.socketio_client.is_connected(self.namespace))

    def open(
        self,
        *args: t.Any,
        buffered: bool = False,
        follow_redirects: bool = False,
        **kwargs: t.Any,
    ) -> TestResponse:
        """Send a request, with the arguments of
        :meth:`FlaskClient.open <flask.testing.FlaskClient.open>`.

        :param buffered: Accepted for compatibility; socket responses always
            are.
        :param follow_redirects: Follow redirects to the same server, over
            the socket, as Flask's client does; the ``history`` attribute of
            the response holds the responses redirected from.
        :raise RuntimeError: If the client is not connected.
        :raise ValueError: If the request cannot go over a socket (a method
            other than the seven, a redirect to another server).
        """
        response = self._send(args, kwargs)
        if not follow_redirects:
            return response
        history: list[TestResponse] = []
        while response.status_code in _REDIRECTS and "Location" in response.headers:
            if len(history) >= _MAX_REDIRECTS:
                raise ValueError(
                    f"More than {_MAX_REDIRECTS} redirects, the last to"
                    f" {response.headers['Location']!r}."
                )
            history.append(response)
            response = self._send(*self._redirect_args(response, kwargs))
        response.history = tuple(history)
        return response

    def get(self, *args: t.Any, **kwargs: t.Any) -> TestResponse:
        """Send a GET request; see :meth:`open`."""
        return self.open(*args, method="GET", **kwargs)

    def post(self, *args: t.Any, **kwargs: t.Any) -> TestResponse:
        """Send a POST request; see :meth:`open`."""
        return self.open(*args, method="POST", **kwargs)

    def put(self, *args: t.Any, **kwargs: t.Any) -> TestResponse:
        """Send a PUT request; see :meth:`open`."""
        return self.open(*args, method="PUT", **kwargs)

    def patch(self, *args: t.Any, **kwargs: t.Any) -> TestResponse:
        """Send a PATCH request; see :meth:`open`."""
        return self.open(*args, method="PATCH", **kwargs)

    def delete(self, *args: t.Any, **kwargs: t.Any) -> TestResponse:
        """Send a DELETE request; see :meth:`open`."""
        return self.open(*args, method="DELETE", **kwargs)

    def head(self, *args: t.Any, **kwargs: t.Any) -> TestResponse:
        """Send a HEAD request; see :meth:`open`."""
        return self.open(*args, method="HEAD", **kwargs)

    def options(self, *args: t.Any, **kwargs: t.Any) -> TestResponse:
        """Send an OPTIONS request; see :meth:`open`."""
        return self.open(*args, method="OPTIONS", **kwargs)

    def emit(self, event: str, *args: t.Any, callback: bool = False) -> t.Any:
        """Emit any other event on the connection, as Flask-SocketIO's test
        client does; with ``callback=True`` return the acknowledgement."""
        return self.socketio_client.emit(
            event, *args, callback=callback, namespace=self.namespace
        )

    def get_received(self) -> list[dict[str, t.Any]]:
        """The events the server pushed to this socket since the last call,
        as ``{"name", "args", "namespace"}``."""
        return t.cast(
            "list[dict[str, t.Any]]",
            self.socketio_client.get_received(namespace=self.namespace),
        )

    def disconnect(self) -> None:
        """Disconnect from the server; safe to call twice."""
        if self.connected:
            self.socketio_client.disconnect(namespace=self.namespace)

    def __enter__(self) -> SockReqTestClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.disconnect()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.app.name!r} on {self.namespace!r}>"

    # -- internals --------------------------------------------------------

    def _builder(self, *args: t.Any, **kwargs: t.Any) -> EnvironBuilder:
        return EnvironBuilder(self.app, *args, **kwargs)

    def _send(self, args: tuple[t.Any, ...], kwargs: dict[str, t.Any]) -> TestResponse:
        if not self.connected:
            raise RuntimeError(
                "The test client is not connected: create a new one with"
                " 'sockreq.test_client(app)'."
            )
        request = build_request(self._builder, *args, **kwargs)
        jar = self._share_cookies(request.environ)
        jwr = self.socketio_client.emit(
            request.event, request.payload, callback=True, namespace=self.namespace
        )
        if jwr is None:
            # The view ran past SOCKREQ_TIMEOUT: the watchdog's 504 went to
            # the (simulated) wire, and the late answer was dropped.
            jwr = self.state.timeout_jwr()
        if jar is not None:
            self._copy_cookies_back(jar, request.environ)
        data, status, headers = response_parts(jwr)
        response = self.response_class(
            [data] if data else [],
            str(status),
            headers,
            WerkzeugRequest(request.environ),
        )
        response.jwr = jwr  # type: ignore[attr-defined]
        return response

    def _connection(self) -> Connection:
        server = self.state.socketio.server
        sid = self.sid
        handshake = server.get_environ(sid, namespace=self.namespace)
        return Connection.of(server, sid, self.namespace, handshake)

    def _share_cookies(self, environ: dict[str, t.Any]) -> _RecordingJar | None:
        client = self.flask_test_client
        if client is None or getattr(client, "_cookies", None) is None:
            return None
        # The Flask client's jar is the one truth: the connection's jar
        # starts each request from the cookies the Flask client would send.
        cookie_environ = dict(environ)
        client._add_cookies_to_wsgi(cookie_environ)
        conn = self._connection()
        jar = _RecordingJar(cookie_environ.get("HTTP_COOKIE"), conn.jar.host)
        conn.jar = jar
        return jar

    def _copy_cookies_back(self, jar: _RecordingJar, environ: dict[str, t.Any]) -> None:
        client = t.cast(FlaskClient, self.flask_test_client)
        server_name = urlsplit(f"http://{environ.get('HTTP_HOST', 'localhost')}")
        for path, headers in jar.received:
            client._update_cookies_from_response(
                server_name.hostname or "localhost", path, headers
            )

    def _redirect_args(
        self, response: TestResponse, kwargs: dict[str, t.Any]
    ) -> tuple[tuple[t.Any, ...], dict[str, t.Any]]:
        request_environ = response.request.environ
        location = urlsplit(response.headers["Location"])
        host = request_environ.get("HTTP_HOST", "localhost")
        if location.netloc and location.netloc != host:
            raise ValueError(
                f"The response redirects to {response.headers['Location']!r},"
                " another server, which a socket cannot reach."
            )
        path = location.path or request_environ.get("PATH_INFO", "/")
        new_kwargs: dict[str, t.Any] = {
            "headers": kwargs.get("headers"),
            "query_string": location.query or None,
        }
        method = request_environ["REQUEST_METHOD"]
        if response.status_code in (307, 308):
            new_kwargs["method"] = method
            for key in ("data", "json", "content_type", "input_stream"):
                if key in kwargs:
                    new_kwargs[key] = kwargs[key]
        else:
            new_kwargs["method"] = "HEAD" if method == "HEAD" else "GET"
        return (path,), new_kwargs


def test_client(
    app: Flask, flask_test_client: FlaskClient | None = None, **kwargs: t.Any
) -> SockReqTestClient:
    """Create a :class:`SockReqTestClient` for ``app``; the arguments are
    those of the class."""
    return SockReqTestClient(app, flask_test_client, **kwargs)


# Not a test for pytest to collect.
test_client.__test__ = False  # type: ignore[attr-defined]
