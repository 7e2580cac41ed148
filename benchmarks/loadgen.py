"""A lean closed-loop load generator: raw sockets, one selector, one process.

``python benchmarks/loadgen.py --mode ws|http --port N --connections C``

``ws``
    Opens C WebSocket connections to ``/socket.io/?EIO=4&transport=websocket``,
    speaks Engine.IO v4 / Socket.IO v5 with its own minimal framing (client
    frames masked), answers pings, and keeps one request in flight per
    connection: ``42<id>["get",{"url":"/item"}]`` then waits for ``43<id>[...]``.
``http``
    Opens C HTTP/1.1 keep-alive connections and keeps one ``GET /item`` in
    flight on each, reading responses by their Content-Length.

It talks to its parent on stdin/stdout so that several generators can be
started, connected and warmed up before the measured window opens:

1. connect all C connections, run the warm-up for ``--warmup`` seconds;
2. print ``READY`` and wait for a ``GO`` line on stdin;
3. run for ``--duration`` seconds or ``--max-requests`` requests, let the
   requests in flight finish (bounded), print one JSON line of results;
4. wait for a line (or EOF) on stdin, then close the connections and exit.

Without ``--wait`` it does not wait for ``GO``/exit lines (standalone use).
Every loop is bounded in time; only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import select
import selectors
import socket
import sys
import time

HOST = "127.0.0.1"
CONNECT_TIMEOUT = 5.0
DRAIN_TIMEOUT = 5.0
PARENT_TIMEOUT = 120.0


class BenchError(Exception):
    pass


# -- WebSocket framing -------------------------------------------------------


def ws_frame(payload: bytes, opcode: int = 1) -> bytes:
    """A masked, final client frame (RFC 6455 5.3: client frames are masked)."""
    n = len(payload)
    mask = os.urandom(4)
    if n:
        key = (mask * (n // 4 + 1))[:n]
        payload = (
            int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")
        ).to_bytes(n, "big")
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return header + mask + payload


def ws_parse(buf: bytearray) -> list[tuple[int, bytes]]:
    """Take the complete (unmasked, server) frames off the front of ``buf``."""
    frames = []
    pos = 0
    end = len(buf)
    while end - pos >= 2:
        b0 = buf[pos]
        b1 = buf[pos + 1]
        if b1 & 0x80:
            raise BenchError("the server sent a masked frame")
        if not b0 & 0x80:
            raise BenchError("fragmented frames are not supported")
        n = b1 & 0x7F
        head = 2
        if n == 126:
            if end - pos < 4:
                break
            n = int.from_bytes(buf[pos + 2 : pos + 4], "big")
            head = 4
        elif n == 127:
            if end - pos < 10:
                break
            n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
            head = 10
        if end - pos < head + n:
            break
        frames.append((b0 & 0x0F, bytes(buf[pos + head : pos + head + n])))
        pos += head + n
    if pos:
        del buf[:pos]
    return frames


def recv_until(sock: socket.socket, buf: bytearray, done, deadline: float):
    """Blocking read into ``buf`` until ``done(buf)`` returns a value."""
    while True:
        result = done(buf)
        if result:
            return result
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BenchError("timed out during the handshake")
        sock.settimeout(remaining)
        data = sock.recv(65536)
        if not data:
            raise BenchError("the server closed the connection during the handshake")
        buf += data


# -- Connections -------------------------------------------------------------


class Conn:
    __slots__ = ("sock", "buf", "sent_at", "next_id", "busy", "mode", "validated")

    def __init__(self, sock: socket.socket, buf: bytearray, mode: str) -> None:
        self.sock = sock
        self.buf = buf
        self.sent_at = 0.0
        self.next_id = 0
        self.busy = False
        self.mode = mode
        self.validated = False


def open_socket(port: int) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=CONNECT_TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def connect_ws(port: int) -> Conn:
    sock = open_socket(port)
    deadline = time.monotonic() + CONNECT_TIMEOUT
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
            f"Host: {HOST}:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    buf = bytearray()
    end = recv_until(sock, buf, lambda b: b.find(b"\r\n\r\n") + 1, deadline) - 1
    status = bytes(buf[:end]).split(b"\r\n", 1)[0]
    if b" 101 " not in status + b" ":
        raise BenchError(f"WebSocket upgrade refused: {status!r}")
    del buf[: end + 4]
    pending: list[tuple[int, bytes]] = []

    def next_text(_buf: bytearray) -> bytes | None:
        pending.extend(ws_parse(_buf))
        while pending:
            opcode, payload = pending.pop(0)
            if opcode == 1:
                return payload
            if opcode == 8:
                raise BenchError("the server closed the WebSocket during the handshake")
        return None

    opened = recv_until(sock, buf, next_text, deadline)
    if not opened.startswith(b"0{"):
        raise BenchError(f"expected an Engine.IO open packet, got {opened[:80]!r}")
    sock.sendall(ws_frame(b"40"))
    while True:
        packet = recv_until(sock, buf, next_text, deadline)
        if packet == b"2":
            sock.sendall(ws_frame(b"3"))
            continue
        if packet.startswith(b"40"):
            break
        raise BenchError(f"expected a Socket.IO connect packet, got {packet[:80]!r}")
    if pending:
        raise BenchError("unexpected frames after the handshake")
    sock.setblocking(False)
    return Conn(sock, buf, "ws")


def connect_http(port: int) -> Conn:
    sock = open_socket(port)
    sock.setblocking(False)
    return Conn(sock, bytearray(), "http")


# -- The load loop -----------------------------------------------------------


class Runner:
    def __init__(self, mode: str, port: int, conns: list[Conn]) -> None:
        self.mode = mode
        self.conns = conns
        self.sel = selectors.DefaultSelector()
        for conn in conns:
            self.sel.register(conn.sock, selectors.EVENT_READ, conn)
        self.http_request = (
            f"GET /item HTTP/1.1\r\nHost: {HOST}:{port}\r\nAccept: */*\r\n\r\n"
        ).encode()

    def send(self, conn: Conn) -> None:
        if self.mode == "ws":
            conn.next_id += 1
            data = ws_frame(b'42%d["get",{"url":"/item"}]' % conn.next_id)
        else:
            data = self.http_request
        conn.sent_at = time.perf_counter()
        conn.busy = True
        sent = conn.sock.send(data)
        if sent != len(data):  # one small request in flight: never happens
            raise BenchError("short send")

    def phase(self, duration: float, max_requests: int) -> dict:
        """Run closed-loop for ``duration`` s or ``max_requests`` requests."""
        hist: dict[int, int] = {}  # latency in units of 10 µs -> count
        count = 0
        errors = 0
        pongs = 0
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        deadline = start + duration
        hard_deadline = deadline + DRAIN_TIMEOUT
        started = 0
        for conn in self.conns:
            if started < max_requests:
                self.send(conn)
                started += 1
        in_flight = started
        select = self.sel.select
        perf = time.perf_counter
        ws = self.mode == "ws"
        while in_flight:
            now = perf()
            if now > hard_deadline:
                raise BenchError(f"{in_flight} requests never completed")
            for key, _ in select(min(1.0, hard_deadline - now)):
                conn = key.data
                data = conn.sock.recv(262144)
                now = perf()  # per connection: a busy batch must not hide latency
                if not data:
                    raise BenchError("the server closed a connection")
                buf = conn.buf
                buf += data
                done = 0
                if ws:
                    for opcode, payload in ws_parse(buf):
                        if opcode == 1:
                            if payload[:2] == b"43":
                                if not conn.busy:
                                    raise BenchError("an ack with no request in flight")
                                ack_id = int(payload[2 : payload.index(b"[")])
                                if ack_id != conn.next_id:
                                    raise BenchError(
                                        f"ack {ack_id} for request {conn.next_id}"
                                    )
                                if not conn.validated:
                                    jwr = json.loads(payload[payload.index(b"[") :])[0]
                                    if (
                                        jwr.get("statusCode") != 200
                                        or jwr["body"].get("id") != 1
                                    ):
                                        raise BenchError(f"unexpected JWR: {jwr!r}")
                                    conn.validated = True
                                elif (
                                    b'"statusCode": 200' not in payload
                                    and b'"statusCode":200' not in payload
                                ):
                                    errors += 1
                                done += 1
                            elif payload == b"2":
                                conn.sock.send(ws_frame(b"3"))
                                pongs += 1
                            else:
                                raise BenchError(f"unexpected packet {payload[:80]!r}")
                        elif opcode == 9:
                            conn.sock.send(ws_frame(payload, 10))
                        elif opcode == 8:
                            raise BenchError("the server closed the WebSocket")
                else:
                    while True:
                        end = buf.find(b"\r\n\r\n")
                        if end < 0:
                            break
                        head = bytes(buf[:end]).lower()
                        i = head.find(b"\r\ncontent-length:")
                        if i < 0:
                            raise BenchError("a response without Content-Length")
                        j = head.find(b"\r\n", i + 2)
                        length = int(head[i + 17 : j if j >= 0 else len(head)])
                        total = end + 4 + length
                        if len(buf) < total:
                            break
                        if buf[9:12] != b"200":
                            errors += 1
                        if not conn.validated:
                            body = json.loads(bytes(buf[end + 4 : total]))
                            if body.get("id") != 1:
                                raise BenchError(f"unexpected body {body!r}")
                            conn.validated = True
                        del buf[:total]
                        done += 1
                if done:
                    if done != 1 or not conn.busy:
                        raise BenchError("more responses than requests")
                    conn.busy = False
                    in_flight -= 1
                    count += 1
                    bucket = int((now - conn.sent_at) * 1e5)
                    hist[bucket] = hist.get(bucket, 0) + 1
                    if now < deadline and started < max_requests:
                        self.send(conn)
                        started += 1
                        in_flight += 1
        wall = perf() - start
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "count": count,
            "errors": errors,
            "pongs": pongs,
            "wall": wall,
            "cpu": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime),
            "hist": hist,
        }

    def close(self) -> None:
        for conn in self.conns:
            self.sel.unregister(conn.sock)
            try:
                if self.mode == "ws":
                    conn.sock.send(ws_frame(b"\x03\xe8", 8))
            except OSError:
                pass
            conn.sock.close()
        self.sel.close()


def wait_line(timeout: float) -> str:
    ready, _, _ = select.select([sys.stdin], [], [], timeout)
    if not ready:
        raise BenchError("no word from the parent process")
    return sys.stdin.readline().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mode", choices=("ws", "http"), required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--max-requests", type=int, default=2_000_000)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument(
        "--wait", action="store_true", help="handshake with the parent on stdin/stdout"
    )
    args = parser.parse_args()

    connect = connect_ws if args.mode == "ws" else connect_http
    conns = [connect(args.port) for _ in range(args.connections)]
    runner = Runner(args.mode, args.port, conns)
    try:
        if args.warmup > 0:
            runner.phase(args.warmup, args.max_requests)
        if args.wait:
            print("READY", flush=True)
            if wait_line(PARENT_TIMEOUT) != "GO":
                raise BenchError("expected GO")
        result = runner.phase(args.duration, args.max_requests)
        print(json.dumps(result), flush=True)
        if args.wait:
            wait_line(PARENT_TIMEOUT)
    finally:
        runner.close()


if __name__ == "__main__":
    try:
        main()
    except BenchError as exc:
        print(f"loadgen: {exc}", file=sys.stderr)
        sys.exit(1)
