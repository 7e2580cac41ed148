"""Socket requests through Flask-SocketIO's in-process test client."""

from __future__ import annotations

import uuid

import pytest
from flask import g

from tests.apps import create_app
from tests.apps import PNG_PATH
from tests.test_replay import EXPECTED_HOOKS


@pytest.fixture
def app():
    return create_app("threading")


@pytest.fixture
def client(app):
    client = app.extensions["socketio"].test_client(
        app, headers={"Cookie": "theme=dark"}
    )
    yield client
    client.disconnect()


def get(client, url, **payload):
    return client.emit("get", {"url": url, **payload}, callback=True)


def test_json_get(client):
    jwr = get(client, "/hello/3?x=1", data={"y": [1, 2]})
    assert jwr["statusCode"] == 200
    assert jwr["body"] == {"n": 3, "args": {"x": ["1"], "y": ["1", "2"]}}
    assert jwr["headers"]["Content-Type"] == "application/json"


def test_post_json(client):
    jwr = client.emit("post", {"url": "/echo", "data": {"a": [1]}}, callback=True)
    assert jwr["body"]["json"] == {"a": [1]}
    assert jwr["body"]["method"] == "POST"


def test_binary_body(client):
    with open(PNG_PATH, "rb") as file:
        expected = file.read()
    jwr = get(client, "/binary")
    assert isinstance(jwr["body"], bytes)
    assert jwr["body"] == expected
    assert jwr["headers"]["Content-Length"] == str(len(expected))
    assert jwr["headers"]["Content-Type"] == "image/png"


def test_head_and_404(client):
    assert client.emit("head", {"url": "/text"}, callback=True)["body"] is None
    assert get(client, "/nowhere")["statusCode"] == 404


def test_set_cookie_stripped_and_cookie_inherited(client):
    assert get(client, "/cookies")["body"] == {"theme": "dark"}
    jwr = get(client, "/set-cookie")
    assert jwr["statusCode"] == 200
    assert all(name.lower() != "set-cookie" for name in jwr["headers"])


def test_malformed_then_valid(client):
    assert (
        client.emit("get", "nope", callback=True)["body"]["error"] == "invalid_payload"
    )
    assert get(client, "/socket.io/")["body"]["error"] == "invalid_url"
    assert get(client, "/hello/1")["statusCode"] == 200


def test_whoami(client):
    body = get(client, "/whoami")["body"]
    assert body["is_socket"] is True
    assert body["sid"] == body["socket"]["id"]
    assert body["socket"]["rooms"] == [body["sid"]]


def test_view_emit(client):
    client.emit("post", {"url": "/push", "data": {"k": "v"}}, callback=True)
    received = client.get_received()
    assert [event["name"] for event in received] == ["pushed"]
    assert received[0]["args"] == [{"via": "flask_socketio.emit", "data": {"k": "v"}}]


def test_hooks_run(client):
    trace = uuid.uuid4().hex
    get(client, "/hello/1", headers={"X-Trace": trace})
    assert get(client, f"/records/{trace}")["body"] == EXPECTED_HOOKS


def test_view_exception_with_testing(caplog):
    app = create_app("threading", testing=True)
    client = app.extensions["socketio"].test_client(app)
    try:
        jwr = get(client, "/boom")
        assert jwr["statusCode"] == 500
        assert get(client, "/hello/2")["statusCode"] == 200
    finally:
        client.disconnect()
    errors = [r for r in caplog.records if r.name == "flask_sockreq" and r.exc_info]
    assert len(errors) == 1
    assert errors[0].exc_info[0] is RuntimeError


def test_g_does_not_leak_from_an_outer_app_context(app, client):
    # The test client runs the handler in this thread, inside our context.
    with app.app_context():
        g.marker = "outer"
        assert get(client, "/g")["body"] == {"seen": False}
        assert g.marker == "outer"
    trace = uuid.uuid4().hex
    with app.app_context():
        get(client, "/hello/1", headers={"X-Trace": trace})
    assert get(client, f"/records/{trace}")["body"][-1] == ["teardown_appcontext"]


def test_emit_without_ack_is_served_and_its_answer_dropped(client, caplog):
    before = get(client, "/counter")["body"]["value"]
    with caplog.at_level("DEBUG", logger="flask_sockreq"):
        client.emit("post", {"url": "/counter"})
    assert get(client, "/counter")["body"]["value"] == before + 1
    assert "sent without an acknowledgement callback" in caplog.text
