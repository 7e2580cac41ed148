"""Every ``SOCKREQ_*`` key has a test that fails if the key is ignored.

:data:`KEY_TESTS` names, for each key of ``flask_sockreq.extension._DEFAULTS``,
the tests that set it to something else than its default and see the
difference; a new key without one fails :func:`test_every_key_has_a_test`.
The keys whose other tests need a real server get an in-process test here
too, so that a quick run (and the mutation tests) sees them.
"""

from __future__ import annotations

import importlib
import logging
import typing as t

import pytest
from flask import Flask
from flask import Response

from flask_sockreq.extension import _DEFAULTS
from flask_sockreq.streams import hello
from tests.apps import create_app
from tests.apps import pattern

#: key -> tests ("module::function") that would fail if it were ignored.
KEY_TESTS: dict[str, list[str]] = {
    "SOCKREQ_NAMESPACE": [
        "test_config_keys::test_namespace",
        "test_extension::test_config_namespace_in_process",
        "test_extension::test_config_namespace_over_a_server",
    ],
    "SOCKREQ_ACCESS_LOG": [
        "test_config_keys::test_access_log",
        "test_access_log::test_access_log_can_be_turned_off",
    ],
    "SOCKREQ_FORBIDDEN_HEADERS": [
        "test_config_keys::test_forbidden_headers",
        "test_security::test_configured_extra_header_is_refused",
    ],
    "SOCKREQ_EXPOSE_ALL": [
        "test_exposure_unit::test_which_routes_answer_over_the_socket",
        "test_security::test_opt_in_exposes_only_marked_views",
    ],
    "SOCKREQ_ALLOW_NO_ORIGIN": [
        "test_config_keys::test_allow_no_origin",
        "test_security::test_client_without_origin_is_refused_when_configured",
    ],
    "SOCKREQ_MAX_INFLIGHT": [
        "test_config_keys::test_max_inflight",
        "test_security::test_requests_beyond_the_in_flight_cap_get_429",
    ],
    "SOCKREQ_TIMEOUT": [
        "test_testing::test_server_timeout_gives_504",
        "test_security::test_view_past_the_deadline_gets_504_and_finishes",
    ],
    "SOCKREQ_COOKIE_SYNC": ["test_config_keys::test_cookie_sync"],
    "SOCKREQ_COOKIE_SYNC_URL": ["test_config_keys::test_cookie_sync_url"],
    "SOCKREQ_COOKIE_SYNC_MAX_AGE": [
        "test_config_keys::test_cookie_sync_max_age",
        "test_security::test_cookie_sync_token_expires",
    ],
    "SOCKREQ_CLIENT_URL": [
        "test_config_keys::test_client_url",
        "test_packaging::test_the_module_imports_the_script_where_it_is_served",
    ],
    "SOCKREQ_STREAM_CHUNK_SIZE": ["test_config_keys::test_stream_chunk_size"],
    "SOCKREQ_STREAM_WINDOW": ["test_config_keys::test_stream_window"],
    "SOCKREQ_STREAM_MAX": [
        "test_config_keys::test_stream_limits_in_the_hello",
        "test_testing::test_unread_streams_past_the_limit_give_way",
    ],
    "SOCKREQ_STREAM_IDLE_TIMEOUT": [
        "test_config_keys::test_stream_limits_in_the_hello",
        "test_streams::test_credit_never_granted_times_out_and_closes_the_generator",
    ],
}


def test_every_key_has_a_test():
    assert sorted(KEY_TESTS) == sorted(_DEFAULTS)
    for key, tests in KEY_TESTS.items():
        assert tests, key
        for test in tests:
            module_name, _, function = test.partition("::")
            module = importlib.import_module(f"tests.{module_name}")
            assert callable(getattr(module, function, None)), f"{key}: no {test}"


def make_app(**config: t.Any) -> Flask:
    return create_app("threading", config={"SOCKREQ_ACCESS_LOG": False, **config})


class Raw:
    """Flask-SocketIO's test client on an app: the JWR as sent."""

    def __init__(self, app: Flask, namespace: str | None = None, **kwargs: t.Any):
        self.namespace = namespace
        self.client = app.extensions["socketio"].test_client(
            app, namespace=namespace, **kwargs
        )

    def __call__(self, event: str, url: str, **payload: t.Any) -> t.Any:
        return self.client.emit(
            event, {"url": url, **payload}, callback=True, namespace=self.namespace
        )

    def close(self) -> None:
        self.client.disconnect(namespace=self.namespace)


def test_namespace():
    app = make_app(SOCKREQ_NAMESPACE="/api")
    api = Raw(app, "/api")
    root = Raw(app)
    try:
        assert api("get", "/hello/1")["body"] == {"n": 1, "args": {}}
        assert root("get", "/hello/1") is None  # no handler on "/"
    finally:
        api.close()
        root.close()


@pytest.mark.parametrize(("value", "logged"), [(True, True), (False, False)])
def test_access_log(value, logged, caplog):
    app = create_app("threading", config={"SOCKREQ_ACCESS_LOG": value})
    app.debug = not value  # the key wins over the app's debug mode
    raw = Raw(app)
    try:
        with caplog.at_level(logging.INFO, logger="flask_sockreq"):
            assert raw("get", "/hello/1")["statusCode"] == 200
    finally:
        raw.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "flask_sockreq"]
    assert any("GET /hello/1" in line for line in lines) is logged, lines


def test_forbidden_headers():
    for forbidden, expected in (((), "t"), (("Authorization", "x-api-key"), None)):
        raw = Raw(make_app(SOCKREQ_FORBIDDEN_HEADERS=forbidden))
        try:
            headers = raw(
                "get", "/headers", headers={"Authorization": "t", "X-Api-Key": "t"}
            )["body"]
        finally:
            raw.close()
        assert headers.get("Authorization") == expected
        assert headers.get("X-Api-Key") == expected


def test_allow_no_origin():
    for allow, status in ((True, 200), (False, 403)):
        app = make_app(SOCKREQ_ALLOW_NO_ORIGIN=allow)
        without = Raw(app)
        with_origin = Raw(app, headers={"Origin": "http://localhost"})
        try:
            jwr = without("get", "/hello/1")
            assert jwr["statusCode"] == status
            if status == 403:
                assert jwr["body"] == {
                    "error": "origin_required",
                    "message": "This server serves socket requests only to"
                    " connections that sent an Origin header.",
                }
            assert with_origin("get", "/hello/1")["statusCode"] == 200
        finally:
            without.close()
            with_origin.close()


def test_max_inflight():
    assert hello(make_app().extensions["sockreq"])["maxInflight"] == 100
    app = make_app(SOCKREQ_MAX_INFLIGHT=7)
    assert hello(app.extensions["sockreq"])["maxInflight"] == 7
    # No request ever fits under a limit of 0: each is refused unrun.
    app = make_app(SOCKREQ_MAX_INFLIGHT=0)
    raw = Raw(app)
    try:
        jwr = raw("post", "/counter")
        assert jwr["statusCode"] == 429
        assert jwr["body"]["error"] == "too_many_requests"
    finally:
        raw.close()
    assert app.test_client().get("/counter").json == {"value": 0}
    raw = Raw(make_app(SOCKREQ_MAX_INFLIGHT=None))
    try:
        assert raw("post", "/counter")["statusCode"] == 200
    finally:
        raw.close()


def cookie_sync_app(**config: t.Any) -> Flask:
    app = make_app(SOCKREQ_COOKIE_SYNC=True, **config)

    @app.route("/login")
    def login() -> Response:
        response = Response("in")
        response.set_cookie("user", "ada")
        return response

    return app


def sync_token(app: Flask) -> tuple[str, str, str]:
    """Log in over the socket: the token, where to redeem it, the sid."""
    raw = Raw(app)
    try:
        jwr = raw("get", "/login")
        sid = app.extensions["socketio"].server.manager.sid_from_eio_sid(
            raw.client.eio_sid, "/"
        )
    finally:
        raw.close()
    headers = jwr["headers"]
    return headers["X-SockReq-Cookie-Sync"], headers["X-SockReq-Cookie-Sync-Url"], sid


def test_cookie_sync():
    raw = Raw(make_app())
    try:
        jwr = raw("get", "/set-cookie")
    finally:
        raw.close()
    assert "X-SockReq-Cookie-Sync" not in jwr["headers"]
    app = cookie_sync_app()
    token, url, sid = sync_token(app)
    assert url == "/_sockreq/cookies"
    http = app.test_client()
    response = http.get(url, query_string={"token": token, "sid": sid})
    assert response.status_code == 204
    assert response.headers.getlist("Set-Cookie") == ["user=ada; Path=/"]
    assert http.get_cookie("user").value == "ada"  # type: ignore[union-attr]


def test_cookie_sync_url():
    app = cookie_sync_app(SOCKREQ_COOKIE_SYNC_URL="/auth/sync")
    token, url, sid = sync_token(app)
    assert url == "/auth/sync"
    http = app.test_client()
    assert http.get("/_sockreq/cookies").status_code == 404
    response = http.get("/auth/sync", query_string={"token": token, "sid": sid})
    assert response.status_code == 204


def test_cookie_sync_max_age():
    app = cookie_sync_app(SOCKREQ_COOKIE_SYNC_MAX_AGE=0)
    token, url, sid = sync_token(app)
    response = app.test_client().get(url, query_string={"token": token, "sid": sid})
    assert response.status_code == 403
    assert response.json["error"] == "invalid_token"  # type: ignore[index]


def served(app: Flask, url: str) -> tuple[int, str]:
    with app.test_client().get(url) as response:  # closes the file
        return response.status_code, response.mimetype


def test_client_url():
    app = make_app()
    assert served(app, "/sockreq.js") == (200, "text/javascript")
    assert served(app, "/sockreq.mjs") == (200, "text/javascript")
    app = make_app(SOCKREQ_CLIENT_URL="/static/api.js")
    assert served(app, "/sockreq.js")[0] == 404
    assert served(app, "/static/api.js") == (200, "text/javascript")
    assert served(app, "/static/api.mjs") == (200, "text/javascript")
    app = make_app(SOCKREQ_CLIENT_URL=None)
    assert served(app, "/sockreq.js")[0] == 404
    assert served(app, "/sockreq.mjs")[0] == 404


def test_stream_limits_in_the_hello():
    assert hello(make_app().extensions["sockreq"]) == {
        "v": 1,
        "maxInflight": 100,
        "streams": {
            "v": 1,
            "chunkSize": 262144,
            "window": 1048576,
            "maxStreams": 16,
            "idleTimeout": 30.0,
        },
    }
    app = make_app(
        SOCKREQ_STREAM_CHUNK_SIZE=1000,
        SOCKREQ_STREAM_WINDOW=5000,
        SOCKREQ_STREAM_MAX=2,
        SOCKREQ_STREAM_IDLE_TIMEOUT=4,
    )
    streams = hello(app.extensions["sockreq"])["streams"]
    assert streams == {
        "v": 1,
        "chunkSize": 1000,
        "window": 5000,
        "maxStreams": 2,
        "idleTimeout": 4.0,
    }
    assert type(streams["idleTimeout"]) is float


@pytest.mark.parametrize(
    "key",
    [
        "SOCKREQ_STREAM_CHUNK_SIZE",
        "SOCKREQ_STREAM_WINDOW",
        "SOCKREQ_STREAM_MAX",
        "SOCKREQ_STREAM_IDLE_TIMEOUT",
    ],
)
@pytest.mark.parametrize("value", [0, -1, True, "5", None])
def test_stream_limits_must_be_positive(key, value):
    with pytest.raises(ValueError) as info:
        make_app(**{key: value})
    assert str(info.value) == f"{key} must be a positive number, not {value!r}."


def test_stream_chunk_size():
    # A body longer than a chunk is streamed, in chunks of at most that size.
    for chunk_size, streamed in ((262144, False), (4096, True)):
        app = make_app(SOCKREQ_STREAM_CHUNK_SIZE=chunk_size)
        client = app.extensions["sockreq"].extension.test_client(app)
        try:
            response = client.get("/stream/bytes?size=10000", buffered=False)
            assert ("stream" in response.jwr) is streamed
            pieces = list(response.response)
            assert b"".join(pieces) == pattern(10000)
            if streamed:
                assert max(map(len, pieces)) <= 4096
                assert len(pieces) >= 3
        finally:
            client.disconnect()


def test_stream_window():
    # The client takes at most the window before it grants more credit:
    # with a small window, a long body still arrives whole.
    app = make_app(SOCKREQ_STREAM_CHUNK_SIZE=1024, SOCKREQ_STREAM_WINDOW=2048)
    assert hello(app.extensions["sockreq"])["streams"]["window"] == 2048
    client = app.extensions["sockreq"].extension.test_client(app)
    try:
        response = client.get("/stream/bytes?size=20000", buffered=False)
        body = response.response
        first = next(iter(body))
        assert len(first) <= 1024
        assert first + b"".join(body) == pattern(20000)
    finally:
        client.disconnect()
