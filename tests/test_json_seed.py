"""``request.get_json()`` over the socket: the value the Socket.IO packet
already decoded, not a second parse of the body, where that cannot differ
from what Flask would parse; otherwise the body parsed as over HTTP.

Each case runs the same request over HTTP (``app.test_client()``) and over an
in-process socket (``sockreq.test_client()``) and compares what the view saw.
"""

from __future__ import annotations

import decimal
import io
import json
import typing as t

import pytest
from flask import Flask
from flask import jsonify
from flask import request
from flask.json.provider import DefaultJSONProvider
from flask_socketio import SocketIO

from flask_sockreq import is_socket
from flask_sockreq import SockReq
from flask_sockreq.testing import test_client as socket_client

VALUES: list[t.Any] = [
    {"a": 1, "b": [1, 2.5, None, True, False], "c": {"d": "e"}},
    {"unicode": "żółć ☃ 𝄞", "escapes": '"\\/\b\f\n\r\t\u0001'},
    {"big": 2**70, "neg": -(2**65), "float": 0.1 + 0.2, "exp": 1e300},
    [],
    {},
    "a string",
    12345,
    [{"n": i, "s": "x" * i} for i in range(200)],
]


class DecimalProvider(DefaultJSONProvider):
    """Reads floats as :class:`~decimal.Decimal`, as some apps do."""

    def loads(self, s: str | bytes, **kwargs: t.Any) -> t.Any:
        return json.loads(s, parse_float=decimal.Decimal, **kwargs)


def make_app(provider: type[DefaultJSONProvider] | None = None) -> Flask:
    app = Flask(__name__)
    if provider is not None:
        app.json_provider_class = provider
        app.json = provider(app)
    app.config["SOCKREQ_ACCESS_LOG"] = False
    SockReq(app, SocketIO(app, async_mode="threading"))

    @app.post("/echo")
    def echo() -> t.Any:
        cached = getattr(request, "_cached_json", (Ellipsis, Ellipsis))
        value = request.get_json()
        return jsonify(
            seeded=cached[0] is not Ellipsis,
            value=value,
            repr=repr(value),
            types=_types(value),
            body=request.get_data(as_text=True),
            socket=is_socket(),
        )

    @app.post("/mutate")
    def mutate() -> t.Any:
        value = request.get_json()
        value["added"] = True
        return jsonify(again=request.get_json())

    @app.post("/modes")
    def modes() -> t.Any:
        silent = request.get_json(silent=True)
        forced = request.get_json(force=True)
        return jsonify(silent=silent, forced=forced)

    @app.post("/strict")
    def strict() -> t.Any:
        return jsonify(value=request.get_json())

    return app


def _types(value: t.Any) -> t.Any:
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(v) for v in value]
    return type(value).__name__


@pytest.fixture()
def app() -> Flask:
    return make_app()


def both(app: Flask, path: str, **kwargs: t.Any) -> tuple[t.Any, t.Any]:
    """The response to the same request over HTTP and over the socket."""
    http = app.test_client().post(path, **kwargs)
    # Not in a ``with`` block: that preserves the request context, which
    # takes the WSGI path (as middleware does), where nothing is seeded.
    client = socket_client(app)
    try:
        sock = client.post(path, **kwargs)
        sock.get_data()
    finally:
        client.disconnect()
    return http, sock


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_get_json_is_the_same_value_as_over_http(app: Flask, value: t.Any) -> None:
    http, sock = both(app, "/echo", json=value)
    assert http.status_code == sock.status_code == 200
    h, s = http.get_json(), sock.get_json()
    assert s["socket"] is True and h["socket"] is False
    assert s["value"] == h["value"] == value
    assert s["repr"] == h["repr"]
    assert s["types"] == h["types"]
    # The body a view reads is still the JSON text of the same value.
    assert json.loads(s["body"]) == value


def test_the_socket_request_does_not_parse_the_body_again(app: Flask) -> None:
    http, sock = both(app, "/echo", json={"a": [1, 2, 3]})
    assert http.get_json()["seeded"] is False
    assert sock.get_json()["seeded"] is True


def test_the_value_is_cached_like_a_parsed_body(app: Flask) -> None:
    http, sock = both(app, "/mutate", json={"x": 1})
    assert http.get_json() == sock.get_json() == {"again": {"x": 1, "added": True}}


def test_a_custom_json_provider_parses_the_body_itself() -> None:
    app = make_app(DecimalProvider)
    http, sock = both(app, "/echo", json={"price": 1.10, "n": [0.5]})
    h, s = http.get_json(), sock.get_json()
    assert s["seeded"] is False
    assert s["repr"] == h["repr"]
    assert s["types"] == h["types"] == {"price": "Decimal", "n": ["Decimal"]}


def test_a_request_that_is_not_json_is_refused_as_over_http(app: Flask) -> None:
    # Data sent as JSON but labelled text/plain: get_json() must refuse it
    # (415) as Flask does, not return the seeded value.
    headers = {"Content-Type": "text/plain"}
    http, sock = both(app, "/strict", json={"a": 1}, headers=headers)
    assert http.status_code == sock.status_code == 415
    http, sock = both(app, "/modes", json={"a": 1}, headers=headers)
    assert http.status_code == sock.status_code == 200
    assert http.get_json() == sock.get_json() == {"silent": None, "forced": {"a": 1}}
    # And the server serves the next request as usual.
    http, sock = both(app, "/echo", json=[1])
    assert sock.get_json()["value"] == [1]


def test_a_body_that_is_not_json_is_a_400_as_over_http(app: Flask) -> None:
    headers = {"Content-Type": "application/json"}
    http, sock = both(app, "/strict", data=b"{not json", headers=headers)
    assert http.status_code == sock.status_code == 400
    http, sock = both(app, "/echo", json={"ok": True})
    assert sock.get_json()["value"] == {"ok": True}


def test_a_preserved_context_parses_the_body(app: Flask) -> None:
    with socket_client(app) as client:
        reply = client.post("/echo", json={"kept": [1, 2]})
    assert reply.get_json()["seeded"] is False
    assert reply.get_json()["value"] == {"kept": [1, 2]}


def test_middleware_sees_the_body_and_the_view_the_value(app: Flask) -> None:
    seen: list[bytes] = []
    inner = app.wsgi_app

    def middleware(environ: t.Any, start_response: t.Any) -> t.Any:
        stream = environ["wsgi.input"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = stream.read(length)
        seen.append(body)
        environ["wsgi.input"] = io.BytesIO(body)
        return inner(environ, start_response)

    app.wsgi_app = middleware  # type: ignore[method-assign]
    value = {"through": ["middleware", 1, 2.5]}
    http, sock = both(app, "/echo", json=value)
    assert http.get_json()["value"] == sock.get_json()["value"] == value
    assert len(seen) == 2 and json.loads(seen[0]) == json.loads(seen[1]) == value


def test_a_body_over_max_content_length_is_a_413_as_over_http(app: Flask) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 100
    http, sock = both(app, "/strict", json={"a": "x" * 500})
    assert http.status_code == sock.status_code == 413
    # Within the limit it is read, and seeded, as before.
    http, sock = both(app, "/echo", json={"a": "x" * 10})
    assert http.status_code == sock.status_code == 200
    assert sock.get_json()["seeded"] is True


def test_a_json_module_given_to_socketio_leaves_the_body_to_flask() -> None:
    """Flask-SocketIO's ``json=`` decodes the packets with the app's own
    module, whose values need not be the standard module's: no seeding."""
    import types

    from socketio import packet as sio_packet

    own = types.SimpleNamespace(loads=json.loads, dumps=json.dumps)
    before = sio_packet.Packet.json
    try:
        app = Flask(__name__)
        app.config["SOCKREQ_ACCESS_LOG"] = False
        SockReq(app, SocketIO(app, async_mode="threading", json=own))

        @app.post("/echo")
        def echo() -> t.Any:
            cached = getattr(request, "_cached_json", (Ellipsis, Ellipsis))
            return jsonify(seeded=cached[0] is not Ellipsis, value=request.get_json())

        assert app.extensions["sockreq"].seed_json is False
        http, sock = both(app, "/echo", json={"a": [1, 2.5]})
        assert sock.get_json() == {"seeded": False, "value": {"a": [1, 2.5]}}
        assert http.get_json() == sock.get_json()
    finally:
        # python-socketio sets the module on its base packet class, for the
        # whole process.
        sio_packet.Packet.json = before
