"""Soak: N sockets of mixed traffic for M minutes; is the server flat?

``python benchmarks/soak.py --mode gevent|eventlet|threading|all
[--sockets 50] [--minutes 1] [--rate 200] [--interval 10] [--json]``

Starts ``tests/serve.py`` (the test app, no access log) in the given async
mode on a free port of 127.0.0.1 and drives it with ``--sockets`` raw
Engine.IO/Socket.IO connections (``tests/rawsocket.py``) shared by a few
threads, at about ``--rate`` requests per second in all:

* ``GET /hello/<n>`` (half of the requests);
* ``POST /echo`` with a body of its own, whose echo is checked (no cross-talk);
* ``POST /rooms-api/broadcast`` to one of the rooms the sockets joined, so
  that every socket also receives pushes;
* connects and disconnects: about one request in fifty closes its socket
  (half with a close frame, half by dropping the TCP connection) and opens a
  new one, which joins a room.

Every ``--interval`` seconds it samples the server's RSS (``VmRSS`` of
``/proc/PID/status``) and open file descriptors (``/proc/PID/fd``) and the
client's counts, and prints them as a table. At the end it closes every
socket, waits (bounded) for the server to settle, samples once more and gives
a verdict:

* RSS flat after the warm-up (the first quarter of the run, at least two
  intervals): the last sample at most ``max(4 MiB, 5 %)`` above the first
  sample after the warm-up;
* file descriptors back to their count before the run once the sockets are
  closed (at most 2 over);
* no request failed or went unanswered, and the server is still alive.

The exit status is 0 when flat, 1 when not. ``--minutes 1`` is the short run
CI makes for each mode (``--mode all``, about 3.5 minutes). Every loop is
bounded in time; the server is stopped by its PID whatever happens.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import typing as t

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from tests.rawsocket import RawSocket  # noqa: E402

MODES = ("threading", "eventlet", "gevent")
HOST = "127.0.0.1"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
ACK_TIMEOUT = 10.0
SETTLE_TIMEOUT = 15.0
ROOMS = 5


class Server:
    """``tests/serve.py`` in a subprocess, stopped by its PID."""

    def __init__(self, mode: str) -> None:
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            self.port = probe.getsockname()[1]
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [
                sys.executable,
                os.path.join(ROOT, "tests", "serve.py"),
                "--mode",
                mode,
                "--port",
                str(self.port),
                "--no-access-log",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            cwd=ROOT,
        )
        self.pid = self.process.pid

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                with socket.create_connection((HOST, self.port), timeout=1) as sock:
                    sock.sendall(b"GET /health HTTP/1.0\r\n\r\n")
                    if b"ok" in sock.recv(4096):
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"soak: the server did not start:\n{self.stderr()}")

    def stderr(self) -> str:
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        self.log.close()


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class Counts:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.errors = 0
        self.connects = 0
        self.pushes = 0
        self.first_error = ""

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def error(self, what: str) -> None:
        with self.lock:
            self.errors += 1
            if not self.first_error:
                self.first_error = what


class Worker(threading.Thread):
    """Drives a share of the sockets round-robin, one request at a time."""

    def __init__(
        self, index: int, port: int, sockets: int, rate: float, counts: Counts
    ) -> None:
        super().__init__(daemon=True)
        self.index = index
        self.port = port
        self.count = sockets
        self.period = 1.0 / rate if rate > 0 else 0.0
        self.counts = counts
        self.random = random.Random(index)
        self.stop = threading.Event()
        self.sockets: list[RawSocket | None] = [None] * sockets
        self.next_id = 0

    def open(self) -> RawSocket:
        raw = RawSocket(self.port)
        raw.connect_namespace()
        room = f"soak-{self.random.randrange(ROOMS)}"
        self.counts.add(connects=1)
        self.request(raw, "post", "/rooms-api/join", {"room": room})
        return raw

    def request(
        self, raw: RawSocket, event: str, url: str, data: t.Any = None
    ) -> dict[str, t.Any] | None:
        self.next_id += 1
        ack_id = self.next_id
        raw.emit(event, {"url": url, "data": data}, ack_id)
        ack = raw.wait_ack(ack_id, ACK_TIMEOUT)
        pushes = sum(1 for packet in raw.packets if packet.type == 2)
        raw.packets.clear()  # keep the client's memory flat too
        self.counts.add(requests=1, pushes=pushes)
        if ack is None:
            self.counts.error(f"no answer to {event} {url} (closed={raw.closed})")
            return None
        jwr = ack.data[0]
        if jwr.get("statusCode") not in (200, 201):
            self.counts.error(f"{event} {url} answered {jwr.get('statusCode')}")
            return None
        return t.cast(dict, jwr)

    def run(self) -> None:
        next_at = time.monotonic()
        slot = 0
        try:
            while not self.stop.is_set():
                raw = self.sockets[slot]
                if raw is None or raw.closed:
                    raw = self.sockets[slot] = self.open()
                self.one_request(raw)
                roll = self.random.random()
                if roll < 0.01:
                    raw.close()
                    self.sockets[slot] = None
                elif roll < 0.02:
                    raw.abort()
                    self.sockets[slot] = None
                slot = (slot + 1) % self.count
                next_at += self.period
                delay = next_at - time.monotonic()
                if delay > 0:
                    self.stop.wait(delay)
                else:
                    next_at = time.monotonic()
        except Exception as exc:  # a client failure is a finding, not a crash
            self.counts.error(f"worker {self.index}: {type(exc).__name__}: {exc}")
        finally:
            for raw in self.sockets:
                if raw is not None:
                    raw.close()

    def one_request(self, raw: RawSocket) -> None:
        roll = self.random.random()
        n = self.random.randrange(10**6)
        if roll < 0.5:
            jwr = self.request(raw, "get", f"/hello/{n}")
            if jwr is not None and jwr["body"].get("n") != n:
                self.counts.error(f"GET /hello/{n} answered {jwr['body']!r}")
        elif roll < 0.9:
            body = {"worker": self.index, "n": n, "pad": "x" * (n % 2000)}
            jwr = self.request(raw, "post", "/echo", body)
            if jwr is not None and jwr["body"].get("json") != body:
                self.counts.error(f"POST /echo got another body (n={n})")
        else:
            room = f"soak-{self.random.randrange(ROOMS)}"
            self.request(
                raw,
                "post",
                "/rooms-api/broadcast",
                {"rooms": [room], "event": "soak", "data": {"n": n}},
            )


def soak(mode: str, args: argparse.Namespace) -> dict[str, t.Any]:
    server = Server(mode)
    samples: list[dict[str, t.Any]] = []
    counts = Counts()
    try:
        server.wait_ready()
        baseline_fds = fd_count(server.pid)
        duration = args.minutes * 60
        threads = max(1, min(args.threads, args.sockets))
        workers = [
            Worker(
                index,
                server.port,
                len(range(index, args.sockets, threads)),
                args.rate / threads,
                counts,
            )
            for index in range(threads)
        ]
        start = time.monotonic()
        for worker in workers:
            worker.start()

        def sample(label: float | str) -> dict[str, t.Any]:
            row = {
                "t": label,
                "rss_kib": rss_kib(server.pid),
                "fds": fd_count(server.pid),
                "requests": counts.requests,
                "errors": counts.errors,
                "connects": counts.connects,
                "pushes": counts.pushes,
            }
            samples.append(row)
            if not args.json:
                print_row(row)
            return row

        if not args.json:
            print(
                f"\n{mode}: {args.sockets} sockets, {args.minutes} min,"
                f" pid {server.pid}"
            )
            print_row(None)
        sample(0)
        end = start + duration
        while time.monotonic() < end and server.process.poll() is None:
            time.sleep(min(args.interval, max(0.0, end - time.monotonic())))
            if server.process.poll() is None:
                sample(round(time.monotonic() - start))
        for worker in workers:
            worker.stop.set()
        for worker in workers:
            worker.join(ACK_TIMEOUT + STOP_TIMEOUT)
        alive = server.process.poll() is None
        settled_fds = fd_count(server.pid) if alive else -1
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while alive and settled_fds > baseline_fds + 2 and time.monotonic() < deadline:
            time.sleep(0.2)
            settled_fds = fd_count(server.pid)
        if alive:
            sample("closed")
        return verdict(mode, args, samples, baseline_fds, settled_fds, alive, counts)
    finally:
        server.stop()


def verdict(
    mode: str,
    args: argparse.Namespace,
    samples: list[dict[str, t.Any]],
    baseline_fds: int,
    settled_fds: int,
    alive: bool,
    counts: Counts,
) -> dict[str, t.Any]:
    timed = [row for row in samples if isinstance(row["t"], (int, float))]
    warmup = max(2 * args.interval, args.minutes * 60 / 4)
    after = [row for row in timed if row["t"] >= warmup] or timed[-1:]
    first, last = after[0]["rss_kib"], after[-1]["rss_kib"]
    tolerance = max(4096, first // 20)
    problems = []
    if not alive:
        problems.append("the server died")
    if last - first > tolerance:
        problems.append(
            f"RSS grew {(last - first) / 1024:.1f} MiB after the warm-up"
            f" (tolerance {tolerance / 1024:.1f} MiB)"
        )
    if settled_fds > baseline_fds + 2:
        problems.append(
            f"{settled_fds - baseline_fds} file descriptors still open after"
            " every socket closed"
        )
    if counts.errors:
        problems.append(f"{counts.errors} failed requests, first: {counts.first_error}")
    if counts.requests == 0:
        problems.append("no request was served")
    return {
        "mode": mode,
        "flat": not problems,
        "problems": problems,
        "rss_growth_kib": last - first,
        "baseline_fds": baseline_fds,
        "settled_fds": settled_fds,
        "requests": counts.requests,
        "samples": samples,
    }


def print_row(row: dict[str, t.Any] | None) -> None:
    if row is None:
        print(
            f"{'t (s)':>7} {'RSS MiB':>8} {'fds':>5} {'requests':>9} {'errors':>6}"
            f" {'connects':>8} {'pushes':>8}"
        )
        return
    print(
        f"{row['t']!s:>7} {row['rss_kib'] / 1024:>8.1f} {row['fds']:>5}"
        f" {row['requests']:>9} {row['errors']:>6} {row['connects']:>8}"
        f" {row['pushes']:>8}",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mode", choices=(*MODES, "all"), default="gevent")
    parser.add_argument("--sockets", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--rate", type=float, default=200.0, help="requests/s in all")
    parser.add_argument("--threads", type=int, default=5, help="client threads")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    modes = MODES if args.mode == "all" else (args.mode,)
    results = [soak(mode, args) for mode in modes]
    if args.json:
        print(json.dumps(results))
    else:
        print()
        for result in results:
            word = "flat" if result["flat"] else "NOT FLAT"
            detail = "; ".join(result["problems"]) or (
                f"RSS {result['rss_growth_kib'] / 1024:+.1f} MiB after the warm-up,"
                f" fds back to {result['settled_fds']}, {result['requests']} requests"
            )
            print(f"soak {result['mode']}: {word}: {detail}")
    return 0 if all(result["flat"] for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
