"""One access log line per socket request, on the ``flask_sockreq`` logger:
by default in debug mode only, as Flask-SocketIO logs requests."""

from __future__ import annotations

import logging
import re
import uuid

import pytest
import requests

from tests.apps import create_app
from tests.helpers import call

LINE = (
    r"%s - - \[\d{2}/\w{3}/\d{4} \d{2}:\d{2}:\d{2}\] "
    r'"%s %s SOCKET" %d \d+\.\dms sid=%s'
)


def line_pattern(
    method: str, url: str, status: int, sid: str, address: str = "127.0.0.1"
) -> re.Pattern[str]:
    return re.compile(
        LINE % (re.escape(address), method, re.escape(url), status, re.escape(sid))
    )


@pytest.fixture(scope="module")
def logging_server(start_server, mode):
    """The test app with ``SOCKREQ_ACCESS_LOG = True``."""
    return start_server(mode, "--access-log")


@pytest.fixture(scope="module")
def logging_client(shared_clients, logging_server):
    return shared_clients.connect(logging_server)


def test_access_log_over_a_server(logging_client, logging_server):
    sio_client, server = logging_client, logging_server
    sid = sio_client.get_sid("/")
    url = f"/hello/3?x={uuid.uuid4().hex}"
    assert call(sio_client, "get", url)["statusCode"] == 200
    assert server.wait_for_log(url)
    lines = [line for line in server.stderr.splitlines() if url in line]
    assert len(lines) == 1, lines
    assert lines[0].startswith("flask_sockreq INFO ")
    assert line_pattern("GET", url, 200, sid).search(lines[0]), lines[0]


@pytest.mark.parametrize(
    ("event", "payload", "status", "logged_url"),
    [
        ("post", {"url": "/echo?{tag}", "data": {"a": 1}}, 200, "/echo?{tag}"),
        ("delete", {"url": "/missing/{tag}"}, 404, "/missing/{tag}"),
        ("get", {"url": "/echo?{tag}", "method": "post"}, 400, "/echo?{tag}"),
        ("get", {"url": "/echo?{tag}", "headers": 5}, 400, "/echo?{tag}"),
        ("get", {"url": "/socket.io/?{tag}"}, 400, "/socket.io/?{tag}"),
    ],
)
def test_access_log_status(
    logging_client, logging_server, event, payload, status, logged_url
):
    sio_client, server = logging_client, logging_server
    tag = uuid.uuid4().hex
    payload = {**payload, "url": payload["url"].format(tag=tag)}
    logged_url = logged_url.format(tag=tag)
    sid = sio_client.get_sid("/")
    assert sio_client.call(event, payload, timeout=5)["statusCode"] == status
    assert server.wait_for_log(tag)
    pattern = line_pattern(event.upper(), logged_url, status, sid)
    lines = [line for line in server.stderr.splitlines() if tag in line]
    assert len(lines) == 1 and pattern.search(lines[0]), lines


def test_access_log_without_a_url(caplog):
    app = create_app(config={"SOCKREQ_ACCESS_LOG": True})
    client = app.extensions["socketio"].test_client(app)
    try:
        with caplog.at_level(logging.INFO, logger="flask_sockreq"):
            jwr = client.emit("get", ["not", "an", "object"], callback=True)
    finally:
        client.disconnect()
    assert jwr["statusCode"] == 400
    messages = [r.getMessage() for r in caplog.records if r.name == "flask_sockreq"]
    assert len(messages) == 1
    assert '"GET - SOCKET" 400' in messages[0]


def test_access_log_in_process(caplog):
    app = create_app(config={"DEBUG": True})
    client = app.extensions["socketio"].test_client(app)
    try:
        with caplog.at_level(logging.INFO, logger="flask_sockreq"):
            sid = client.emit("get", {"url": "/whoami"}, callback=True)["body"]["sid"]
            client.emit("get", {"url": "/hello/3?x=1"}, callback=True)
    finally:
        client.disconnect()
    records = [r for r in caplog.records if r.name == "flask_sockreq"]
    assert [r.levelno for r in records] == [logging.INFO, logging.INFO]
    # The test client's handshake has no REMOTE_ADDR.
    pattern = line_pattern("GET", "/hello/3?x=1", 200, sid, address="-")
    assert pattern.fullmatch(records[1].getMessage()), records[1].getMessage()


@pytest.mark.parametrize(
    "config",
    [{}, {"SOCKREQ_ACCESS_LOG": False}, {"DEBUG": True, "SOCKREQ_ACCESS_LOG": False}],
    ids=["default", "off", "off-in-debug"],
)
def test_access_log_can_be_turned_off(caplog, config):
    app = create_app(config=config)
    client = app.extensions["socketio"].test_client(app)
    try:
        with caplog.at_level(logging.INFO, logger="flask_sockreq"):
            jwr = client.emit("get", {"url": "/hello/3"}, callback=True)
    finally:
        client.disconnect()
    assert jwr["statusCode"] == 200
    assert [r for r in caplog.records if r.name == "flask_sockreq"] == []


@pytest.mark.parametrize("option", [(), ("--no-access-log",)], ids=["default", "off"])
def test_access_log_off_over_a_server(start_server, clients, option):
    server = start_server("threading", *option)
    client = clients.connect(server)
    tag = uuid.uuid4().hex
    assert call(client, "get", f"/hello/1?{tag}")["statusCode"] == 200
    # The werkzeug access log of a later HTTP request proves stderr is live.
    server_line = f"/hello/2?{tag}"
    requests.get(server.url + server_line, timeout=5)
    assert server.wait_for_log(server_line)
    assert f"/hello/1?{tag}" not in server.stderr


@pytest.fixture
def bare_logger():
    """The flask_sockreq logger with no handler and no level; restored
    afterwards."""
    logger = logging.getLogger("flask_sockreq")
    saved = (logger.level, list(logger.handlers), logger.propagate)
    logger.setLevel(logging.NOTSET)
    logger.handlers.clear()
    try:
        yield logger
    finally:
        logger.setLevel(saved[0])
        logger.handlers[:] = saved[1]
        logger.propagate = saved[2]


def test_a_library_adds_no_handler_and_sets_no_level(bare_logger):
    app = create_app()
    client = app.extensions["socketio"].test_client(app)
    try:
        jwr = client.emit("get", {"url": "/hello/3"}, callback=True)
    finally:
        client.disconnect()
    assert jwr["statusCode"] == 200
    assert bare_logger.handlers == [] and bare_logger.level == logging.NOTSET


def test_in_debug_a_handler_only_when_logging_has_none(bare_logger):
    # pytest's own capture handlers sit on the root logger: cut it off.
    bare_logger.propagate = False
    app = create_app(config={"DEBUG": True})
    client = app.extensions["socketio"].test_client(app)
    try:
        client.emit("get", {"url": "/hello/3"}, callback=True)
    finally:
        client.disconnect()
    assert [type(h) for h in bare_logger.handlers] == [logging.StreamHandler]
    assert bare_logger.level == logging.INFO


def test_in_debug_the_apps_logging_is_used(bare_logger, caplog):
    # caplog's handler sits on the root logger: logging is configured.
    app = create_app(config={"DEBUG": True})
    client = app.extensions["socketio"].test_client(app)
    try:
        with caplog.at_level(logging.INFO, logger="flask_sockreq"):
            client.emit("get", {"url": "/hello/3"}, callback=True)
    finally:
        client.disconnect()
    assert bare_logger.handlers == []
    assert any('"GET /hello/3 SOCKET" 200' in r.getMessage() for r in caplog.records)
