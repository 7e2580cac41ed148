"""Where a request's server CPU goes, in the real server under load.

``python benchmarks/profile.py [--case get] [--concurrency 50]
[--targets socket,http,floor,naive] [--duration 8] [--rate 400] [--keep]``

For each target of ``run.py`` it starts the same server, drives it with
``loadgen.py`` and, during a second run of the same length, samples the
server's stacks with py-spy (``pip install py-spy``; it must be allowed to
read the process, which root or ``ptrace_scope`` 0 gives). Each sample is
put in one stage by the innermost frame that a rule below knows, and a
stage's share of the samples times the server CPU per request of the first
run (py-spy's own pauses inflate the second) gives its microseconds. The
stages:

``WebSocket receive``
    Engine.IO's reader: frames read and unmasked, ``recv`` calls.
``Engine.IO/Socket.IO dispatch``
    The Engine.IO packet handed to python-socketio, decoded into an event.
``greenlet per event``
    python-socketio starts each event's handler in a green thread of its own.
``Flask-SockReq``
    Validation, environ, the in-flight count and deadline, the JWR; all of
    the handler that is not the app.
``Flask``
    The app's request handling (context, routing, hooks, view, response);
    for ``http`` all of the WSGI app below the server.
``ack encode``
    The acknowledgement packet encoded.
``WebSocket send``
    Engine.IO's writer: the queue, frames, ``send`` calls.
``HTTP server``
    eventlet.wsgi: request line and headers parsed, response written.
``hub``
    eventlet's hub: timers, epoll, switches between green threads.
``other``
    Anything else, and samples in native code with no Python frame (the
    cyclic garbage collector among them).
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run  # noqa: E402

#: (stage, substrings of a frame), tried from the innermost frame outwards;
#: within a frame, the first rule that matches wins.
RULES: list[tuple[str, tuple[str, ...]]] = [
    ("Flask", ("Dispatcher._run", "_run_wsgi (flask_sockreq/", "Flask.wsgi_app")),
    ("ack encode", ("Packet.encode",)),
    # Flask-SockReq's packet class and codec decode in python-socketio's
    # place (the codec's loads is called by nothing else on this path).
    (
        "Engine.IO/Socket.IO dispatch",
        ("Packet.decode", "JSON.loads (flask_sockreq/", "_paused_gc", "_loads_"),
    ),
    ("Flask-SockReq", ("(flask_sockreq/",)),
    ("greenlet per event", ("start_background_task",)),
    ("WebSocket send", ("writer (engineio/socket.py)", "Server._send_packet")),
    ("WebSocket receive", ("websocket_wait", "RFC6455WebSocket.wait")),
    (
        "Engine.IO/Socket.IO dispatch",
        ("(socketio/", "(engineio/socket.py)", "(engineio/server.py)"),
    ),
    ("HTTP server", ("(eventlet/wsgi.py)",)),
    ("hub", ("(eventlet/hubs/",)),
]
STAGES = [
    "WebSocket receive",
    "Engine.IO/Socket.IO dispatch",
    "greenlet per event",
    "Flask-SockReq",
    "Flask",
    "ack encode",
    "WebSocket send",
    "HTTP server",
    "hub",
    "other",
]
# Flask-SockReq's own frames under its WebSocket wrapper are Engine.IO's
# reader and writer, not the request handler.
PASS_THROUGH = ("(flask_sockreq/websocket.py)",)


def stage_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        if any(mark in frame for mark in PASS_THROUGH):
            continue
        for stage, marks in RULES:
            if any(mark in frame for mark in marks):
                return stage
    return "other"


def read_samples(path: str) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    with open(path, encoding="utf-8", errors="replace") as file:
        for line in file:
            stack, _, number = line.rstrip("\n").rpartition(" ")
            if not number.isdigit():
                continue
            frames = stack.split(";") if stack else []
            counts[stage_of(frames)] += int(number)
    return counts


def record(pid: int, seconds: float, rate: int, out: str) -> None:
    subprocess.run(
        [
            shutil.which("py-spy")
            or os.path.join(os.path.dirname(sys.executable), "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(max(1, int(seconds))),
            "--rate",
            str(rate),
            "--nolineno",  # frames read "function (module/path.py)"
            "--format",
            "raw",
            "--output",
            out,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=seconds + 30,
        check=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--case", default="get", choices=run.CASES)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--targets", default="socket,http,floor,naive")
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rate", type=int, default=400, help="samples per second")
    parser.add_argument(
        "--keep", action="store_true", help="keep py-spy's raw stacks (TARGET.txt)"
    )
    args = parser.parse_args()
    args.max_requests = 1_000_000
    targets = [name for name in args.targets.split(",") if name]
    unknown = [name for name in targets if name not in run.TARGETS or "sails" in name]
    if unknown:
        parser.error(f"unknown targets: {', '.join(unknown)}")

    log_dir = tempfile.mkdtemp(prefix="sockreq-profile-")
    columns: dict[str, tuple[float, collections.Counter[str]]] = {}
    ok = False
    servers: dict[str, run.Server] = {}
    try:
        for target in targets:
            _, kind, mode = run.TARGETS[target]
            if kind not in servers:
                servers[kind] = run.Server(kind, log_dir, [])
                servers[kind].wait_ready()
            server = servers[kind]
            print(f"  {target}: measuring ...", file=sys.stderr, flush=True)
            plain = run.measure(
                server.port, server.pid, mode, args.case, args.concurrency, args
            )
            print(f"  {target}: profiling ...", file=sys.stderr, flush=True)
            out = os.path.join(log_dir, f"{target}.txt")
            spy = threading.Thread(
                target=record,
                args=(server.pid, args.warmup + args.duration - 0.5, args.rate, out),
            )
            spy.start()
            run.measure(
                server.port, server.pid, mode, args.case, args.concurrency, args
            )
            spy.join(args.duration + 60)
            columns[target] = (plain["server_cpu_us"], read_samples(out))
        ok = True
    finally:
        for server in servers.values():
            server.stop()
        if ok and not args.keep:
            shutil.rmtree(log_dir, ignore_errors=True)
        else:
            print(f"profile.py: stacks and logs kept in {log_dir}", file=sys.stderr)

    print(
        f"{args.case}, C={args.concurrency}: server CPU µs per request by stage"
        " (share of py-spy samples x CPU per request of an unprofiled run)"
    )
    head = f"{'stage':30s}" + "".join(f"{name:>10s}" for name in columns)
    print(head)
    print("-" * len(head))
    for stage in STAGES:
        cells = []
        for cpu, counts in columns.values():
            total = sum(counts.values()) or 1
            cells.append(f"{cpu * counts[stage] / total:10.0f}")
        if any(cell.strip() != "0" for cell in cells):
            print(f"{stage:30s}" + "".join(cells))
    print(f"{'total':30s}" + "".join(f"{cpu:10.0f}" for cpu, _ in columns.values()))
    print(
        f"{'samples':30s}"
        + "".join(f"{sum(c.values()):10d}" for _, c in columns.values())
    )


if __name__ == "__main__":
    main()
