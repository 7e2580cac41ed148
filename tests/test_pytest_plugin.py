"""The pytest plugin: a project's suite over both transports, by one line.

Each test writes a small project with :fixture:`pytester` and runs pytest
on it in-process.
"""

from __future__ import annotations

import configparser
import os

import pytest

pytest_plugins = ["pytester"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

APP = """
import pytest
from flask import Flask, jsonify, request, session
from flask_socketio import SocketIO

import flask_sockreq
from flask_sockreq import SockReq


@pytest.fixture
def app():
    app = Flask(__name__)
    app.config.update(SECRET_KEY="not-a-secret", TESTING=True)
    socketio = SocketIO(app, async_mode="threading")
    SockReq(app, socketio)

    @socketio.on("connect")
    def check(auth=None):
        return (auth or {}).get("token") != "wrong"

    @app.post("/login")
    def login():
        session["user"] = request.get_json()["name"]
        return {"ok": True}

    @app.get("/me")
    def me():
        return jsonify(user=session.get("user"), socket=flask_sockreq.is_socket())

    @app.get("/auth")
    def auth():
        return jsonify(flask_sockreq.current_socket.auth)

    @app.get("/boom")
    def boom():
        return 1 / 0

    return app
"""

TESTS = """
import pytest


def test_session(client):
    client.post("/login", json={"name": "ada"})
    assert client.get("/me").json["user"] == "ada"


def test_the_transport(client, request):
    socket = request.node.callspec.id == "socket"
    assert client.get("/me").json["socket"] is socket


def test_a_failing_view_raises(client):
    with pytest.raises(ZeroDivisionError):
        client.get("/boom")


@pytest.mark.sockreq_transports("http")
def test_http_only(client):
    assert client.get("/me").json["socket"] is False


def test_one_browser(http_client, socket_client):
    http_client.post("/login", json={"name": "bob"})
    assert socket_client.get("/me").json == {"user": "bob", "socket": True}


def test_that_fails(client):
    assert client.get("/me").status_code == 201
"""


@pytest.fixture(autouse=True)
def _no_autoload(monkeypatch: pytest.MonkeyPatch) -> None:
    # The plugin by name, and no other: the inner runs stay fast, and do not
    # depend on the entry point being installed.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


PLUGIN = ["-p", "flask_sockreq.pytest_plugin"]


def test_the_entry_point_is_declared() -> None:
    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "setup.cfg"))
    lines = config["options.entry_points"]["pytest11"].split()
    assert " ".join(lines) == "flask_sockreq = flask_sockreq.pytest_plugin"


def test_the_entry_point_loads_the_plugin(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # setup.cfg's entry point, as an installed distribution declares it
    # (whether or not this checkout was installed since it was added).
    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "setup.cfg"))
    dist = pytester.path / "site" / "flask_sockreq_plugin-0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: flask-sockreq-plugin\nVersion: 0\n"
    )
    (dist / "entry_points.txt").write_text(
        f"[pytest11]\n{config['options.entry_points']['pytest11'].strip()}\n"
    )
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(dist.parent), ROOT]))
    result = pytester.runpytest_subprocess("--fixtures")
    result.stdout.fnmatch_lines(["sockreq_client*", "*socket_client*"])


def test_one_line_runs_a_suite_over_both_transports(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        APP + "\nfrom flask_sockreq.pytest_plugin import sockreq_client as client"
        "  # noqa: F401\n"
    )
    pytester.makepyfile(test_app=TESTS)
    result = pytester.runpytest("-v", *PLUGIN)
    result.assert_outcomes(passed=8, failed=2, skipped=1)
    result.stdout.fnmatch_lines_random(
        [
            "*test_session?http? PASSED*",
            "*test_session?socket? PASSED*",
            "*test_the_transport?socket? PASSED*",
            "*test_a_failing_view_raises?http? PASSED*",
            "*test_a_failing_view_raises?socket? PASSED*",
            "*test_http_only?http? PASSED*",
            "*test_http_only?socket? SKIPPED*",
            "*test_one_browser PASSED*",
            "*test_that_fails?http? FAILED*",
            "*test_that_fails?socket? FAILED*",
        ]
    )


def test_without_the_line_client_is_the_projects(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        APP
        + """

@pytest.fixture
def client():
    return "the project's own"
"""
    )
    pytester.makepyfile(
        test_app="""
def test_client(client):
    assert client == "the project's own"


def test_sockreq_client(sockreq_client):
    assert sockreq_client.get("/me").status_code == 200
"""
    )
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(passed=3)


def test_socket_client_options(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        APP
        + """

@pytest.fixture
def socket_client_options():
    return {"auth": {"token": "let-me-in"}}
"""
    )
    pytester.makepyfile(
        test_app="""
import pytest

from flask_sockreq.testing import SockReqTestClient


def test_authenticated(socket_client):
    assert socket_client.get("/auth").json == {"token": "let-me-in"}


def test_refused(app):
    with pytest.raises(RuntimeError, match="refused"):
        SockReqTestClient(app, auth={"token": "wrong"})


@pytest.mark.sockreq_transports("carrier pigeon")
def test_unknown_transport(sockreq_client):
    pass
"""
    )
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(passed=2, errors=2)
    result.stdout.fnmatch_lines(
        ["*Unknown transports ?'carrier pigeon'? in the sockreq_transports marker*"]
    )
