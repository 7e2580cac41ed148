"""Serve the test app in its own process.

    python tests/serve.py --mode eventlet --port 5001 [--proxy-fix] [--testing]

eventlet and gevent must monkey-patch before anything else is imported, so
the mode is read from ``sys.argv`` before the imports below.
"""

import sys


def _mode_from_argv(argv):
    for index, arg in enumerate(argv):
        if arg == "--mode" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--mode="):
            return arg.split("=", 1)[1]
    return "threading"


if __name__ == "__main__":
    _MODE = _mode_from_argv(sys.argv)
    if _MODE == "eventlet":
        import eventlet

        eventlet.monkey_patch()
    elif _MODE == "gevent":
        from gevent import monkey

        monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import warnings  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--mode", choices=["threading", "eventlet", "gevent"], default="threading"
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--proxy-fix", action="store_true")
    parser.add_argument("--testing", action="store_true")
    parser.add_argument("--no-access-log", action="store_true")
    parser.add_argument("--access-log", action="store_true")
    parser.add_argument("--namespace", help="SOCKREQ_NAMESPACE")
    parser.add_argument(
        "--app", choices=["test", "security", "browser"], default="test"
    )
    parser.add_argument(
        "--config", action="append", default=[], help="KEY=JSON, repeatable"
    )
    parser.add_argument(
        "--cors", action="append", default=None, help="an allowed origin"
    )
    parser.add_argument("--message-queue", help="Flask-SocketIO's message_queue")
    parser.add_argument("--channel", help="the message queue channel")
    parser.add_argument(
        "--max-size",
        type=int,
        default=20_000,
        help="eventlet's pool size; 0 leaves socketio.run's default",
    )
    args = parser.parse_args(argv)

    # eventlet warns that it is deprecated on import; that is not our news.
    warnings.simplefilter("ignore", DeprecationWarning)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(name)s %(levelname)s %(message)s",
    )
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from tests.apps import create_app
    from tests.security_app import create_security_app

    config = {}
    for item in args.config:
        key, _, value = item.partition("=")
        config[key] = json.loads(value)
    if args.no_access_log:
        config["SOCKREQ_ACCESS_LOG"] = False
    if args.access_log:
        config["SOCKREQ_ACCESS_LOG"] = True
    if args.namespace:
        config["SOCKREQ_NAMESPACE"] = args.namespace
    if args.app == "browser":
        from tests.browser_app import create_browser_app

        app = create_browser_app(args.mode, config=config)
    elif args.app == "security":
        app = create_security_app(
            args.mode, proxy_fix=args.proxy_fix, cors=args.cors, config=config
        )
    else:
        app = create_app(
            args.mode,
            proxy_fix=args.proxy_fix,
            testing=args.testing,
            config=config,
            message_queue=args.message_queue,
            channel=args.channel,
        )
    socketio = app.extensions["socketio"]
    server_options = {}
    if args.mode == "eventlet" and args.max_size:
        # Each socket holds a greenthread of eventlet.wsgi's pool, 1,024 by
        # default: past that, new connections wait silently.
        server_options["max_size"] = args.max_size
    socketio.run(
        app,
        host="127.0.0.1",
        port=args.port,
        allow_unsafe_werkzeug=True,
        log_output=True,
        **server_options,
    )


if __name__ == "__main__":
    main()
