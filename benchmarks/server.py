"""A benchmark server: ``python benchmarks/server.py --app sockreq|bare --port N``.

``sockreq``
    A Flask app with Flask-SocketIO (``async_mode="eventlet"``) and
    ``SockReq(app, socketio, access_log=False)``, serving ``GET /item`` both
    over HTTP and as the Socket.IO ``get`` event, through ``socketio.run`` (one
    eventlet.wsgi server for both).

``bare``
    The floor: a bare python-socketio ``Server(async_mode="eventlet")`` whose
    ``get`` handler returns a constant JWR, served by eventlet.wsgi, no Flask.

Neither server writes an access log, so logging is not what is measured.
The server listens on 127.0.0.1 only and runs until it is terminated.
"""

import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

ITEM = {"id": 1, "name": "widget", "tags": ["a", "b"], "price": 9.5}


def run_sockreq(host: str, port: int, config: dict) -> None:
    from flask import Flask
    from flask import jsonify
    from flask_socketio import SocketIO

    from flask_sockreq import SockReq

    app = Flask(__name__)
    app.config.update(config)

    @app.get("/item")
    def item():  # type: ignore[no-untyped-def]
        return jsonify(ITEM)

    # SOCKETIO_ASYNC_HANDLERS=false runs each event in the connection's own
    # greenlet (python-socketio's async_handlers), for comparison.
    async_handlers = bool(config.get("SOCKETIO_ASYNC_HANDLERS", True))
    socketio = SocketIO(app, async_mode="eventlet", async_handlers=async_handlers)
    SockReq(app, socketio, access_log=False)
    print(f"sockreq server on http://{host}:{port}", file=sys.stderr, flush=True)
    socketio.run(
        app, host=host, port=port, log_output=False, use_reloader=False, debug=False
    )


def run_bare(host: str, port: int) -> None:
    import eventlet.wsgi
    import socketio

    sio = socketio.Server(async_mode="eventlet")
    jwr = {
        "body": ITEM,
        "headers": {"Content-Type": "application/json"},
        "statusCode": 200,
    }

    @sio.on("get")
    def get(sid, payload=None):  # type: ignore[no-untyped-def]
        return jwr

    app = socketio.WSGIApp(sio)
    listener = eventlet.listen((host, port))
    print(
        f"bare python-socketio server on http://{host}:{port}",
        file=sys.stderr,
        flush=True,
    )
    eventlet.wsgi.server(listener, app, log_output=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--app", choices=("sockreq", "bare"), required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
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
    if args.app == "sockreq":
        run_sockreq(args.host, args.port, config)
    else:
        run_bare(args.host, args.port)


if __name__ == "__main__":
    main()
