"""Broadcast latency: from a ``broadcast()`` call to delivery on N sockets.

``python benchmarks/broadcast.py [--sizes 100,1000,5000] [--rounds 5]``

For each N, two cases:

``1 process``
    N sockets connected to server A, all in one room; an HTTP request to A
    calls ``flask_sockreq.broadcast(room, "tick", ...)``.
``2 processes via Redis``
    Servers A and B share a Redis message queue (a ``redis-server`` this
    script starts on a free port, without persistence). The N sockets are on
    A, the call is made on B: every delivery crosses Redis.

The sockets are raw Engine.IO v4 / Socket.IO v5 connections over WebSocket
(``loadgen.py``'s framing), all read by this process through one selector;
they join the room with a socket request (``POST /bench/join``), as an app
would. The route takes ``time.time()`` just before the call and sends it in
the event; a socket's latency is the time it read the event minus that. The
report per case: p50, p99 and max latency over all sockets and measured
rounds (max is the time until the last socket had it), and how long the
``broadcast()`` call itself took in the route (median).

``--serve`` runs one server (eventlet, ``SockReq(access_log=False)``); the
driver starts and stops the servers and Redis by PID. Only 127.0.0.1 is
used; every wait is bounded.
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and "--serve" in sys.argv:
    import warnings

    # eventlet warns that it is deprecated on import; that is not our news.
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet

    eventlet.monkey_patch()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import selectors  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from loadgen import BenchError  # noqa: E402
from loadgen import connect_ws  # noqa: E402
from loadgen import ws_frame  # noqa: E402
from loadgen import ws_parse  # noqa: E402

HOST = "127.0.0.1"
ROOM = "bench"
READY_TIMEOUT = 30.0
JOIN_TIMEOUT = 60.0
ROUND_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# -- the server ----------------------------------------------------------------


def serve(port: int, message_queue: str | None, channel: str) -> None:
    from flask import Flask
    from flask import request
    from flask_socketio import SocketIO

    import flask_sockreq

    app = Flask(__name__)
    options = {"message_queue": message_queue, "channel": channel}
    socketio = SocketIO(
        app,
        async_mode="eventlet",
        **{key: value for key, value in options.items() if value},
    )
    flask_sockreq.SockReq(app, socketio, access_log=False)

    @app.get("/health")
    def health() -> str:
        return "ok"

    @app.post("/bench/join")
    def join() -> dict[str, bool]:
        flask_sockreq.join(request, ROOM)
        return {"joined": True}

    @app.post("/bench/broadcast")
    def broadcast() -> dict[str, float]:
        body = request.get_json()
        t0 = time.time()
        flask_sockreq.broadcast(ROOM, "tick", {"t0": t0, "round": body["round"]})
        return {"t0": t0, "call": time.time() - t0}

    socketio.run(app, host=HOST, port=port, log_output=False, max_size=100_000)


# -- the driver ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise BenchError(f"{what} within {timeout:.0f}s")


def http(port: int, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body or {}).encode()
    req = urllib.request.Request(
        f"http://{HOST}:{port}{path}",
        data=data,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=ROUND_TIMEOUT) as response:
        return json.loads(response.read())


class Process:
    """A subprocess stopped by its PID."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)


def start_redis() -> tuple[Process, str]:
    port = free_port()
    redis = Process(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            HOST,
            "--save",
            "",
            "--appendonly",
            "no",
        ]
    )

    def ready() -> bool:
        try:
            with socket.create_connection((HOST, port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    wait_for(ready, READY_TIMEOUT, "redis-server did not answer")
    return redis, f"redis://{HOST}:{port}/0"


def start_server(message_queue: str | None, channel: str) -> tuple[Process, int]:
    port = free_port()
    args = [sys.executable, os.path.abspath(__file__), "--serve", "--port", str(port)]
    if message_queue:
        args += ["--message-queue", message_queue, "--channel", channel]
    server = Process(args)

    def ready() -> bool:
        if server.proc.poll() is not None:
            raise BenchError("the server exited")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=1):
                return True
        except OSError:
            return False

    wait_for(ready, READY_TIMEOUT, "the server did not answer")
    return server, port


class Sockets:
    """N raw Socket.IO connections read through one selector."""

    def __init__(self, port: int, count: int) -> None:
        self.conns = []
        self.sel = selectors.DefaultSelector()
        try:
            for _ in range(count):
                conn = connect_ws(port)
                self.conns.append(conn)
                self.sel.register(conn.sock, selectors.EVENT_READ, conn)
        except BaseException:
            self.close()
            raise

    def join(self) -> None:
        for conn in self.conns:
            conn.sock.sendall(ws_frame(b'421["post",{"url":"/bench/join"}]'))
        acked = self.read(lambda payload: payload.startswith(b"431["), JOIN_TIMEOUT)
        if len(acked) != len(self.conns):
            raise BenchError("not every socket joined the room")

    def read(self, wanted: Callable[[bytes], Any], timeout: float) -> dict:
        """Read until every connection has had one frame ``wanted`` accepts;
        return ``{conn index: time.time() it was read}``."""
        got: dict[int, float] = {}
        index = {id(conn): n for n, conn in enumerate(self.conns)}
        deadline = time.monotonic() + timeout
        while len(got) < len(self.conns):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BenchError(
                    f"{len(self.conns) - len(got)} sockets got nothing in {timeout}s"
                )
            for key, _ in self.sel.select(min(remaining, 1.0)):
                conn = key.data
                data = conn.sock.recv(262144)
                now = time.time()
                if not data:
                    raise BenchError("the server closed a connection")
                conn.buf += data
                for opcode, payload in ws_parse(conn.buf):
                    if opcode == 8:
                        raise BenchError("the server closed a WebSocket")
                    if payload == b"2":
                        conn.sock.sendall(ws_frame(b"3"))
                    elif wanted(payload):
                        got.setdefault(index[id(conn)], now)
        return got

    def close(self) -> None:
        for conn in self.conns:
            try:
                conn.sock.close()
            except OSError:
                pass
        self.sel.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(sockets: Sockets, call_port: int, rounds: int) -> dict:
    latencies: list[float] = []
    calls: list[float] = []
    for number in range(rounds + 1):  # round 0 warms up
        marker = b'"round":%d}' % number
        reply = http(call_port, "/bench/broadcast", {"round": number})
        got = sockets.read(
            lambda payload, m=marker: payload.startswith(b'42["tick"') and m in payload,
            ROUND_TIMEOUT,
        )
        if number:
            latencies += [at - reply["t0"] for at in got.values()]
            calls.append(reply["call"])
        time.sleep(0.2)
    return {
        "p50": percentile(latencies, 0.50) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
        "max": max(latencies) * 1000,
        "call": statistics.median(calls) * 1000,
    }


def run(sizes: list[int], rounds: int, with_redis: bool) -> list[dict]:
    rows = []
    started: list[Process] = []
    try:
        single, single_port = start_server(None, "")
        started.append(single)
        pair_ports: tuple[int, int] | None = None
        if with_redis:
            redis, url = start_redis()
            started.append(redis)
            channel = f"bench-{os.getpid()}"
            a, a_port = start_server(url, channel)
            b, b_port = start_server(url, channel)
            started += [a, b]
            pair_ports = (a_port, b_port)
        for size in sizes:
            cases = [("1 process", single_port, single_port)]
            if pair_ports:
                cases.append(("2 processes via Redis", *pair_ports))
            for label, socket_port, call_port in cases:
                sockets = Sockets(socket_port, size)
                try:
                    sockets.join()
                    result = measure(sockets, call_port, rounds)
                finally:
                    sockets.close()
                row = {"sockets": size, "case": label, "rounds": rounds, **result}
                rows.append(row)
                print(format_row(row), flush=True)
                time.sleep(1.0)  # let the server drop the closed sockets
    finally:
        for process in reversed(started):
            process.stop()
    return rows


HEADER = (
    f"{'sockets':>7}  {'case':<22} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    f" {'call ms':>8}"
)


def format_row(row: dict) -> str:
    return (
        f"{row['sockets']:>7}  {row['case']:<22} {row['p50']:>8.1f}"
        f" {row['p99']:>8.1f} {row['max']:>8.1f} {row['call']:>8.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--message-queue", help=argparse.SUPPRESS)
    parser.add_argument("--channel", default="", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="100,1000,5000")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--no-redis", action="store_true", help="only the one-process case"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    raise_nofile()
    if args.serve:
        serve(args.port, args.message_queue, args.channel)
        return
    with_redis = not args.no_redis
    if with_redis and not shutil.which("redis-server"):
        print("redis-server is not installed: one-process case only.", flush=True)
        with_redis = False
    sizes = [int(size) for size in args.sizes.split(",")]
    print(
        f"broadcast to N sockets, {args.rounds} rounds each (after one warm-up),"
        " eventlet servers, one client process",
        flush=True,
    )
    print(HEADER, flush=True)
    rows = run(sizes, args.rounds, with_redis)
    if args.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
