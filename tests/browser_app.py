"""The app of the browser tests: the test app plus the page, socket.io-client
4 from ``tests/js/node_modules`` and a few routes for sessions and forms.

Served by ``tests/serve.py --app browser``, with ``SOCKREQ_COOKIE_SYNC`` on.
"""

from __future__ import annotations

import os
import time
import typing as t

from flask import abort
from flask import Flask
from flask import jsonify
from flask import request
from flask import send_from_directory
from flask import session

from tests.apps import create_app

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
JS_DIR = os.path.join(TESTS_DIR, "js")
SOCKET_IO_DIST = os.path.join(JS_DIR, "node_modules", "socket.io-client", "dist")
STATIC_DIR = os.path.join(os.path.dirname(TESTS_DIR), "flask_sockreq", "static")

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Flask-SockReq browser tests</title>
<script src="/js/socket.io.min.js"></script>
<script src="/sockreq.js"></script>
</head><body><p>browser tests</p></body></html>
"""

MODULE_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Flask-SockReq as an ES module</title>
<script src="/js/socket.io.min.js"></script>
<script type="module">
import SockReq, { connect, SockReqError } from "/sockreq.mjs";
window.moduleResult = (async () => {
  const client = connect();
  const response = await client.fetch("/hello/2?via=module");
  const body = await response.json();
  client.close();
  return {
    body,
    sameConnect: SockReq.connect === connect,
    errorIsTypeError: SockReqError.prototype instanceof TypeError,
    globalSet: globalThis.SockReq === SockReq,
  };
})();
</script>
</head><body></body></html>
"""


def create_browser_app(
    async_mode: str = "threading", *, config: dict[str, t.Any] | None = None
) -> Flask:
    app = create_app(async_mode, config={"SOCKREQ_COOKIE_SYNC": True, **(config or {})})

    @app.route("/page")
    def page() -> t.Any:
        return PAGE

    @app.route("/module-page")
    def module_page() -> t.Any:
        return MODULE_PAGE

    @app.route("/js/<name>")
    def socket_io_client(name: str) -> t.Any:
        if not name.startswith("socket.io"):
            abort(404)
        return send_from_directory(SOCKET_IO_DIST, name)

    @app.route("/slow")
    def slow() -> t.Any:
        time.sleep(float(request.args.get("s", "1")))
        return {"slept": True}

    @app.post("/login")
    def login() -> t.Any:
        session["user"] = request.get_json()["user"]
        return {"user": session["user"]}

    @app.get("/session-user")
    def session_user() -> t.Any:
        return {"user": session.get("user")}

    @app.post("/form-echo")
    def form_echo() -> t.Any:
        files = {
            name: {
                "filename": file.filename,
                "content_type": file.content_type,
                "content": file.read().decode("utf-8", "replace"),
            }
            for name, file in request.files.items()
        }
        return jsonify(
            form=request.form.to_dict(flat=False),
            files=files,
            mimetype=request.mimetype,
        )

    @app.post("/raw-echo")
    def raw_echo() -> t.Any:
        return {"hex": request.get_data().hex(), "mimetype": request.mimetype}

    return app
