"""A lean closed-loop load generator: raw sockets, one selector, one process.

``python benchmarks/loadgen.py --mode ws|http --port N --connections C
[--case get|post1k|post64k|file100k] [--query QS] [--no-cookies]``

``ws``
    Opens C WebSocket connections to ``/socket.io/?EIO=4&transport=websocket``
    (plus ``&QS`` with ``--query``), speaks Engine.IO v4 / Socket.IO v5 with
    its own minimal framing (client frames masked), answers pings, and keeps
    one request in flight per connection: ``42<id>["get",{"url":"/item"}]``
    then waits for ``43<id>[...]``.
``http``
    Opens C HTTP/1.1 keep-alive connections and keeps one request in flight
    on each, reading responses by their Content-Length. Like a browser, each
    connection sends back the first cookie it is given (``--no-cookies``
    turns that off), so that a server with sessions, such as Sails, does not
    mint a new session for every request.

The cases (``--case``, default ``get``), the same in both modes:

``get``
    ``GET /item``; the first response's body must have ``"id": 1``.
``post1k``, ``post64k``
    ``POST /echo`` with a JSON object whose compact encoding is exactly
    1,024 or 65,536 bytes (:func:`make_body`, built once). Over the socket it
    is the payload's ``data``: ``42<id>["post",{"url":"/echo","data":{...}}]``;
    over HTTP it is the body, with ``Content-Type: application/json``. The
    first response must be a 200 with ``"id": 1``.
``file100k``
    ``GET /file``, a 102,400-byte binary body (:data:`FILE_BODY`). Over the
    socket the answer is a binary ack, ``461-<id>[{"body":{"_placeholder":
    true,"num":0},...}]`` (Engine.IO message ``4``, Socket.IO binary ack
    ``6`` with one attachment), followed by one binary WebSocket frame
    (Engine.IO v4 sends attachments as raw binary frames); a request
    completes when its attachment has arrived. The first attachment must
    equal the file.

Later responses are checked by status only (``errors`` in the output).

``--query`` exists for Sails.js: sails-hook-sockets refuses every virtual
request from a client that does not announce a sails.io.js SDK version of
0.11 or more, so a Sails run needs ``--query __sails_io_sdk_version=1.2.1``.
Sails' socket.io 4 server speaks Engine.IO v4 to ``EIO=4`` clients, so no
other change is needed.

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
import typing as t

HOST = "127.0.0.1"
CONNECT_TIMEOUT = 5.0
DRAIN_TIMEOUT = 5.0
PARENT_TIMEOUT = 120.0
RECV_SIZE = 262144

CASES = ("get", "post1k", "post64k", "file100k")
#: The body of ``GET /file`` on every server: the bytes 0-255 over and over.
FILE_BODY = bytes(range(256)) * 400


class BenchError(Exception):
    """The server broke the protocol, answered wrongly, or timed out."""


# -- WebSocket framing -------------------------------------------------------


def _frame_header(opcode: int, n: int) -> bytes:
    """The first bytes of a final, masked client frame of ``n`` payload bytes."""
    if n < 126:
        return bytes((0x80 | opcode, 0x80 | n))
    if n < 65536:
        return bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    return bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")


def ws_frame(payload: bytes, opcode: int = 1) -> bytes:
    """A masked, final client frame (RFC 6455 5.3: client frames are masked)."""
    n = len(payload)
    mask = os.urandom(4)
    if n:
        key = (mask * (n // 4 + 1))[:n]
        payload = (
            int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")
        ).to_bytes(n, "big")
    return _frame_header(opcode, n) + mask + payload


class FrameTemplate:
    """Client frames made of a short prefix that changes (``42<id>``) and a
    long tail that does not (the event and its payload).

    The tail is turned into an integer once. Each frame still gets a fresh
    mask, as RFC 6455 asks, but the repeated mask is built by one
    multiplication (the mask times ``0x00000001 00000001 ...``) instead of
    from bytes: a 64 KB frame costs about 90 µs instead of 150 µs with
    :func:`ws_frame`, most of it the final ``to_bytes``.
    """

    __slots__ = ("opcode", "tail", "tail_int", "rep", "pad")

    def __init__(self, tail: bytes, opcode: int = 1) -> None:
        self.opcode = opcode
        self.tail = tail
        words = (len(tail) + 3) // 4
        self.pad = 8 * (4 * words - len(tail))
        self.tail_int = int.from_bytes(tail, "big")
        self.rep = ((1 << (32 * words)) - 1) // 0xFFFFFFFF

    def frame(self, prefix: bytes) -> bytes:
        mask = os.urandom(4)
        n = len(prefix)
        masked_prefix = (
            int.from_bytes(prefix, "big")
            ^ int.from_bytes((mask * (n // 4 + 1))[:n], "big")
        ).to_bytes(n, "big")
        # The tail starts at offset n: its key starts at mask byte n % 4.
        off = n % 4
        rotated = int.from_bytes(mask[off:] + mask[:off], "big")
        key = (rotated * self.rep) >> self.pad
        masked_tail = (self.tail_int ^ key).to_bytes(len(self.tail), "big")
        header = _frame_header(self.opcode, n + len(self.tail))
        return b"".join((header, mask, masked_prefix, masked_tail))


def ws_parse(buf: bytearray) -> list[tuple[int, bytes]]:
    """Take the complete (unmasked, server) messages off the front of ``buf``.

    A frame split over several reads stays in ``buf`` until it is whole. A
    fragmented message (a first frame without FIN, then continuation frames)
    is returned as one message once all its fragments are in ``buf``; control
    frames sent between its fragments come out before it.
    """
    messages: list[tuple[int, bytes]] = []
    pos = 0
    end = len(buf)
    while True:
        frame = _next_frame(buf, pos, end)
        if frame is None:
            break
        fin, opcode, start, stop = frame
        if fin:
            if opcode == 0:
                raise BenchError("a continuation frame with no message to continue")
            messages.append((opcode, _take(buf, start, stop)))
            pos = stop
            continue
        # The first fragment: look ahead for the rest, copy nothing until the
        # last one is here (it may take several reads).
        if opcode == 0 or opcode >= 8:
            raise BenchError("a malformed fragmented message")
        parts = [(start, stop)]
        controls: list[tuple[int, int, int]] = []
        scan = stop
        complete = False
        while True:
            frame = _next_frame(buf, scan, end)
            if frame is None:
                break
            fin, part_opcode, start, stop = frame
            scan = stop
            if part_opcode >= 8:
                controls.append((part_opcode, start, stop))
                continue
            if part_opcode != 0:
                raise BenchError("a new message inside a fragmented one")
            parts.append((start, stop))
            if fin:
                complete = True
                break
        if not complete:
            break
        for control, start, stop in controls:
            messages.append((control, _take(buf, start, stop)))
        view = memoryview(buf)
        message = b"".join(view[start:stop] for start, stop in parts)
        view.release()
        messages.append((opcode, message))
        pos = scan
    if pos:
        del buf[:pos]
    return messages


def _take(buf: bytearray, start: int, stop: int) -> bytes:
    # One copy instead of two (a bytearray slice, then bytes): attachments
    # are 100 KB. The view is released at once, so ``buf`` can shrink after.
    return bytes(memoryview(buf)[start:stop])


def _next_frame(
    buf: bytearray, pos: int, end: int
) -> tuple[bool, int, int, int] | None:
    """``(fin, opcode, payload start, payload end)`` of the frame at ``pos``,
    or None while it is incomplete."""
    if end - pos < 2:
        return None
    b0 = buf[pos]
    b1 = buf[pos + 1]
    if b1 & 0x80:
        raise BenchError("the server sent a masked frame")
    if b0 & 0x70:
        raise BenchError("the server set RSV bits that were never negotiated")
    n = b1 & 0x7F
    head = 2
    if n == 126:
        if end - pos < 4:
            return None
        n = int.from_bytes(buf[pos + 2 : pos + 4], "big")
        head = 4
    elif n == 127:
        if end - pos < 10:
            return None
        n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
        head = 10
    if end - pos < head + n:
        return None
    return bool(b0 & 0x80), b0 & 0x0F, pos + head, pos + head + n


def recv_until(
    sock: socket.socket,
    buf: bytearray,
    done: t.Callable[[bytearray], t.Any],
    deadline: float,
) -> t.Any:
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
    """One connection and the state of its one request in flight."""

    __slots__ = (
        "sock",
        "buf",
        "sent_at",
        "next_id",
        "busy",
        "mode",
        "validated",
        "out",
        "attachments",
        "jwr",
        "expect",
        "body_at",
        "cookie",
        "request",
    )

    def __init__(self, sock: socket.socket, buf: bytearray, mode: str) -> None:
        self.sock = sock
        self.buf = buf
        self.sent_at = 0.0
        self.next_id = 0
        self.busy = False
        self.mode = mode
        self.validated = False
        #: What is left to send of the last write, when the socket was full.
        self.out: memoryview | None = None
        #: ws: binary attachments still awaited by the current binary ack.
        self.attachments = 0
        #: ws: the text part of the first binary ack, kept for validation.
        self.jwr: bytes = b""
        #: http: the length of the current response (head and body) once its
        #: head has been read, and where its body starts.
        self.expect = 0
        self.body_at = 0
        #: http: the ``name=value`` of the first cookie the server set.
        self.cookie: bytes | None = None
        #: http: the request bytes, rebuilt when a cookie arrives.
        self.request: bytes = b""


def open_socket(port: int) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=CONNECT_TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def connect_ws(port: int, query: str = "") -> Conn:
    """Open a WebSocket, then the Engine.IO v4 session and the default
    Socket.IO namespace; ``query`` is appended to the handshake URL."""
    sock = open_socket(port)
    deadline = time.monotonic() + CONNECT_TIMEOUT
    key = base64.b64encode(os.urandom(16)).decode()
    extra = f"&{query}" if query else ""
    sock.sendall(
        (
            f"GET /socket.io/?EIO=4&transport=websocket{extra} HTTP/1.1\r\n"
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
    # Events the server pushes right after the connect (Flask-SockReq's
    # sockreq:hello) are not answers: leave them out.
    if any(opcode != 1 or not payload.startswith(b"42") for opcode, payload in pending):
        raise BenchError("unexpected frames after the handshake")
    sock.setblocking(False)
    return Conn(sock, buf, "ws")


def connect_http(port: int) -> Conn:
    sock = open_socket(port)
    sock.setblocking(False)
    return Conn(sock, bytearray(), "http")


# -- Request cases -----------------------------------------------------------


def make_body(size: int) -> dict[str, t.Any]:
    """A deterministic JSON object whose compact encoding is ``size`` bytes.

    Items that look like a small API's records fill it; a final ``pad``
    string makes the length exact, so every server parses the same bytes.
    """
    items: list[dict[str, t.Any]] = []
    body: dict[str, t.Any] = {"items": items, "pad": ""}
    # Counted as it grows (an item adds its encoding and a comma), then
    # checked once: encoding the whole body per item would be quadratic.
    length = len(json.dumps(body, separators=(",", ":"))) - 1
    while True:
        n = len(items)
        item = {"id": n, "name": f"item-{n:05d}", "tags": ["a", "b"], "price": n * 0.5}
        grown = length + len(json.dumps(item, separators=(",", ":"))) + 1
        if grown > size:
            break
        items.append(item)
        length = grown
    body["pad"] = "x" * (size - len(json.dumps(body, separators=(",", ":"))))
    if len(json.dumps(body, separators=(",", ":"))) != size:
        raise BenchError(f"could not build a body of {size} bytes")
    return body


class Case:
    """What one ``--case`` sends and expects, built once."""

    def __init__(self, name: str, port: int) -> None:
        if name not in CASES:
            raise BenchError(f"unknown case {name!r}; choose one of {', '.join(CASES)}")
        self.name = name
        self.binary = name == "file100k"
        head = f"Host: {HOST}:{port}\r\nAccept: */*\r\n".encode()
        if name.startswith("post"):
            size = 1024 if name == "post1k" else 65536
            body = json.dumps(make_body(size), separators=(",", ":")).encode()
            tail = b'["post",{"url":"/echo","data":' + body + b"}]"
            self.http_line = b"POST /echo HTTP/1.1\r\n"
            self.http_head = head + (
                b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
            )
            self.http_body = body
        else:
            path = b"/file" if self.binary else b"/item"
            tail = b'["get",{"url":"' + path + b'"}]'
            self.http_line = b"GET " + path + b" HTTP/1.1\r\n"
            self.http_head = head
            self.http_body = b""
        self.tail = tail
        # Below a few KB, masking the whole payload per frame is as cheap.
        self.template = FrameTemplate(tail) if len(tail) >= 4096 else None

    def ws_request(self, ack_id: int) -> bytes:
        if self.template is None:
            return ws_frame(b"42%d" % ack_id + self.tail)
        return self.template.frame(b"42%d" % ack_id)

    def http_request(self, cookie: bytes | None) -> bytes:
        cookie_line = b"Cookie: " + cookie + b"\r\n" if cookie else b""
        return b"".join(
            (self.http_line, self.http_head, cookie_line, b"\r\n", self.http_body)
        )

    def check_json(self, status: int | None, body: t.Any) -> None:
        """Validate the first JSON answer of a ``get`` or ``post`` case."""
        if status != 200 or not isinstance(body, dict) or body.get("id") != 1:
            raise BenchError(
                f"unexpected first response to {self.name}: status {status!r}, "
                f"body {str(body)[:200]}"
            )

    def check_file(self, status: int | None, body: bytes) -> None:
        if status != 200 or body != FILE_BODY:
            raise BenchError(
                f"unexpected first response to {self.name}: status {status!r}, "
                f"{len(body)} bytes starting {body[:16]!r}"
            )


def _not_a_jwr(case: str, payload: bytes) -> str:
    hint = ""
    if b"sails_io_sdk" in payload or b"SDK version" in payload:
        hint = " (Sails wants --query __sails_io_sdk_version=1.2.1)"
    return f"the first ack to {case} is not a JWR{hint}: {payload[:300]!r}"


# -- The load loop -----------------------------------------------------------


class Runner:
    """Keeps one request of ``case`` in flight on each connection."""

    def __init__(
        self,
        mode: str,
        port: int,
        conns: list[Conn],
        case: Case | None = None,
        cookies: bool = True,
    ) -> None:
        self.mode = mode
        self.conns = conns
        self.case = case or Case("get", port)
        self.cookies = cookies
        self.sel = selectors.DefaultSelector()
        for conn in conns:
            self.sel.register(conn.sock, selectors.EVENT_READ, conn)
            conn.request = self.case.http_request(None)

    def write(self, conn: Conn, data: bytes) -> None:
        """Send ``data`` now, or what the socket does not take once it is
        writable again: a 64 KB request may not fit in one send()."""
        if conn.out is not None:
            # Behind a partial write: frames must not interleave.
            conn.out = memoryview(bytes(conn.out) + data)
            return
        try:
            sent = conn.sock.send(data)
        except BlockingIOError:
            sent = 0
        if sent < len(data):
            conn.out = memoryview(data)[sent:]
            self.sel.modify(
                conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, conn
            )

    def flush(self, conn: Conn) -> None:
        out = conn.out
        if out is None:
            return
        try:
            sent = conn.sock.send(out)
        except BlockingIOError:
            return
        if sent < len(out):
            conn.out = out[sent:]
            return
        conn.out = None
        self.sel.modify(conn.sock, selectors.EVENT_READ, conn)

    def send(self, conn: Conn) -> None:
        if self.mode == "ws":
            conn.next_id += 1
            data = self.case.ws_request(conn.next_id)
        else:
            data = conn.request
        conn.sent_at = time.perf_counter()
        conn.busy = True
        self.write(conn, data)

    def phase(self, duration: float, max_requests: int) -> dict[str, t.Any]:
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
        binary = self.case.binary
        while in_flight:
            now = perf()
            if now > hard_deadline:
                raise BenchError(f"{in_flight} requests never completed")
            for key, events in select(min(1.0, hard_deadline - now)):
                conn = key.data
                if events & selectors.EVENT_WRITE:
                    self.flush(conn)
                    if not events & selectors.EVENT_READ:
                        continue
                try:
                    data = conn.sock.recv(RECV_SIZE)
                except BlockingIOError:
                    continue
                now = perf()  # per connection: a busy batch must not hide latency
                if not data:
                    raise BenchError("the server closed a connection")
                buf = conn.buf
                buf += data
                if ws:
                    done, failed, answered = self._read_ws(conn, buf, binary)
                    pongs += answered
                else:
                    done, failed = self._read_http(conn, buf, binary)
                errors += failed
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

    def _read_ws(
        self, conn: Conn, buf: bytearray, binary: bool
    ) -> tuple[int, int, int]:
        """Handle the whole messages in ``buf``: (completed, failed, pongs)."""
        done = failed = pongs = 0
        for opcode, payload in ws_parse(buf):
            if opcode == 1:
                # Engine.IO message "4" around Socket.IO packets: "43" is an
                # ack, "46<n>-" a binary ack followed by n binary frames.
                kind = payload[:2]
                if kind == b"43":
                    attachments = 0
                    ack_at = 2
                elif kind == b"46":
                    dash = payload.index(b"-")
                    attachments = int(payload[2:dash])
                    ack_at = dash + 1
                elif payload == b"2":
                    self.write(conn, ws_frame(b"3"))
                    pongs += 1
                    continue
                elif kind == b"42":
                    continue  # a pushed event, such as sockreq:hello
                else:
                    raise BenchError(f"unexpected packet {payload[:80]!r}")
                if not conn.busy or conn.attachments:
                    raise BenchError("an ack with no request in flight")
                bracket = payload.index(b"[", ack_at)
                ack_id = int(payload[ack_at:bracket])
                if ack_id != conn.next_id:
                    raise BenchError(f"ack {ack_id} for request {conn.next_id}")
                if not conn.validated:
                    if binary != (attachments > 0):
                        if b'"statusCode"' not in payload:
                            raise BenchError(_not_a_jwr(self.case.name, payload))
                        raise BenchError(
                            f"expected a {'binary ' if binary else ''}ack to "
                            f"{self.case.name}, got {payload[:120]!r}"
                        )
                    if not binary:
                        jwr = json.loads(payload[bracket:])[0]
                        if not isinstance(jwr, dict) or "statusCode" not in jwr:
                            raise BenchError(_not_a_jwr(self.case.name, payload))
                        self.case.check_json(jwr["statusCode"], jwr.get("body"))
                        conn.validated = True
                    else:
                        conn.jwr = payload[bracket:]
                elif (
                    b'"statusCode":200' not in payload
                    and b'"statusCode": 200' not in payload
                ):
                    failed += 1
                if attachments:
                    conn.attachments = attachments
                else:
                    done += 1
            elif opcode == 2:
                if not conn.attachments:
                    raise BenchError("a binary frame with no binary ack awaiting it")
                conn.attachments -= 1
                if not conn.validated:
                    jwr = json.loads(conn.jwr)[0]
                    placeholder = {"_placeholder": True, "num": 0}
                    if jwr.get("body") != placeholder or conn.attachments:
                        raise BenchError(f"unexpected binary JWR: {conn.jwr[:200]!r}")
                    self.case.check_file(jwr.get("statusCode"), payload)
                    conn.validated = True
                    conn.jwr = b""
                if not conn.attachments:
                    done += 1
            elif opcode == 9:
                self.write(conn, ws_frame(payload, 10))
            elif opcode == 8:
                raise BenchError("the server closed the WebSocket")
        return done, failed, pongs

    def _read_http(self, conn: Conn, buf: bytearray, binary: bool) -> tuple[int, int]:
        """Handle the whole responses in ``buf``: (completed, failed)."""
        done = failed = 0
        while True:
            if not conn.expect:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    break
                raw = bytes(buf[:end])
                head = raw.lower()
                i = head.find(b"\r\ncontent-length:")
                if i < 0:
                    raise BenchError("a response without Content-Length")
                j = head.find(b"\r\n", i + 2)
                length = int(head[i + 17 : j if j >= 0 else len(head)])
                conn.body_at = end + 4
                conn.expect = end + 4 + length
                if self.cookies and conn.cookie is None:
                    i = head.find(b"\r\nset-cookie:")
                    if i >= 0:
                        j = raw.find(b";", i)
                        k = raw.find(b"\r\n", i + 2)
                        stop = min(x for x in (j, k, len(raw)) if x >= 0)
                        conn.cookie = raw[i + 13 : stop].strip()
                        conn.request = self.case.http_request(conn.cookie)
            total = conn.expect
            if len(buf) < total:
                break
            status = buf[9:12]
            if not conn.validated:
                body = bytes(buf[conn.body_at : total])
                code = int(status) if status.isdigit() else None
                if binary:
                    self.case.check_file(code, body)
                else:
                    self.case.check_json(code, json.loads(body))
                conn.validated = True
            elif status != b"200":
                failed += 1
            del buf[:total]
            conn.expect = 0
            done += 1
        return done, failed

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
    parser.add_argument("--case", choices=CASES, default="get")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--max-requests", type=int, default=2_000_000)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument(
        "--query",
        default="",
        metavar="QS",
        help="extra query string for the WebSocket URL, e.g. "
        "__sails_io_sdk_version=1.2.1 for Sails",
    )
    parser.add_argument(
        "--no-cookies",
        dest="cookies",
        action="store_false",
        help="http: never send a Cookie back (a server with sessions then "
        "makes a new one per request)",
    )
    parser.add_argument(
        "--wait", action="store_true", help="handshake with the parent on stdin/stdout"
    )
    args = parser.parse_args()

    case = Case(args.case, args.port)
    conns: list[Conn] = []
    try:
        for _ in range(args.connections):
            if args.mode == "ws":
                conns.append(connect_ws(args.port, args.query))
            else:
                conns.append(connect_http(args.port))
    except BaseException:
        for conn in conns:
            conn.sock.close()
        raise
    runner = Runner(args.mode, args.port, conns, case, args.cookies)
    try:
        if args.warmup > 0:
            runner.phase(args.warmup, args.max_requests)
        if args.wait:
            print("READY", flush=True)
            if wait_line(PARENT_TIMEOUT) != "GO":
                raise BenchError("expected GO")
        result = runner.phase(args.duration, args.max_requests)
        result["case"] = args.case
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
    except OSError as exc:
        print(f"loadgen: {exc}", file=sys.stderr)
        sys.exit(1)
