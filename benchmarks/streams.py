"""Large bodies over the socket against HTTP: throughput and server memory.

``python benchmarks/streams.py [--size-mb 50] [--repeat 3] [--window-kb 256]
[--json]``

Starts ``server.py --app sockreq`` (eventlet, default configuration) and, on
one connection each, measures:

``download``
    ``GET /big`` (N MiB produced 64 KiB at a time by a generator): over HTTP
    keep-alive, read as it comes; over the socket as a stream (the request's
    ``stream`` member with a window of ``--window-kb``, ``sockreq:chunk``
    frames, credit granted as the bytes are read).
``upload``
    ``POST /sink`` (a view that reads ``request.stream`` as it arrives and
    keeps none of it) of N MiB: over HTTP with a Content-Length, sent from a
    generator; over the socket as a streamed upload (``sockreq:chunk``
    frames of the ``chunkSize`` the server's hello gives, 256 KiB by
    default, as the clients send them, within its ``sockreq:credit``).

For each: MiB/s (wall time from the request to the end of the body or to
the answer), the server's CPU per MiB, and the server's resident memory
sampled every 20 ms: its peak above what it was before the transfer. The
clients are raw sockets speaking the frames themselves (``loadgen.py``'s
framing), so the client is cheap next to the server. Bounded in time; only
127.0.0.1; the server is stopped by its PID.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from loadgen import connect_ws  # noqa: E402
from loadgen import ws_frame  # noqa: E402
from loadgen import ws_parse  # noqa: E402
from run import BenchError  # noqa: E402
from run import HOST  # noqa: E402
from run import Server  # noqa: E402
from run import server_cpu  # noqa: E402

TIMEOUT = 120.0
PIECE = 65536


class Sampler:
    """Samples a process's VmRSS every 20 ms in a thread; ``peak`` in MiB."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.before = rss(pid)
        self.peak = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss(self.pid))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(2)
        self.peak = max(self.peak, rss(self.pid))
        return self.peak - self.before


def rss(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise BenchError("no VmRSS")


class Frames:
    """A raw Socket.IO connection that reads events, binary attachments
    included, and writes events with binary attachments."""

    def __init__(self, port: int) -> None:
        conn = connect_ws(port)
        self.sock = conn.sock
        self.sock.setblocking(True)
        self.sock.settimeout(TIMEOUT)
        self.buf = conn.buf
        self.frames: list[tuple[int, bytes]] = []
        self.pending: tuple[list, int, list[bytes]] | None = None  # type: ignore[type-arg]

    def send_event(
        self, ack_id: int | None, args: list, binary: bytes | None = None
    ) -> None:  # type: ignore[type-arg]
        head = (
            "4"
            + ("51-" if binary is not None else "2")
            + ("" if ack_id is None else str(ack_id))
        )
        text = head + json.dumps(args, separators=(",", ":"))
        self.sock.sendall(ws_frame(text.encode()))
        if binary is not None:
            self.sock.sendall(ws_frame(binary, opcode=2))

    def next_packet(self) -> tuple[str, list, int | None]:  # type: ignore[type-arg]
        """The next Socket.IO packet: ``(kind, data, id)`` with attachments
        put in place; pings answered on the way."""
        while True:
            while not self.frames:
                data = self.sock.recv(1 << 20)
                if not data:
                    raise BenchError("the server closed the connection")
                self.buf += data
                self.frames.extend(ws_parse(self.buf))
            opcode, payload = self.frames.pop(0)
            if opcode == 2 and self.pending is not None:
                data, count, attachments = self.pending
                attachments.append(payload)
                if len(attachments) == count:
                    self.pending = None
                    return self._complete(data, attachments)
                continue
            if opcode != 1:
                continue
            text = payload.decode()
            if text == "2":
                self.sock.sendall(ws_frame(b"3"))
                continue
            if not text.startswith("4"):
                continue
            kind, rest = text[1], text[2:]
            count = 0
            if kind in "56":
                dash = rest.index("-")
                count, rest = int(rest[:dash]), rest[dash + 1 :]
            bracket = rest.index("[")
            ack_id = int(rest[:bracket]) if rest[:bracket] else None
            data = json.loads(rest[bracket:])
            if count:
                self.pending = (data, count, [])
                self._ack_id = ack_id
                self._kind = kind
                continue
            return kind, data, ack_id

    def _complete(
        self, data: list, attachments: list[bytes]
    ) -> tuple[str, list, int | None]:  # type: ignore[type-arg]
        def fill(value: object) -> object:
            if isinstance(value, dict) and value.get("_placeholder"):
                return attachments[value["num"]]
            if isinstance(value, list):
                return [fill(item) for item in value]
            if isinstance(value, dict):
                return {key: fill(item) for key, item in value.items()}
            return value

        return {"5": "2", "6": "3"}[self._kind], fill(data), self._ack_id  # type: ignore[return-value]

    def close(self) -> None:
        self.sock.close()


def http_download(port: int, size: int) -> int:
    conn = http.client.HTTPConnection(HOST, port, timeout=TIMEOUT)
    try:
        conn.request("GET", f"/big?size={size}")
        response = conn.getresponse()
        total = 0
        while True:
            piece = response.read(PIECE)
            if not piece:
                break
            total += len(piece)
        return total
    finally:
        conn.close()


def http_upload(port: int, size: int) -> int:
    piece = bytes(range(256)) * 256

    def body():  # type: ignore[no-untyped-def]
        left = size
        while left > 0:
            yield piece[: min(left, PIECE)]
            left -= PIECE

    conn = http.client.HTTPConnection(HOST, port, timeout=TIMEOUT)
    try:
        conn.request(
            "POST",
            "/sink",
            body=body(),
            headers={
                "Content-Length": str(size),
                "Content-Type": "application/octet-stream",
            },
        )
        return int(json.loads(conn.getresponse().read())["bytes"])
    finally:
        conn.close()


def socket_download(port: int, size: int, window: int) -> int:
    frames = Frames(port)
    try:
        frames.send_event(
            1,
            [
                "get",
                {
                    "url": f"/big?size={size}",
                    "stream": {"v": 1, "id": "d", "window": window},
                },
            ],
        )
        total = 0
        unacked = 0
        while True:
            kind, data, ack_id = frames.next_packet()
            if kind == "3" and ack_id == 1:
                if data[0]["statusCode"] != 200 or "stream" not in data[0]:
                    raise BenchError(f"unexpected answer {data[0]!r}")
                continue
            event = data[0]
            if event == "sockreq:chunk":
                total += len(data[2])
                unacked += len(data[2])
                if unacked >= window // 2:
                    frames.send_event(None, ["sockreq:credit", "d", unacked])
                    unacked = 0
            elif event == "sockreq:end":
                return total
            elif event == "sockreq:error":
                raise BenchError(f"the stream failed: {data!r}")
    finally:
        frames.close()


def socket_upload(port: int, size: int) -> int:
    frames = Frames(port)
    chunk = PIECE  # until the hello says the server's, as the clients do
    piece = bytes(range(256)) * 4096
    try:
        frames.send_event(
            1,
            [
                "post",
                {
                    "url": "/sink",
                    "stream": {"v": 1, "id": "u", "upload": {"length": size}},
                },
            ],
        )
        sent = granted = 0
        while True:
            kind, data, ack_id = frames.next_packet()
            if kind == "3" and ack_id == 1:
                jwr = data[0]
                if jwr["statusCode"] != 200:
                    raise BenchError(f"unexpected answer {jwr!r}")
                return int(jwr["body"]["bytes"])
            if data[0] == "sockreq:hello":
                chunk = int(data[1].get("streams", {}).get("chunkSize", PIECE))
            elif data[0] == "sockreq:credit":
                granted += data[2]
                while sent < min(granted, size):
                    n = min(chunk, granted - sent, size - sent)
                    frames.send_event(
                        None,
                        ["sockreq:chunk", "u", sent, {"_placeholder": True, "num": 0}],
                        piece[:n],
                    )
                    sent += n
                if sent == size:
                    frames.send_event(None, ["sockreq:end", "u", size])
                    sent += 1  # the end is sent once
    finally:
        frames.close()


def measure(server: Server, fn, *args) -> dict[str, float]:  # type: ignore[no-untyped-def]
    sampler = Sampler(server.pid)
    cpu0 = server_cpu(server.pid)
    own0 = time.process_time()
    start = time.perf_counter()
    count = fn(server.port, *args)
    wall = time.perf_counter() - start
    own = time.process_time() - own0
    cpu = server_cpu(server.pid) - cpu0
    grown = sampler.stop()
    mib = count / (1 << 20)
    return {
        "mib_per_s": mib / wall,
        "server_cpu_ms_per_mib": cpu / mib * 1000,
        "client_cpu_ms_per_mib": own / mib * 1000,
        "rss_peak_growth_mib": grown,
        "rss_before_mib": sampler.before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size-mb", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--window-kb", type=int, default=256)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    size = args.size_mb << 20
    window = args.window_kb << 10
    cases = {
        ("download", "HTTP"): (http_download, size),
        ("download", "socket"): (socket_download, size, window),
        ("upload", "HTTP"): (http_upload, size),
        ("upload", "socket"): (socket_upload, size),
    }
    log_dir = tempfile.mkdtemp(prefix="sockreq-streams-")
    server = Server("sockreq", log_dir, [])
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    try:
        server.wait_ready()
        for _ in range(args.repeat):
            for key, (fn, *fn_args) in cases.items():
                print(f"  {key[0]} over {key[1]} ...", file=sys.stderr, flush=True)
                results.setdefault(key, []).append(measure(server, fn, *fn_args))
    finally:
        server.stop()
    rows = {
        key: {name: statistics.median(run[name] for run in runs) for name in runs[0]}
        for key, runs in results.items()
    }
    if args.json:
        print(json.dumps({f"{a} {b}": row for (a, b), row in rows.items()}, indent=2))
        return
    print(
        f"{args.size_mb} MiB per transfer, one connection, median of {args.repeat};"
        f" socket download window {args.window_kb} KiB, upload window the server's"
    )
    print(
        f"{'transfer':10s} {'over':7s} {'MiB/s':>7s} {'srv ms/MiB':>11s}"
        f" {'client ms/MiB':>14s} {'RSS peak +MiB':>14s}"
    )
    for (what, over), row in rows.items():
        print(
            f"{what:10s} {over:7s} {row['mib_per_s']:7.1f}"
            f" {row['server_cpu_ms_per_mib']:11.1f}"
            f" {row['client_cpu_ms_per_mib']:14.1f} {row['rss_peak_growth_mib']:14.1f}"
        )
    for what in ("download", "upload"):
        ratio = rows[(what, "socket")]["mib_per_s"] / rows[(what, "HTTP")]["mib_per_s"]
        verdict = "met" if ratio >= 0.8 else "NOT met"
        print(
            f"{what}: socket throughput {ratio:.2f} x HTTP (target >= 0.8: {verdict})"
        )


if __name__ == "__main__":
    try:
        main()
    except BenchError as exc:
        print(f"streams.py: {exc}", file=sys.stderr)
        sys.exit(1)
