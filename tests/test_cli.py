"""``flask sockreq routes`` and ``flask sockreq config``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing as t

import pytest
from flask import Blueprint
from flask import Flask
from flask.cli import routes_command as flask_routes_command
from flask.views import MethodView
from flask_socketio import SocketIO

from flask_sockreq import exclude
from flask_sockreq import expose
from flask_sockreq import SockReq
from flask_sockreq.cli import blueprint_names
from flask_sockreq.cli import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ok() -> t.Callable[..., str]:
    """A new view function: marks set on it mark that view only."""
    return lambda **kwargs: "ok"


def create_app(config: dict[str, t.Any] | None = None, sockreq: bool = True) -> Flask:
    """An app with a route for each case of the Socket column; every view
    answers 200 "ok", so a 404 over the socket means "kept off"."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY="not-a-secret", SOCKREQ_ACCESS_LOG=False)
    app.config.update(config or {})
    if sockreq:
        SockReq(app, SocketIO(app, async_mode="threading"))

    app.add_url_rule("/open", "open", ok())
    app.add_url_rule("/secret", "secret", exclude(ok()), methods=["POST"])
    app.add_url_rule("/shown", "shown", expose(ok()))
    app.add_url_rule("/dav", "dav", ok(), methods=["GET", "PROPFIND"])
    app.add_url_rule(
        "/dav-only",
        "dav_only",
        ok(),
        methods=["PROPFIND"],
        provide_automatic_options=False,
    )
    app.add_url_rule("/socket.io/<path:rest>", "engine", ok())

    @exclude
    class Items(MethodView):
        def get(self) -> str:
            return "ok"

        def post(self) -> str:
            return "ok"

    class Things(MethodView):
        def get(self) -> str:
            return "ok"

    app.add_url_rule("/items", view_func=Items.as_view("items"))
    app.add_url_rule("/things", view_func=Things.as_view("things"))

    admin = exclude(Blueprint("admin", __name__, url_prefix="/admin"))
    admin.add_url_rule("/users", "users", ok())
    admin.add_url_rule("/public", "public", expose(ok()))

    api = Blueprint("api", __name__, url_prefix="/api")
    api.add_url_rule("/ping", "ping", ok())
    v1 = exclude(Blueprint("v1", __name__, url_prefix="/v1"))
    v1.add_url_rule("/old", "old", ok())
    beta = expose(Blueprint("beta", __name__, url_prefix="/beta"))
    beta.add_url_rule("/new", "new", ok())
    v1.register_blueprint(beta)
    api.register_blueprint(v1)

    app.register_blueprint(admin)
    app.register_blueprint(api)
    return app


def invoke(app: Flask, *args: str) -> t.Any:
    return app.test_cli_runner().invoke(cli, list(args))


def table(output: str) -> dict[str, list[str]]:
    """The rows of a routes table by endpoint: its cells, split on runs of
    two spaces or more."""
    lines = output.splitlines()[2:]
    rows = {}
    for line in lines:
        cells = [cell.strip() for cell in line.split("  ") if cell.strip()]
        rows[cells[0]] = cells
    return rows


EXPECTED_SOCKET = {
    "open": "yes",
    "secret": "no (excluded)",
    "shown": "yes",
    "dav": "yes (GET)",
    "dav_only": "no (method)",
    "engine": "no (Socket.IO path)",
    "items": "no (excluded)",
    "things": "yes",
    "admin.users": "no (excluded)",
    "admin.public": "yes",
    "api.ping": "yes",
    "api.v1.old": "no (excluded)",
    "api.v1.beta.new": "yes",
    "static": "yes",
    "sockreq_client": "yes (Flask-SockReq)",
    "sockreq_client_module": "yes (Flask-SockReq)",
}


def test_routes_socket_column() -> None:
    result = invoke(create_app(), "routes")
    assert result.exit_code == 0, result.output
    rows = table(result.output)
    assert {endpoint: cells[-1] for endpoint, cells in rows.items()} == EXPECTED_SOCKET
    assert rows["dav"] == ["dav", "GET, PROPFIND", "/dav", "yes (GET)"]
    assert rows["items"] == ["items", "GET, POST", "/items", "no (excluded)"]


def test_routes_when_only_exposed_routes_answer() -> None:
    app = create_app({"SOCKREQ_EXPOSE_ALL": False})
    rows = table(invoke(app, "routes").output)
    answers = {endpoint: cells[-1] for endpoint, cells in rows.items()}
    assert answers == {
        **EXPECTED_SOCKET,
        "open": "no (not exposed)",
        "dav": "no (not exposed)",
        "things": "no (not exposed)",
        "api.ping": "no (not exposed)",
        "static": "no (not exposed)",
        "sockreq_client": "no (not exposed; Flask-SockReq)",
        "sockreq_client_module": "no (not exposed; Flask-SockReq)",
    }


def test_sockreq_routes_are_marked() -> None:
    app = create_app({"SOCKREQ_COOKIE_SYNC": True})
    rows = table(invoke(app, "routes").output)
    assert rows["sockreq_cookie_sync"][-1] == "no (excluded; Flask-SockReq)"


@pytest.mark.parametrize("expose_all", [True, False])
def test_the_socket_column_tells_what_a_socket_gets(expose_all: bool) -> None:
    app = create_app({"SOCKREQ_EXPOSE_ALL": expose_all})
    rows = table(invoke(app, "routes").output)
    sockreq: SockReq = app.extensions["sockreq"].extension
    http = app.test_client()
    checked = 0
    with sockreq.test_client(app) as socket_client:
        for rule in app.url_map.iter_rules():
            if rule.arguments or "GET" not in (rule.methods or ()):
                continue
            with http.get(rule.rule) as response:
                assert response.status_code == 200
            status = socket_client.get(rule.rule).status_code
            answer = rows[rule.endpoint][-1]
            assert status == (200 if answer.startswith("yes") else 404), rule
            checked += 1
    assert checked >= 10


@pytest.mark.parametrize("sort", ["endpoint", "methods", "rule", "match", "domain"])
@pytest.mark.parametrize("all_methods", [False, True])
def test_routes_match_flask_routes(sort: str, all_methods: bool) -> None:
    """Less the Socket column, the table is that of ``flask routes``."""
    app = create_app()
    options = ["--sort", sort] + (["--all-methods"] if all_methods else [])
    ours = invoke(app, "routes", *options)
    theirs = app.test_cli_runner().invoke(flask_routes_command, options)
    assert ours.exit_code == 0 and theirs.exit_code == 0
    socket_start = ours.output.splitlines()[0].index("Socket")
    assert [line[:socket_start].rstrip() for line in ours.output.splitlines()] == [
        line.rstrip() for line in theirs.output.splitlines()
    ]


def test_routes_output() -> None:
    app = Flask(__name__)
    SockReq(app, SocketIO(app, async_mode="threading"), client_url=None)
    app.add_url_rule("/b", "b", ok(), methods=["GET", "POST"])
    app.add_url_rule("/a", "a", exclude(ok()))
    assert invoke(app, "routes", "--sort", "rule").output == (
        "Endpoint  Methods    Rule                     Socket\n"
        "--------  ---------  -----------------------  -------------\n"
        "a         GET        /a                       no (excluded)\n"
        "b         GET, POST  /b                       yes\n"
        "static    GET        /static/<path:filename>  yes\n"
    )
    by_socket = invoke(app, "routes", "--sort", "socket").output.splitlines()
    assert [line.split()[0] for line in by_socket[2:]] == ["a", "static", "b"]
    all_methods = table(invoke(app, "routes", "--all-methods").output)
    assert all_methods["b"][1] == "GET, HEAD, OPTIONS, POST"
    assert all_methods["b"][-1] == "yes"


def test_routes_with_subdomains() -> None:
    app = Flask(__name__, subdomain_matching=True)
    app.config["SERVER_NAME"] = "example.test"
    SockReq(app, SocketIO(app, async_mode="threading"), client_url=None)
    app.add_url_rule("/", "home", ok(), subdomain="www")
    output = invoke(app, "routes", "--sort", "domain").output
    assert output.splitlines()[0].split() == [
        "Endpoint",
        "Methods",
        "Subdomain",
        "Rule",
        "Socket",
    ]
    assert table(output)["home"] == ["home", "GET", "www", "/", "yes"]


def test_no_routes() -> None:
    app = Flask(__name__, static_folder=None)
    SockReq(app, SocketIO(app, async_mode="threading"), client_url=None)
    assert invoke(app, "routes").output == "No routes were registered.\n"


@pytest.mark.parametrize("command", ["routes", "config"])
def test_an_app_without_sockreq(command: str) -> None:
    result = invoke(create_app(sockreq=False), command)
    assert result.exit_code == 1
    assert result.output == (
        "Error: Flask-SockReq is not set up on the app 'tests.test_cli': call"
        " 'SockReq(app, socketio)' or 'sockreq.init_app(app)' where the app is"
        " created, then run the command again.\n"
    )


def test_blueprint_names() -> None:
    assert blueprint_names("view") == []
    assert blueprint_names("a.view") == ["a"]
    assert blueprint_names("a.b.c.view") == ["a.b.c", "a.b", "a"]


# -- config ------------------------------------------------------------------


def config_app() -> Flask:
    app = Flask(__name__)
    app.config["SOCKREQ_TIMOUT"] = 5  # misspelt
    app.config["SOCKREQ_FORBIDDEN_HEADERS"] = ("X-Real-IP",)
    SockReq(app, SocketIO(app, async_mode="threading"), namespace="/api")
    return app


def test_config() -> None:
    app = config_app()
    result = invoke(app, "config")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    keys = sorted(key for key in app.config if key.startswith("SOCKREQ_"))
    assert [line.split()[0] for line in lines] == keys
    # Aligned: every value starts in the same column.
    width = max(len(key) for key in keys) + 2
    assert all(line[width - 2 : width] == "  " and line[width] != " " for line in lines)
    by_key = {line.split()[0]: line[width:] for line in lines}
    assert by_key["SOCKREQ_NAMESPACE"] == "'/api'"
    assert by_key["SOCKREQ_EXPOSE_ALL"] == "True"
    assert by_key["SOCKREQ_FORBIDDEN_HEADERS"] == "('X-Real-IP',)"
    assert by_key["SOCKREQ_TIMEOUT"] == repr(app.config["SOCKREQ_TIMEOUT"])
    assert by_key["SOCKREQ_TIMOUT"] == "5  (unknown key, no effect)"


def test_config_json() -> None:
    app = config_app()
    result = invoke(app, "config", "--json")
    assert result.exit_code == 0
    values = json.loads(result.output)
    assert list(values) == sorted(values)
    assert values == {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in app.config.items()
        if key.startswith("SOCKREQ_")
    }
    assert values["SOCKREQ_NAMESPACE"] == "/api"


# -- the entry point ---------------------------------------------------------

APP_MODULE = """
from flask import Flask
from flask_socketio import SocketIO
from flask_sockreq import SockReq, exclude

app = Flask(__name__)
SockReq(app, SocketIO(app, async_mode="threading"))


@app.post("/admin")
@exclude
def admin():
    return "ok"
"""


def test_flask_finds_the_commands(tmp_path: t.Any) -> None:
    (tmp_path / "cliapp.py").write_text(APP_MODULE)
    env = {**os.environ, "FLASK_APP": "cliapp", "PYTHONPATH": str(tmp_path)}
    for name in ("FLASK_DEBUG", "FLASK_RUN_FROM_CLI"):
        env.pop(name, None)

    def flask(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "flask", *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert "sockreq" in flask("--help")
    assert table(flask("sockreq", "routes"))["admin"][-1] == "no (excluded)"
    assert "SOCKREQ_EXPOSE_ALL" in flask("sockreq", "config")
