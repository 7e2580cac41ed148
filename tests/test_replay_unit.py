"""``flask_sockreq.replay`` without a socket: the environ a request is built
from, and the two ways a request runs through the app (Flask's request
handling directly, or the WSGI pipeline), which must answer alike."""

from __future__ import annotations

import io
import logging
import types
import typing as t

import pytest
from flask import Flask
from flask import g
from flask import request
from flask import Response
from werkzeug.exceptions import InternalServerError
from werkzeug.exceptions import NotFound
from werkzeug.middleware.proxy_fix import ProxyFix

from flask_sockreq.protocol import parse_request
from flask_sockreq.protocol import ProtocolError
from flask_sockreq.replay import _begin_stream
from flask_sockreq.replay import _Rest
from flask_sockreq.replay import _run_wsgi
from flask_sockreq.replay import build_environ
from flask_sockreq.replay import Dispatcher
from flask_sockreq.replay import environ_template
from flask_sockreq.replay import Reply
from flask_sockreq.replay import SOCKET_KEY
from flask_sockreq.replay import take_escaped_error

#: A WebSocket handshake as a server hands it to the app.
HANDSHAKE: dict[str, t.Any] = {
    "REQUEST_METHOD": "GET",
    "PATH_INFO": "/socket.io/",
    "QUERY_STRING": "EIO=4&transport=websocket",
    "SCRIPT_NAME": "/app",
    "SERVER_NAME": "127.0.0.1",
    "SERVER_PORT": "5000",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "REMOTE_ADDR": "10.1.2.3",
    "REMOTE_PORT": "51000",
    "REMOTE_USER": "ada",
    "HTTPS": "on",
    "CONTENT_TYPE": "text/plain",
    "CONTENT_LENGTH": "5",
    "wsgi.version": (1, 0),
    "wsgi.url_scheme": "https",
    "wsgi.input": io.BytesIO(b"hello"),
    "wsgi.errors": io.StringIO(),
    "wsgi.multithread": True,
    "wsgi.multiprocess": False,
    "wsgi.run_once": False,
    "wsgi.file_wrapper": object(),
    "werkzeug.socket": object(),
    "werkzeug.request": object(),
    "flask.app": "the app",
    "saved_session": {"a": 1},
    "HTTP_HOST": "example.com",
    "HTTP_COOKIE": "session=abc",
    "HTTP_USER_AGENT": "Mozilla/5.0",
    "HTTP_ACCEPT_LANGUAGE": "fr",
    "HTTP_AUTHORIZATION": "Bearer t",
    "HTTP_ORIGIN": "https://example.com",
    "HTTP_X_FORWARDED_FOR": "1.2.3.4",
    "HTTP_CONNECTION": "Upgrade",
    "HTTP_UPGRADE": "websocket",
    "HTTP_ACCEPT": "*/*",
    "HTTP_ACCEPT_ENCODING": "gzip",
    "HTTP_CACHE_CONTROL": "no-cache",
    "HTTP_PRAGMA": "no-cache",
    "HTTP_RANGE": "bytes=0-1",
    "HTTP_TRANSFER_ENCODING": "chunked",
    "HTTP_TE": "trailers",
    "HTTP_EXPECT": "100-continue",
    "HTTP_KEEP_ALIVE": "5",
    "HTTP_CONTENT_LENGTH": "5",
    "HTTP_CONTENT_TYPE": "text/plain",
    "HTTP_PRIORITY": "u=1",
    "HTTP_SEC_WEBSOCKET_KEY": "k",
    "HTTP_SEC_WEBSOCKET_VERSION": "13",
    "HTTP_SEC_FETCH_MODE": "websocket",
    "HTTP_SEC_CH_UA": '"Chromium"',
    "HTTP_IF_NONE_MATCH": '"v1"',
    "HTTP_IF_MODIFIED_SINCE": "Sun, 06 Nov 1994 08:49:37 GMT",
    "HTTP_IF_MATCH": '"v2"',
    "HTTP_IF_RANGE": '"v3"',
}

#: What a request inherits from that handshake.
TEMPLATE = {
    "SCRIPT_NAME": "/app",
    "SERVER_NAME": "127.0.0.1",
    "SERVER_PORT": "5000",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "REMOTE_ADDR": "10.1.2.3",
    "REMOTE_PORT": "51000",
    "REMOTE_USER": "ada",
    "HTTPS": "on",
    "wsgi.version": (1, 0),
    "wsgi.url_scheme": "https",
    "wsgi.errors": HANDSHAKE["wsgi.errors"],
    "wsgi.multithread": True,
    "wsgi.multiprocess": False,
    "wsgi.run_once": False,
    "flask.app": "the app",
    "HTTP_HOST": "example.com",
    "HTTP_COOKIE": "session=abc",
    "HTTP_USER_AGENT": "Mozilla/5.0",
    "HTTP_ACCEPT_LANGUAGE": "fr",
    "HTTP_AUTHORIZATION": "Bearer t",
    "HTTP_ORIGIN": "https://example.com",
    "HTTP_X_FORWARDED_FOR": "1.2.3.4",
    "HTTP_SEC_CH_UA": '"Chromium"',
}


# --- environ_template ----------------------------------------------------------


def test_template_takes_what_belongs_to_the_connection():
    assert environ_template(HANDSHAKE) == TEMPLATE


@pytest.mark.parametrize(
    "key",
    [
        "HTTP_IF_NONE_MATCH",
        "HTTP_IF_MODIFIED_SINCE",
        "HTTP_IF_MATCH",
        "HTTP_IF_UNMODIFIED_SINCE",
        "HTTP_IF_RANGE",
        "HTTP_CONNECTION",
        "HTTP_UPGRADE",
        "HTTP_ACCEPT",
        "HTTP_ACCEPT_ENCODING",
        "HTTP_CACHE_CONTROL",
        "HTTP_PRAGMA",
        "HTTP_RANGE",
        "HTTP_TRANSFER_ENCODING",
        "HTTP_TE",
        "HTTP_EXPECT",
        "HTTP_KEEP_ALIVE",
        "HTTP_CONTENT_LENGTH",
        "HTTP_CONTENT_TYPE",
        "HTTP_PRIORITY",
        "HTTP_SEC_WEBSOCKET_PROTOCOL",
        "HTTP_SEC_FETCH_SITE",
    ],
)
def test_upgrade_request_headers_are_not_inherited(key):
    handshake = {"HTTP_HOST": "h", key: "x", "HTTP_X_KEPT": "k"}
    assert environ_template(handshake) == {"HTTP_HOST": "h", "HTTP_X_KEPT": "k"}


@pytest.mark.parametrize(
    "key",
    [
        "HTTP_IFRAME",
        "HTTP_ACCEPT_LANGUAGE",
        "HTTP_SEC_CH_UA_MOBILE",
        "HTTP_TEA",
        "HTTP_X_TE",
        "HTTP_CONNECTIONS",
    ],
)
def test_client_headers_are_inherited(key):
    assert environ_template({key: "v"}) == {key: "v"}


def test_template_without_optional_keys():
    assert environ_template({"PATH_INFO": "/socket.io/", "wsgi.input": None}) == {}


def test_template_puts_back_what_proxy_fix_rewrote():
    handshake = {
        "REMOTE_ADDR": "1.2.3.4",
        "HTTP_HOST": "public.example",
        "wsgi.url_scheme": "https",
        "werkzeug.proxy_fix.orig": {
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1:8000",
            "wsgi.url_scheme": "http",
            "SERVER_NAME": None,
        },
        "SERVER_NAME": "rewritten",
    }
    assert environ_template(handshake) == {
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.url_scheme": "http",
    }
    handshake["werkzeug.proxy_fix.orig"] = {}
    assert environ_template(handshake)["REMOTE_ADDR"] == "1.2.3.4"


# --- build_environ -------------------------------------------------------------


#: What stands for the request's Socket (the test client's exception hook
#: looks up its id).
SOCKET = types.SimpleNamespace(id="not-a-connected-socket")


def environ_for(
    payload: dict[str, t.Any],
    method: str = "get",
    template: dict[str, t.Any] | None = None,
    **kwargs: t.Any,
) -> dict[str, t.Any]:
    req = parse_request(method, payload, ("example.com",))
    return build_environ(
        dict(TEMPLATE if template is None else template), req, SOCKET, **kwargs
    )


def test_build_environ_of_a_get():
    environ = environ_for({"url": "/app/items/caf%C3%A9?q=1", "headers": {"X-A": "1"}})
    body = environ.pop("wsgi.input")
    assert body.read() == b""
    template = {key: value for key, value in TEMPLATE.items() if key != "HTTP_COOKIE"}
    assert environ == {
        **template,
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/items/caf\u00c3\u00a9",
        "QUERY_STRING": "q=1",
        "REQUEST_URI": "/app/items/caf%C3%A9?q=1",
        "RAW_URI": "/app/items/caf%C3%A9?q=1",
        "HTTP_X_A": "1",
        SOCKET_KEY: SOCKET,
    }
    assert "HTTP_COOKIE" not in environ_for({"url": "/"}, cookie=None)
    assert "CONTENT_LENGTH" not in environ


def test_build_environ_of_a_post():
    environ = environ_for({"url": "/app/e", "data": b"\x00" * 10}, "post", cookie="a=1")
    assert environ["wsgi.input"].read() == b"\x00" * 10
    assert environ["CONTENT_LENGTH"] == "10"
    assert environ["CONTENT_TYPE"] == "application/octet-stream"
    assert environ["HTTP_COOKIE"] == "a=1"
    assert environ["REQUEST_URI"] == environ["RAW_URI"] == "/app/e"
    assert environ["QUERY_STRING"] == ""
    environ = environ_for({"url": "/app/e", "data": ""}, "post")
    assert environ["CONTENT_LENGTH"] == "0"


def test_build_environ_leaves_the_template_alone():
    template = dict(TEMPLATE)
    req = parse_request("post", {"url": "/app/x", "data": "b"}, ())
    build_environ(template, req, SOCKET, cookie="c=1")
    assert template == TEMPLATE


@pytest.mark.parametrize(
    ("url", "script_name", "path_info"),
    [
        ("/app", "/app", ""),
        ("/app/", "/app", "/"),
        ("/app/x", "/app", "/x"),
        ("/apple", "/app", "/apple"),
        ("/other/app/x", "/app", "/other/app/x"),
        ("/x", "", "/x"),
    ],
)
def test_script_root(url, script_name, path_info):
    environ = environ_for({"url": url}, template={"SCRIPT_NAME": script_name})
    assert environ["PATH_INFO"] == path_info
    assert environ["SCRIPT_NAME"] == script_name
    assert environ["REQUEST_URI"] == url


@pytest.mark.parametrize(
    "url",
    [
        "/socket.io",
        "/socket.io/",
        "/socket.io/?EIO=4",
        "/app/socket.io/x",
        "/socket%2Eio/",
    ],
)
def test_the_socketio_path_is_refused(url):
    with pytest.raises(ProtocolError) as info:
        environ_for({"url": url})
    assert info.value.code == "invalid_url"
    assert info.value.message == (
        f"The url {url!r} is under the Socket.IO path '/socket.io/', which socket"
        " requests cannot reach."
    )


@pytest.mark.parametrize(
    "url", ["/socket.iox", "/socket", "/x/socket.io/", "/socket.i"]
)
def test_paths_near_the_socketio_path(url):
    assert environ_for({"url": url}, template={})["PATH_INFO"] == url


def test_another_socketio_path():
    with pytest.raises(ProtocolError):
        environ_for({"url": "/ws/x"}, template={}, socketio_path="/ws/")
    with pytest.raises(ProtocolError):
        environ_for({"url": "/ws"}, template={}, socketio_path="/ws/")
    assert environ_for({"url": "/socket.io/"}, template={}, socketio_path="/ws/")


def test_payload_headers_override_the_template():
    environ = environ_for(
        {"url": "/", "headers": {"User-Agent": "other", "Content-Type": "a/b"}},
        "post",
    )
    assert environ["HTTP_USER_AGENT"] == "other"
    assert environ["CONTENT_TYPE"] == "a/b"


# --- Dispatcher ----------------------------------------------------------------


class Abort(BaseException):
    """Not an Exception: Flask lets it through, and so must the replay."""


def make_app(**config: t.Any) -> Flask:
    app = Flask(__name__)
    app.config.update(config)
    seen: list[t.Any] = []
    app.extensions["seen"] = seen

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        seen.append(("teardown", type(exc).__name__ if exc else None))

    @app.teardown_appcontext
    def teardown_app(exc: BaseException | None) -> None:
        seen.append(("teardown_app", g.get("marker")))

    @app.route("/json")
    def json_view() -> t.Any:
        g.marker = request.path
        return {"path": request.path, "q": request.args.get("q")}

    @app.route("/boom")
    def boom() -> t.Any:
        raise RuntimeError("the view failed")

    @app.route("/abort")
    def abort() -> t.Any:
        raise Abort()

    @app.route("/missing")
    def missing() -> t.Any:
        from werkzeug.exceptions import NotFound

        raise NotFound()

    @app.route("/pieces")
    def pieces() -> t.Any:
        return Response([b"ab", b"cd", b"ef"], mimetype="application/octet-stream")

    @app.route("/generated")
    def generated() -> t.Any:
        def generate() -> t.Iterator[bytes]:
            try:
                yield b"one"
                yield b"two"
            finally:
                seen.append(("generator closed",))

        return Response(generate(), mimetype="text/plain")

    @app.route("/nothing")
    def nothing() -> t.Any:
        def generate() -> t.Iterator[bytes]:
            try:
                yield from ()
            finally:
                seen.append(("empty generator closed",))

        return Response(generate(), mimetype="text/plain")

    @app.route("/binary")
    def binary() -> t.Any:
        return Response(bytes(range(256)) * 4, mimetype="image/png")

    @app.route("/preserve")
    def preserve() -> t.Any:
        return "kept"

    return app


def environ(app: Flask, url: str, **extra: t.Any) -> dict[str, t.Any]:
    template = {
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "flask.app": app,
    }
    req = parse_request("get", {"url": url}, ())
    result = build_environ(template, req, SOCKET)
    result.update(extra)
    return result


def wrapped(app: Flask) -> t.Any:
    def middleware(environ: t.Any, start_response: t.Any) -> t.Any:
        return app.wsgi_app(environ, start_response)

    return middleware


@pytest.fixture(params=["direct", "wsgi"])
def dispatch(request: pytest.FixtureRequest) -> t.Iterator[tuple[Flask, Dispatcher]]:
    app = make_app()
    wsgi_app = app.wsgi_app if request.param == "direct" else wrapped(app)
    dispatcher = Dispatcher(app, wsgi_app)
    assert dispatcher.direct is (request.param == "direct")
    yield app, dispatcher
    take_escaped_error()


def headers_of(reply: Reply) -> dict[str, str]:
    return dict(reply.headers)


def test_a_json_answer(dispatch):
    app, dispatcher = dispatch
    reply = dispatcher(environ(app, "/json?q=1"))
    assert reply.status == 200
    assert reply.body == b'{"path":"/json","q":"1"}\n'
    assert headers_of(reply) == {
        "Content-Type": "application/json",
        "Content-Length": "25",
    }
    assert reply.app_iter is None
    assert app.extensions["seen"] == [("teardown", None), ("teardown_app", "/json")]


def test_a_binary_answer_is_whole(dispatch):
    app, dispatcher = dispatch
    reply = dispatcher(environ(app, "/binary"))
    assert reply.body == bytes(range(256)) * 4
    assert headers_of(reply)["Content-Length"] == "1024"


def test_a_404(dispatch):
    app, dispatcher = dispatch
    reply = dispatcher(environ(app, "/missing"))
    assert reply.status == 404
    assert reply.body == NotFound().get_body().encode()
    assert app.extensions["seen"][0] == ("teardown", None)


def test_a_view_error_is_a_500_with_teardown(dispatch):
    app, dispatcher = dispatch
    reply = dispatcher(environ(app, "/boom"))
    assert reply.status == 500
    assert reply.body == InternalServerError().get_body().encode()
    assert app.extensions["seen"][0] == ("teardown", "RuntimeError")
    assert take_escaped_error() is None


def test_a_propagated_error_is_logged_answered_and_kept(caplog):
    for wsgi in (False, True):
        app = make_app(PROPAGATE_EXCEPTIONS=True)
        dispatcher = Dispatcher(app, wrapped(app) if wsgi else app.wsgi_app)
        with caplog.at_level(logging.ERROR, logger="flask_sockreq"):
            reply = dispatcher(environ(app, "/boom?x=1"))
        assert reply.status == 500
        assert reply.body == InternalServerError().get_body().encode()
        assert dict(reply.headers)["Content-Type"] == "text/html; charset=utf-8"
        record = caplog.records[-1]
        assert record.name == "flask_sockreq"
        assert record.levelno == logging.ERROR
        assert record.getMessage() == "Exception on socket request GET /boom?x=1"
        assert record.exc_info and record.exc_info[0] is RuntimeError
        error = take_escaped_error()
        assert isinstance(error, RuntimeError) and str(error) == "the view failed"
        assert take_escaped_error() is None
        assert app.extensions["seen"][0] == ("teardown", "RuntimeError")


def test_a_base_exception_goes_through(dispatch):
    app, dispatcher = dispatch
    with pytest.raises(Abort):
        dispatcher(environ(app, "/abort"))
    assert ("teardown", "Abort") in app.extensions["seen"]


def test_a_small_sequence_is_buffered_below_the_stream_limit():
    # Through the WSGI pipeline, see test_protocol_inprocess.py's
    # test_a_short_body_is_not_streamed_behind_middleware.
    app = make_app()
    dispatcher = Dispatcher(app, app.wsgi_app)
    for limit in (None, 6, 100):
        reply = dispatcher(environ(app, "/pieces"), stream_above=limit)
        assert (reply.body, reply.app_iter) == (b"abcdef", None)


def test_a_sequence_over_the_stream_limit_is_streamed(dispatch):
    app, dispatcher = dispatch
    reply = dispatcher(environ(app, "/pieces"), stream_above=5)
    assert reply.status == 200
    assert reply.body == b"ab"
    assert reply.app_iter is not None
    assert b"".join(reply.app_iter) == b"cdef"
    reply.app_iter.close()  # type: ignore[attr-defined]


def test_a_generator_is_streamed(dispatch):
    app, dispatcher = dispatch
    reply = dispatcher(environ(app, "/generated"), stream_above=10**6)
    assert reply.status == 200
    assert dict(reply.headers)["Content-Type"] == "text/plain; charset=utf-8"
    assert reply.body == b"one"
    assert app.extensions["seen"].count(("generator closed",)) == 0
    reply.app_iter.close()  # type: ignore[union-attr]
    assert app.extensions["seen"].count(("generator closed",)) == 1


def test_a_generator_is_buffered_and_closed_without_a_stream_limit(dispatch):
    app, dispatcher = dispatch
    reply = dispatcher(environ(app, "/generated"))
    assert (reply.body, reply.app_iter) == (b"onetwo", None)
    assert app.extensions["seen"].count(("generator closed",)) == 1


def test_an_empty_generator_is_buffered(dispatch):
    app, dispatcher = dispatch
    reply = dispatcher(environ(app, "/nothing"), stream_above=10)
    assert (reply.status, reply.body, reply.app_iter) == (200, b"", None)
    assert app.extensions["seen"].count(("empty generator closed",)) == 1


def test_an_outer_app_context_is_not_reused(dispatch):
    app, dispatcher = dispatch
    with app.app_context():
        g.marker = "outer"
        reply = dispatcher(environ(app, "/json"))
        assert g.marker == "outer"
    assert reply.status == 200
    assert ("teardown_app", "/json") in app.extensions["seen"]


def test_with_preserve_context_the_wsgi_pipeline_runs():
    app = make_app()
    dispatcher = Dispatcher(app, app.wsgi_app)
    assert dispatcher.direct
    kept: list[t.Any] = []
    reply = dispatcher(
        environ(app, "/preserve", **{"werkzeug.debug.preserve_context": kept.append})
    )
    assert reply.body == b"kept"
    # Only Flask.wsgi_app hands its contexts to the test client.
    assert kept


def test_when_the_dispatch_is_direct():
    app = make_app()
    assert Dispatcher(app, app.wsgi_app).direct is True
    assert Dispatcher(app, ProxyFix(app.wsgi_app)).direct is False
    assert Dispatcher(make_app(), app.wsgi_app).direct is False

    class Subclass(Flask):
        def wsgi_app(self, environ: t.Any, start_response: t.Any) -> t.Any:
            return super().wsgi_app(environ, start_response)

    other = Subclass(__name__)
    assert Dispatcher(other, other.wsgi_app).direct is False

    class Future(Flask):
        def full_dispatch_request(self, ctx: t.Any = None) -> t.Any:  # type: ignore[override]
            return super().full_dispatch_request()

    future = Future(__name__)
    assert Dispatcher(future, future.wsgi_app).direct is False


# --- the WSGI path and streams, unit by unit -------------------------------------


def test_run_wsgi_collects_written_and_returned_pieces():
    closed: list[bool] = []

    class Body(list):  # type: ignore[type-arg]
        def close(self) -> None:
            closed.append(True)

    def app(environ: t.Any, start_response: t.Any) -> t.Any:
        write = start_response("201 Created", [("X-A", "1")])
        write(b"written ")
        return Body([b"returned"])

    reply = _run_wsgi(app, {}, None)
    assert reply == Reply(201, [("X-A", "1")], b"written returned")
    assert closed == [True]
    assert _run_wsgi(lambda e, s: (s("204 No Content", []), [])[1], {}, None) == Reply(
        204, [], b""
    )


def test_run_wsgi_closes_a_failing_body():
    closed: list[bool] = []

    def pieces() -> t.Iterator[bytes]:
        try:
            yield b"a"
            raise RuntimeError("broken")
        finally:
            closed.append(True)

    def app(environ: t.Any, start_response: t.Any) -> t.Any:
        start_response("200 OK", [])
        return pieces()

    with pytest.raises(RuntimeError):
        _run_wsgi(app, {}, None)
    assert closed == [True]


def test_run_wsgi_streams_a_lazy_app():
    def app(environ: t.Any, start_response: t.Any) -> t.Any:
        def body() -> t.Iterator[bytes]:
            write = start_response("202 Accepted", [("X-Lazy", "1")])
            write(b"w")
            yield b"first"
            yield b"second"

        return body()

    reply = _run_wsgi(app, {}, 100)
    assert (reply.status, reply.headers, reply.body) == (
        202,
        [("X-Lazy", "1")],
        b"wfirst",
    )
    assert list(reply.app_iter) == [b"second"]  # type: ignore[arg-type]


@pytest.mark.parametrize(("body", "limit"), [([b"abc", b"de"], 5), ((b"abc",), 3)])
def test_run_wsgi_buffers_a_short_sequence(body, limit):
    def app(environ: t.Any, start_response: t.Any) -> t.Any:
        start_response("200 OK", [])
        return body

    reply = _run_wsgi(app, {}, limit)
    assert (reply.body, reply.app_iter) == (b"".join(body), None)
    reply = _run_wsgi(app, {}, limit - 1)
    assert reply.body == body[0]
    assert reply.app_iter is not None


def test_begin_stream_takes_the_first_piece():
    closed: list[bool] = []

    class Body:
        def __init__(self, pieces: list[bytes]) -> None:
            self.pieces = pieces

        def __iter__(self) -> t.Iterator[bytes]:
            return iter(self.pieces)

        def close(self) -> None:
            closed.append(True)

    reply = _begin_stream(200, [("A", "1")], Body([b"1", b"2", b"3"]), [b"0"])
    assert (reply.status, reply.headers, reply.body) == (200, [("A", "1")], b"01")
    rest = reply.app_iter
    assert isinstance(rest, _Rest)
    assert list(rest) == [b"2", b"3"]
    assert closed == []
    rest.close()
    assert closed == [True]
    reply = _begin_stream(204, [], Body([]), [b"w"])
    assert reply == Reply(204, [], b"w")
    assert closed == [True, True]


def test_begin_stream_closes_a_failing_body():
    closed: list[bool] = []

    class Failing:
        def __iter__(self) -> t.Iterator[bytes]:
            return self

        def __next__(self) -> bytes:
            raise Abort()

        def close(self) -> None:
            closed.append(True)

    with pytest.raises(Abort):
        _begin_stream(200, [], Failing(), [])
    assert closed == [True]


def test_begin_stream_of_bodies_without_close():
    reply = _begin_stream(200, [], [b"x", b"y"], [])
    assert reply.body == b"x"
    reply.app_iter.close()  # type: ignore[union-attr]
    assert _begin_stream(200, [], [], []).app_iter is None
    with pytest.raises(ZeroDivisionError):
        _begin_stream(200, [], (1 // 0 for _ in [1]), [])


def test_reply_defaults():
    assert Reply(200, [], b"").app_iter is None


def test_an_error_the_app_ignores_is_not_passed_to_teardown():
    class Quiet(Flask):
        def should_ignore_error(self, error: BaseException | None) -> bool:
            return isinstance(error, RuntimeError)

    for wrap in (False, True):
        app = Quiet(__name__)
        seen: list[t.Any] = []

        @app.teardown_request
        def teardown(exc: BaseException | None, seen: list[t.Any] = seen) -> None:
            seen.append(exc)

        @app.route("/boom")
        def boom() -> t.Any:
            raise RuntimeError("ignored")

        dispatcher = Dispatcher(app, wrapped(app) if wrap else app.wsgi_app)
        assert dispatcher(environ(app, "/boom")).status == 500
        assert seen == [None]


def test_a_body_written_before_an_empty_iterable_is_kept_whole():
    def app(environ: t.Any, start_response: t.Any) -> t.Any:
        write = start_response("200 OK", [])
        write(b"ab")
        write(b"cd")
        return iter(())

    reply = _run_wsgi(app, {}, 100)
    assert reply == Reply(200, [], b"abcd")
