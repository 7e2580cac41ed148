"""Where the time of one socket request goes, stage by stage, in-process.

``python benchmarks/stages.py [--case get,post1k,post64k,file100k] [--rounds 7]``

Builds the benchmark app of ``server.py`` (same routes) with Flask-SocketIO
(threading mode, so nothing is patched) and ``SockReq``, connects an
in-process client, and times each stage of a socket request on its own with
the real objects, repeating it N times per round and keeping the fastest
round (the least disturbed by the rest of the machine):

``eio decode``
    Engine.IO parses the WebSocket text frame into a message packet.
``sio decode``
    The server's packet class parses the Socket.IO event (JSON) and tags the
    payload with its ack id.
``validate``
    ``parse_request``: the payload checked and turned into method, path,
    query, headers and body (a JSON ``data`` is encoded here).
``environ``
    ``build_environ``: the WSGI environ from the connection's template.
``Flask``
    The app's request handling (``Dispatcher``): request context, routing,
    hooks, the view, the response object, teardown.
``JWR``
    ``encode_jwr``: the response's headers and body as a JWR (a JSON body is
    checked here, then passed on as it is).
``ack encode``
    The acknowledgement packet encoded (the JWR's JSON text).
``handler``
    The whole request handler, validate to JWR, with the connection state,
    limits and deadline bookkeeping around the stages above.
``Flask alone``
    For comparison: ``app.wsgi_app`` on a prebuilt environ, the cost of the
    route with no socket at all.

Each stage is printed with both JSON codecs: orjson (when installed) and
the standard library's. What these figures leave out is what only a live
server shows: python-socketio's task per event, Engine.IO's queue and writer
task, eventlet's hub and the socket system calls, and the colder caches of a
process that does all of that between two requests. ``run.py`` measures the
whole; the difference is the part of the stack outside these stages.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
import typing as t

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import server as bench_server  # noqa: E402

CASES = {
    # case: (event, payload)
    "get": ("get", {"url": "/item"}),
    "post1k": ("post", {"url": "/echo", "data": None}),
    "post64k": ("post", {"url": "/echo", "data": None}),
    "file100k": ("get", {"url": "/file"}),
}


def json_body(size: int) -> dict[str, t.Any]:
    """A JSON object whose compact encoding is about ``size`` bytes."""
    items = []
    data: dict[str, t.Any] = {"items": items}
    n = 0
    while len(json.dumps(data, separators=(",", ":"))) < size:
        items.append({"n": n, "name": f"item-{n:05d}", "tags": ["x", "y"]})
        n += 1
    return data


def best_of(fn: t.Callable[[], t.Any], number: int, rounds: int) -> float:
    """The fastest round's time per call, in µs."""
    fn()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best * 1e6


def measure(case: str, codec_name: str, rounds: int) -> dict[str, float]:
    from engineio import packet as eio_packet
    from flask_socketio import SocketIO
    from socketio import packet as sio_packet

    from flask_sockreq import codec
    from flask_sockreq import SockReq
    from flask_sockreq.connection import Connection
    from flask_sockreq.protocol import encode_jwr
    from flask_sockreq.protocol import parse_request
    from flask_sockreq.replay import build_environ

    chosen = codec.OrJSON if codec_name == "orjson" else codec.StdJSON
    codec.CODEC = chosen  # read when the server's packet class is made
    import flask_sockreq.protocol as protocol

    protocol.CODEC = chosen
    directory = tempfile.mkdtemp(prefix="sockreq-stages-")
    file_path = bench_server.make_file(directory)
    try:
        app = bench_server.create_flask_app(file_path, {})
        socketio = SocketIO(app, async_mode="threading")
        SockReq(app, socketio)
        client = socketio.test_client(app)
        server = socketio.server
        sid = server.manager.sid_from_eio_sid(client.eio_sid, "/")
        handshake = server.get_environ(sid, "/")
        state = app.extensions["sockreq"]
        conn = Connection.of(server, sid, "/", handshake)
        event, payload = CASES[case]
        if case.startswith("post"):
            size = 1024 if case == "post1k" else 65536
            payload = {**payload, "data": json_body(size)}
        handler = next(h for e, h, _ in socketio.handlers if e == event)
        packet_class = server.packet_class
        text = f"2{5}{json.dumps([event, payload], separators=(',', ':'))}"
        frame = f"4{text}"
        number = 2000 if case != "post64k" else 100

        def tagged() -> dict[str, t.Any]:
            return {**payload, codec.ACK_KEY: (5, handshake)}

        req = parse_request(event, payload, conn.hosts, state.forbidden_headers)

        def environ() -> dict[str, t.Any]:
            return build_environ(
                conn.template, req, conn.socket, state.socketio_path, None
            )

        dispatcher = state.dispatcher(app)
        reply = dispatcher(environ())
        jwr = encode_jwr(reply.status, reply.headers, reply.body, req.method, True)

        def flask_alone() -> None:
            env = environ()
            env.pop("flask_sockreq.socket")
            env["wsgi.input"] = io.BytesIO(req.body or b"")
            chunks = app.wsgi_app(env, lambda *args: None)
            b"".join(chunks)
            getattr(chunks, "close", lambda: None)()

        def encode_ack() -> None:
            packet_class(sio_packet.ACK, namespace="/", id=5, data=[jwr]).encode()

        stages = {
            "eio decode": lambda: eio_packet.Packet(encoded_packet=frame),
            "sio decode": lambda: packet_class(encoded_packet=text),
            "validate": lambda: parse_request(
                event, payload, conn.hosts, state.forbidden_headers
            ),
            "environ": environ,
            "Flask": lambda: dispatcher(environ()),
            "JWR": lambda: encode_jwr(
                reply.status, reply.headers, reply.body, req.method, True
            ),
            "ack encode": encode_ack,
            "handler": lambda: handler(sid, tagged()),
            "Flask alone": flask_alone,
        }
        result = {name: best_of(fn, number, rounds) for name, fn in stages.items()}
        client.disconnect()
        return result
    finally:
        os.unlink(file_path)
        os.rmdir(directory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--case", default="get,post1k,post64k,file100k")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--codec", choices=("orjson", "std"), help=argparse.SUPPRESS
    )  # one measurement per process: the codec is chosen at import
    args = parser.parse_args()
    cases = [c for c in args.case.split(",") if c]
    if args.codec:
        print(json.dumps({c: measure(c, args.codec, args.rounds) for c in cases}))
        return
    import subprocess

    try:
        import orjson  # noqa: F401

        codecs = ["orjson", "std"]
    except ImportError:
        codecs = ["std"]
    results = {}
    for name in codecs:
        out = subprocess.run(
            [sys.executable, __file__, "--codec", name, "--case", args.case]
            + ["--rounds", str(args.rounds)],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        ).stdout
        results[name] = json.loads(out)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    stages = list(next(iter(next(iter(results.values())).values())))
    header = f"{'stage':14s}" + "".join(
        f"{f'{case} {name}':>17s}" for case in cases for name in codecs
    )
    print("µs per request, fastest of", args.rounds, "rounds")
    print(header)
    print("-" * len(header))
    for stage in stages:
        print(
            f"{stage:14s}"
            + "".join(
                f"{results[name][case][stage]:17.1f}"
                for case in cases
                for name in codecs
            )
        )


if __name__ == "__main__":
    main()
