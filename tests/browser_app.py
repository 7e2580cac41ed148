"""The app of the browser tests: the test app plus the page, socket.io-client
4 from ``tests/js/node_modules`` and a few routes for sessions and forms.

Served by ``tests/serve.py --app browser``, with ``SOCKREQ_COOKIE_SYNC`` on.

Its own routes are under ``/browser/``; those that stream record what their
generators did under the request's ``X-Trace`` header, read back at
``/browser/traces/<trace>``.
"""

from __future__ import annotations

import hashlib
import os
import time
import typing as t

from flask import abort
from flask import Flask
from flask import jsonify
from flask import request
from flask import Response
from flask import send_from_directory
from flask import session
from flask import stream_with_context

import flask_sockreq as sr
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

    add_stream_routes(app)
    return app


def add_stream_routes(app: Flask) -> None:
    """Routes for the streams and subscriptions of the browser client."""
    traces: dict[str, list[t.Any]] = {}

    def record(trace: str | None, *event: t.Any) -> None:
        if trace:
            traces.setdefault(trace, []).append(list(event))

    @app.route("/browser/traces/<trace>")
    def get_traces(trace: str) -> t.Any:
        return jsonify(traces.get(trace, []))

    @app.route("/browser/late-stream")
    def late_stream() -> t.Any:
        """Wait ``wait`` seconds in the view, then stream ``n`` pieces of
        ``size`` bytes, ``delay`` seconds apart."""
        trace = request.headers.get("X-Trace")
        record(trace, "view")
        time.sleep(request.args.get("wait", 0.0, type=float))
        n = request.args.get("n", 5, type=int)
        size = request.args.get("size", 10, type=int)
        delay = request.args.get("delay", 0.0, type=float)

        def generate() -> t.Iterator[bytes]:
            try:
                for index in range(n):
                    if index and delay:
                        time.sleep(delay)
                    record(trace, "piece", index)
                    yield bytes([97 + index % 26]) * size
            finally:
                record(trace, "finally")

        record(trace, "returned")
        return Response(stream_with_context(generate()), mimetype="text/plain")

    @app.route("/browser/failing-stream")
    def failing_stream() -> t.Any:
        """A piece larger than a chunk, then an exception."""

        def generate() -> t.Iterator[bytes]:
            yield b"x" * 100_000
            raise RuntimeError("the generator failed")

        return Response(generate(), mimetype="application/octet-stream")

    @app.route("/browser/big-json")
    def big_json() -> t.Any:
        n = request.args.get("n", 10, type=int)
        return jsonify([{"index": i, "name": f"item {i}"} for i in range(n)])

    @app.route("/browser/upload-info", methods=["POST", "PUT"])
    def upload_info() -> t.Any:
        """The body read from ``request.stream`` in pieces: its length,
        SHA-256 and the headers that describe it."""
        digest = hashlib.sha256()
        length = 0
        while True:
            piece = request.stream.read(65536)
            if not piece:
                break
            length += len(piece)
            digest.update(piece)
        return {
            "length": length,
            "sha256": digest.hexdigest(),
            "content_type": request.headers.get("Content-Type"),
            "content_length": request.headers.get("Content-Length"),
        }

    @app.post("/browser/ignore-body")
    def ignore_body() -> t.Any:
        """Answer without reading the body."""
        return Response("ignored", mimetype="text/plain")

    @app.route("/browser/live/<room>", methods=["PUT", "DELETE"])
    def live(room: str) -> t.Any:
        """Join (PUT) or leave (DELETE) the room ``live:<room>``: the same
        path does both, as a subscription resource does. The answer is
        text, not JSON."""
        if request.method == "PUT":
            sr.join(request, f"live:{room}")
        else:
            sr.leave(request, f"live:{room}")
        return Response(f"{request.method} {room}", mimetype="text/plain")

    @app.post("/browser/live/<room>/say")
    def live_say(room: str) -> t.Any:
        sr.broadcast([f"live:{room}"], "live", {"room": room, **request.get_json()})
        return {"said": True}
