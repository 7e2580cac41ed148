"""What one connected socket costs in memory, and who holds it.

``python benchmarks/memory.py [--sockets 2000] [--servers floor,sockreq]
[--json]``

For each server (eventlet, in its own process, with ``tracemalloc`` on):

``floor``
    A bare python-socketio ``Server`` served by eventlet.wsgi, whose ``get``
    handler returns a constant JWR.
``sockreq``
    A Flask app with Flask-SocketIO and ``SockReq`` in its default
    configuration, ``GET /item`` answering a small ``jsonify`` body.

it opens N raw WebSocket connections (``loadgen.py``'s handshake, one
client process), then sends one request on each, then three more, and
prints per socket, at each stage: the growth of the server's RSS, of the
memory ``tracemalloc`` sees (Python objects), and of that memory by the
package whose code allocated it (Engine.IO, python-socketio, eventlet,
Flask-SockReq, Flask and werkzeug, the rest). RSS minus what tracemalloc
sees is memory outside Python objects: mostly each connection's green
thread stack, and the kernel's socket buffers are not in RSS at all.

The handshake headers are a browser's (User-Agent, Accept-Language, a
cookie, an Origin), since what Flask-SockReq keeps per connection grows
with them. Bounded in time; only 127.0.0.1; the server is stopped by PID.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import typing as t

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

HEADERS = (
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like"
    " Gecko) Chrome/131.0.0.0 Safari/537.36\r\n"
    "Accept-Language: en-GB,en;q=0.9,fr;q=0.8\r\n"
    "Cookie: session=eyJ1c2VyIjoiYWRhIn0.Z1x2Yw.q8vKXW1rFQ6a9lG3k3w0cO0m4fA;"
    " theme=dark\r\n"
    "Origin: http://127.0.0.1:{port}\r\n"
    "Cache-Control: no-cache\r\nPragma: no-cache\r\n"
)
GROUPS = (
    ("engineio", "Engine.IO"),
    ("socketio", "python-socketio"),
    ("flask_socketio", "Flask-SocketIO"),
    ("eventlet", "eventlet"),
    ("flask_sockreq", "Flask-SockReq"),
    ("flask", "Flask"),
    ("werkzeug", "werkzeug"),
)


def group(filename: str) -> str:
    parts = filename.replace("\\", "/").split("/")
    for key, label in GROUPS:
        if key in parts:
            return label
    return "other"


# -- the server --------------------------------------------------------------


def serve(kind: str, port: int) -> None:
    import eventlet

    eventlet.monkey_patch()
    import tracemalloc

    if not os.environ.get("SOCKREQ_MEMORY_RSS_ONLY"):
        tracemalloc.start(1)
    import eventlet.wsgi
    import socketio

    snapshots: dict[str, t.Any] = {}

    def mem_app(environ, start_response):  # type: ignore[no-untyped-def]
        path = environ["PATH_INFO"]
        query = dict(
            part.split("=", 1) for part in environ["QUERY_STRING"].split("&") if part
        )
        if path == "/mem/snap":
            import gc

            gc.collect()
            if tracemalloc.is_tracing():
                snapshots[query["label"]] = tracemalloc.take_snapshot()
            body = b"ok"
        elif path == "/mem/diff" and not snapshots:
            body = b"{}"
        elif path == "/mem/diff":
            old, new = snapshots[query["a"]], snapshots[query["b"]]
            totals: dict[str, int] = {}
            for stat in new.compare_to(old, "filename"):
                name = stat.traceback[0].filename
                totals[group(name)] = totals.get(group(name), 0) + stat.size_diff
            body = json.dumps(totals).encode()
        elif path == "/mem/lines":
            old, new = snapshots[query["a"]], snapshots[query["b"]]
            lines = [
                f"{stat.size_diff:>9d} {stat.count_diff:>6d} {stat.traceback[0]}"
                for stat in new.compare_to(old, "lineno")
                if os.environ.get("SOCKREQ_MEMORY_ONLY", "")
                in stat.traceback[0].filename
            ][:25]
            body = json.dumps({"lines": lines}).encode()
        else:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    if kind == "floor":
        sio = socketio.Server(async_mode="eventlet", cors_allowed_origins="*")
        jwr = {"body": {"id": 1}, "headers": {}, "statusCode": 200}
        sio.on("get", lambda sid, payload=None: jwr)
        app = socketio.WSGIApp(sio, mem_app)
    else:
        from flask import Flask
        from flask import jsonify
        from flask_socketio import SocketIO

        from flask_sockreq import SockReq

        flask_app = Flask(__name__)

        @flask_app.get("/item")
        def item():  # type: ignore[no-untyped-def]
            return jsonify(id=1, name="widget")

        sio_ext = SocketIO(flask_app, async_mode="eventlet")
        SockReq(flask_app, sio_ext)
        inner = flask_app.wsgi_app

        def app(environ, start_response):  # type: ignore[no-untyped-def]
            if environ["PATH_INFO"].startswith("/mem/"):
                return mem_app(environ, start_response)
            return inner(environ, start_response)

    listener = eventlet.listen(("127.0.0.1", port), backlog=1024)
    eventlet.wsgi.server(listener, app, log_output=False, max_size=100_000)


# -- the driver ----------------------------------------------------------------


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def http(port: int, path: str) -> t.Any:
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        )
        data = b""
        while True:
            piece = sock.recv(65536)
            if not piece:
                break
            data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"{path}: {head[:80]!r}")
    return json.loads(body) if body.startswith(b"{") else body


class Link:
    """A raw socket and what was read from it but not parsed yet."""

    def __init__(self, sock: socket.socket, buf: bytearray) -> None:
        self.sock = sock
        self.buf = buf

    def fileno(self) -> int:
        return self.sock.fileno()


def connect(port: int) -> Link:
    from loadgen import ws_frame
    from loadgen import ws_parse

    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            + HEADERS.format(port=port)
            + "\r\n"
        ).encode()
    )
    buf = bytearray()
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(4096)
    del buf[: buf.index(b"\r\n\r\n") + 4]
    texts: list[bytes] = []

    def next_text() -> bytes:
        while not texts:
            frames = ws_parse(buf)
            texts.extend(p for op, p in frames if op == 1)
            if not texts:
                buf.extend(sock.recv(4096))
        return texts.pop(0)

    assert next_text().startswith(b"0{")
    sock.sendall(ws_frame(b"40"))
    while not next_text().startswith(b"40"):
        pass
    return Link(sock, buf)


def wave(socks: list[Link], ack_id: int) -> None:
    """One GET on every socket; wait for every ack."""
    import selectors

    from loadgen import ws_frame
    from loadgen import ws_parse

    for link in socks:
        link.sock.sendall(ws_frame(b'42%d["get",{"url":"/item"}]' % ack_id))
    selector = selectors.DefaultSelector()
    waiting = set()
    for link in socks:
        selector.register(link, selectors.EVENT_READ)
        waiting.add(link)
    deadline = time.monotonic() + 120
    while waiting and time.monotonic() < deadline:
        for key, _ in selector.select(1):
            link = t.cast(Link, key.fileobj)
            link.buf.extend(link.sock.recv(65536))
            for opcode, payload in ws_parse(link.buf):
                if opcode == 1 and payload.startswith(b"43%d" % ack_id):
                    waiting.discard(link)
                    selector.unregister(link)
                elif payload == b"2":
                    link.sock.sendall(ws_frame(b"3"))
    selector.close()
    if waiting:
        raise RuntimeError(f"{len(waiting)} acks missing")


def measure(kind: str, n: int) -> dict[str, t.Any]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--port", str(port)],
        stdout=log,
        stderr=log,
        env=dict(os.environ, PYTHONWARNINGS="ignore"),
    )
    socks: list[Link] = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                http(port, "/mem/snap?label=base")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        # Warm up: one socket, a few requests, so that caches fill.
        warm = connect(port)
        wave([warm], 1)
        wave([warm], 2)
        warm.sock.close()
        time.sleep(0.5)
        http(port, "/mem/snap?label=base")
        rss = {"base": rss_kib(proc.pid)}
        for _ in range(n):
            socks.append(connect(port))
        time.sleep(0.5)
        http(port, "/mem/snap?label=connected")
        rss["connected"] = rss_kib(proc.pid)
        wave(socks, 1)
        http(port, "/mem/snap?label=one")
        rss["one"] = rss_kib(proc.pid)
        for ack_id in (2, 3, 4):
            wave(socks, ack_id)
        http(port, "/mem/snap?label=four")
        rss["four"] = rss_kib(proc.pid)
        if os.environ.get("SOCKREQ_MEMORY_LINES"):
            for label, old in (("connected", "base"), ("one", "connected")):
                lines = http(
                    port, f"/mem/diff?a={old}&b={label}".replace("diff", "lines")
                )
                print(kind, label, *lines["lines"], sep="\n", file=sys.stderr)
        stages = {}
        for label, old in (
            ("connected", "base"),
            ("one", "connected"),
            ("four", "one"),
        ):
            groups = http(port, f"/mem/diff?a={old}&b={label}")
            stages[label] = {
                "rss": (rss[label] - rss[old]) * 1024 / n,
                "traced": sum(groups.values()) / n,
                **{name: size / n for name, size in groups.items()},
            }
        return stages
    finally:
        for link in socks:
            link.sock.close()
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--servers", default="floor,sockreq")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    results = {kind: measure(kind, args.sockets) for kind in args.servers.split(",")}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    columns = ["rss", "traced"] + [label for _, label in GROUPS] + ["other"]
    print(f"bytes per socket, {args.sockets} sockets, eventlet, tracemalloc on")
    print(f"{'server':8s} {'stage':22s}" + "".join(f"{c[:12]:>13s}" for c in columns))
    names = {
        "connected": "connected, idle",
        "one": "+ its first request",
        "four": "+ three more",
    }
    for kind, stages in results.items():
        for stage, row in stages.items():
            print(
                f"{kind:8s} {names[stage]:22s}"
                + "".join(f"{row.get(c, 0):13.0f}" for c in columns)
            )


if __name__ == "__main__":
    main()
