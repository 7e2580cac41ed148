"""What users install: the wheel builds without warnings and carries the
browser client; the client routes cache as the app says."""

from __future__ import annotations

import os
import posixpath
import subprocess
import sys
import zipfile

import pytest
from flask import Flask
from flask_socketio import SocketIO

from flask_sockreq import SockReq

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATIC = os.path.join(ROOT, "flask_sockreq", "static")


def test_the_wheel_builds_cleanly_with_the_browser_client(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--verbose",
            "--wheel-dir",
            str(tmp_path / "dist"),
            ROOT,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "absent from the `packages` configuration" not in output, output
    (wheel,) = (tmp_path / "dist").iterdir()
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in (
        "flask_sockreq/py.typed",
        "flask_sockreq/static/sockreq.js",
        "flask_sockreq/static/sockreq.mjs",
        "flask_sockreq/static/sails-shim.js",
    ):
        assert name in names


@pytest.mark.parametrize(
    ("config", "cache_control"),
    [({}, "no-cache"), ({"SEND_FILE_MAX_AGE_DEFAULT": 600}, "public, max-age=600")],
)
@pytest.mark.parametrize("path", ["/sockreq.js", "/sockreq.mjs"])
def test_the_client_routes_cache_as_the_app_says(config, cache_control, path):
    app = Flask(__name__)
    app.config.update(config)
    SockReq(app, SocketIO(app, async_mode="threading"))
    with app.test_client().get(path) as response:
        assert response.status_code == 200
        assert response.mimetype == "text/javascript"
        assert response.headers["Cache-Control"] == cache_control


@pytest.mark.parametrize(
    ("client_url", "script"),
    [("/sockreq.js", "sockreq.js"), ("/static/lib/client.js", "client.js")],
)
def test_the_module_imports_the_script_where_it_is_served(client_url, script):
    app = Flask(__name__)
    app.config["SOCKREQ_CLIENT_URL"] = client_url
    SockReq(app, SocketIO(app, async_mode="threading"))
    http = app.test_client()
    module_url = client_url.removesuffix(".js") + ".mjs"
    with http.get(module_url) as response:
        text = response.get_data(as_text=True)
        assert response.status_code == 200
        assert response.mimetype == "text/javascript"
    assert f'import "./{script}";' in text
    assert text.count("\nimport ") == 1
    # Relative to the module's own URL, that is the script's URL.
    with http.get(posixpath.join(posixpath.dirname(module_url), script)) as response:
        assert response.status_code == 200
        with open(os.path.join(STATIC, "sockreq.js"), "rb") as file:
            assert response.data == file.read()
