"""A benchmark server: ``python benchmarks/server.py --app APP --port N``.

Every app serves the same four cases, over HTTP where it speaks HTTP and as
Socket.IO events (the Sails.js wire protocol) where it speaks Socket.IO:

``GET /item``
    A small ``jsonify`` response (:data:`ITEM`).
``POST /echo``
    Reads a JSON body (``request.get_json()``) and answers
    ``{"id": 1, "bytes": <the body's length>}``; the load generator sends
    bodies of 1 KB and 64 KB.
``GET /file``
    ``send_file`` of a 100 KB binary file (:data:`FILE_SIZE` bytes, made at
    start-up in a temporary directory), a binary attachment over the socket.
``GET /big?size=N`` and ``POST /sink`` (Flask apps only)
    A body of N bytes (50 MiB by default) produced 64 KiB at a time, and a
    view that reads the request body as it arrives and keeps none of it:
    ``streams.py``'s large transfers.

The apps:

``sockreq``
    A Flask app with Flask-SocketIO (``async_mode="eventlet"``) and
    ``SockReq(app, socketio)`` in its default configuration (debug off, so
    no access log), served as ``socketio.run`` serves it: one eventlet.wsgi
    server for HTTP and the socket.
``bare``
    The floor: a bare python-socketio ``Server(async_mode="eventlet")`` whose
    handlers return a constant JWR for each case, no Flask, served by
    eventlet.wsgi. ``--codec sockreq`` gives it Flask-SockReq's packet codec
    and WebSocket reader (what Flask-SockReq makes of the floor);
    ``--codec default`` (the default) is python-socketio as it comes.
``naive``
    python-socketio plus Flask, with no Flask-SockReq: each event handler
    builds a WSGI environ from the handshake's and the payload, runs it
    through ``app.wsgi_app`` and returns the body as a JWR, the way one would
    glue the two together by hand. It answers only what the load generator
    sends and checks nothing.

Server logs go to stderr; the server listens on 127.0.0.1 only and runs
until it is terminated. ``--set KEY=JSON`` sets a Flask config key of the
``sockreq`` app.
"""

if __name__ == "__main__":
    # eventlet patches the standard library before anything else imports it;
    # stages.py imports this module for its app, unpatched.
    import eventlet

    eventlet.monkey_patch()

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

ITEM = {"id": 1, "name": "widget", "tags": ["a", "b"], "price": 9.5}
FILE_SIZE = 100 * 1024
#: How many sockets the eventlet servers hold (eventlet's default is 1,024).
MAX_CONNECTIONS = 20_000


def make_file(directory: str) -> str:
    """The 100 KB file of ``GET /file``: the bytes 0-255 over and over."""
    path = os.path.join(directory, "file.bin")
    with open(path, "wb") as file:
        file.write(bytes(range(256)) * (FILE_SIZE // 256))
    return path


def create_flask_app(file_path: str, config: dict):  # type: ignore[no-untyped-def]
    from flask import Flask
    from flask import jsonify
    from flask import request
    from flask import Response
    from flask import send_file

    app = Flask(__name__)
    app.config.update(config)

    @app.get("/item")
    def item():  # type: ignore[no-untyped-def]
        return jsonify(ITEM)

    @app.post("/echo")
    def echo():  # type: ignore[no-untyped-def]
        request.get_json()
        return jsonify(id=1, bytes=request.content_length)

    @app.get("/file")
    def file():  # type: ignore[no-untyped-def]
        return send_file(file_path, mimetype="application/octet-stream")

    @app.get("/big")
    def big():  # type: ignore[no-untyped-def]
        # ?size=N bytes produced 64 KiB at a time, as an export would be.
        size = request.args.get("size", 50 * 1024 * 1024, type=int)
        piece = bytes(range(256)) * 256

        def generate():  # type: ignore[no-untyped-def]
            left = size
            while left > 0:
                yield piece[: min(left, len(piece))]
                left -= len(piece)

        return Response(
            generate(),
            mimetype="application/octet-stream",
            headers={"Content-Length": str(size)},
        )

    @app.post("/sink")
    def sink():  # type: ignore[no-untyped-def]
        # Reads the body as it arrives, keeping none of it.
        total = 0
        while True:
            piece = request.stream.read(65536)
            if not piece:
                break
            total += len(piece)
        return jsonify(id=1, bytes=total)

    return app


def serve(app, host: str, port: int) -> None:  # type: ignore[no-untyped-def]
    """Serve with eventlet.wsgi, as ``socketio.run`` does, on a listener
    whose connections have TCP_NODELAY (as Node's do): without it, an HTTP
    response written in several pieces stalls on delayed ACKs at C=1."""
    import socket

    import eventlet
    import eventlet.wsgi

    listener = eventlet.listen((host, port), backlog=1024)
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    eventlet.wsgi.server(listener, app, log_output=False, max_size=MAX_CONNECTIONS)


def run_sockreq(host: str, port: int, file_path: str, config: dict) -> None:
    from flask_socketio import SocketIO

    from flask_sockreq import SockReq

    app = create_flask_app(file_path, config)
    # SOCKETIO_ASYNC_HANDLERS=false runs each event in the connection's own
    # greenlet (python-socketio's async_handlers), for comparison.
    async_handlers = bool(config.get("SOCKETIO_ASYNC_HANDLERS", True))
    socketio = SocketIO(app, async_mode="eventlet", async_handlers=async_handlers)
    SockReq(app, socketio)
    print(f"sockreq server on http://{host}:{port}", file=sys.stderr, flush=True)
    # What socketio.run(app, max_size=...) does under eventlet, on a
    # TCP_NODELAY listener.
    serve(app, host, port)


def run_bare(host: str, port: int, file_path: str, codec: str) -> None:
    import socketio

    options = {}
    if codec == "sockreq":
        from flask_sockreq import codec as sockreq_codec

        options["serializer"] = sockreq_codec.packet_class()
    sio = socketio.Server(async_mode="eventlet", **options)
    if codec == "sockreq":
        from flask_sockreq import websocket

        websocket.install(sio)
    headers = {"Content-Type": "application/json"}
    item = {"body": ITEM, "headers": headers, "statusCode": 200}
    echo = {"body": {"id": 1, "bytes": 0}, "headers": headers, "statusCode": 200}
    with open(file_path, "rb") as f:
        data = f.read()
    file = {
        "body": data,
        "headers": {"Content-Type": "application/octet-stream"},
        "statusCode": 200,
    }

    @sio.on("get")
    def get(sid, payload=None):  # type: ignore[no-untyped-def]
        return file if payload["url"] == "/file" else item

    @sio.on("post")
    def post(sid, payload=None):  # type: ignore[no-untyped-def]
        return echo

    print(f"bare python-socketio server on http://{host}:{port}", file=sys.stderr)
    serve(socketio.WSGIApp(sio), host, port)


def run_naive(host: str, port: int, file_path: str) -> None:
    import socketio

    app = create_flask_app(file_path, {})
    sio = socketio.Server(async_mode="eventlet")
    keep = (
        "SERVER_NAME",
        "SERVER_PORT",
        "SERVER_PROTOCOL",
        "REMOTE_ADDR",
        "REMOTE_PORT",
        "wsgi.url_scheme",
        "wsgi.errors",
        "wsgi.version",
        "wsgi.multithread",
        "wsgi.multiprocess",
        "wsgi.run_once",
        "HTTP_HOST",
        "HTTP_USER_AGENT",
        "HTTP_COOKIE",
    )

    def handle(method, sid, payload):  # type: ignore[no-untyped-def]
        handshake = sio.get_environ(sid)
        environ = {key: handshake[key] for key in keep if key in handshake}
        path, _, query = payload["url"].partition("?")
        environ.update(
            REQUEST_METHOD=method, PATH_INFO=path, QUERY_STRING=query, SCRIPT_NAME=""
        )
        data = payload.get("data")
        if data is None:
            environ["wsgi.input"] = io.BytesIO()
        else:
            body = json.dumps(data).encode()
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ["CONTENT_TYPE"] = "application/json"
        response = []

        def start_response(status, headers, exc_info=None):  # type: ignore[no-untyped-def]
            response[:] = [int(status[:3]), dict(headers)]

        chunks = app.wsgi_app(environ, start_response)
        try:
            body = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        status, headers = response
        if headers.get("Content-Type") == "application/json":
            body = json.loads(body)
        return {"body": body, "headers": headers, "statusCode": status}

    sio.on("get", lambda sid, payload=None: handle("GET", sid, payload))
    sio.on("post", lambda sid, payload=None: handle("POST", sid, payload))
    print(f"naive server on http://{host}:{port}", file=sys.stderr, flush=True)
    serve(socketio.WSGIApp(sio, app), host, port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--app", choices=("sockreq", "bare", "naive"), required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--codec",
        choices=("default", "sockreq"),
        default="default",
        help="the bare server's packet codec and WebSocket reader",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="set a Flask config key for the sockreq app, e.g. SOCKREQ_TIMEOUT=null",
    )
    args = parser.parse_args()
    config = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set needs KEY=JSON, not {item!r}")
        config[key] = json.loads(value)
    # Terminated by PID: leave through the finally below, which removes the file.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    directory = tempfile.mkdtemp(prefix="sockreq-bench-file-")
    file_path = make_file(directory)
    try:
        if args.app == "sockreq":
            run_sockreq(args.host, args.port, file_path, config)
        elif args.app == "bare":
            run_bare(args.host, args.port, file_path, args.codec)
        else:
            run_naive(args.host, args.port, file_path)
    finally:
        os.unlink(file_path)
        os.rmdir(directory)


if __name__ == "__main__":
    main()
