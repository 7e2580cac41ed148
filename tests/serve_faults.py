"""``tests/serve.py --app security`` with short Engine.IO ping timings.

    python tests/serve_faults.py --mode gevent --port 5001 --ping 1 [serve.py options]

The fault tests need a server that notices a silent client in seconds, not
in the 45 s of the defaults; ``--ping N`` sets both ``ping_interval`` and
``ping_timeout`` to N seconds, and Flask-SockReq's close timeout to the
same. Everything else is ``tests/serve.py``'s.
"""

import sys

if __name__ == "__main__":
    # As tests/serve.py: patch before anything else is imported.
    _MODE = "threading"
    for _index, _arg in enumerate(sys.argv):
        if _arg == "--mode" and _index + 1 < len(sys.argv):
            _MODE = sys.argv[_index + 1]
    if _MODE == "eventlet":
        import eventlet

        eventlet.monkey_patch()
    elif _MODE == "gevent":
        from gevent import monkey

        monkey.patch_all()


import os  # noqa: E402


def main(argv: list[str]) -> None:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ping = 25.0
    rest = []
    args = iter(argv)
    for arg in args:
        if arg == "--ping":
            ping = float(next(args))
        else:
            rest.append(arg)

    import flask_socketio

    from flask_sockreq import websocket
    from tests import security_app
    from tests import serve

    # A vanished peer's connection is shut down after the close timeout:
    # here as short as the ping, so that a storm's sockets are gone in
    # seconds (the fault tests wait for it before they measure).
    websocket.CLOSE_TIMEOUT = ping

    class SocketIO(flask_socketio.SocketIO):  # type: ignore[misc]
        def __init__(self, app: object = None, **kwargs: object) -> None:
            kwargs.setdefault("ping_interval", ping)
            kwargs.setdefault("ping_timeout", ping)
            super().__init__(app, **kwargs)

    security_app.SocketIO = SocketIO  # type: ignore[misc]
    serve.main(["--app", "security", *rest])


if __name__ == "__main__":
    main(sys.argv[1:])
