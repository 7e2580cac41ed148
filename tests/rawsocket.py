"""A raw Engine.IO v4 / Socket.IO v5 client over a plain TCP socket.

For the tests that send what no well-behaved client would: frames before the
namespace connect, broken JSON, lying binary attachment counts, oversized
frames, reused ack ids. Blocking I/O with deadlines; only 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import time
import typing as t

from tests.helpers import benchmark_module

HOST = "127.0.0.1"
TIMEOUT = 5.0


class RawError(Exception):
    pass


#: A masked, final client frame (RFC 6455, 5.3): the load generator's.
ws_frame = benchmark_module("loadgen").ws_frame


class Packet(t.NamedTuple):
    """A Socket.IO packet from the server, binary attachments put back."""

    type: int
    namespace: str
    id: int | None
    data: t.Any


class RawSocket:
    """One Engine.IO connection over WebSocket.

    :param answer_pings: Answer the server's pings (a client that stops
        answering is one of the faults tested).

    ``answer_close = False`` keeps the TCP connection open after the
    server's close frame, as a peer that vanished would.
    """

    answer_close = True

    def __init__(
        self,
        port: int,
        headers: dict[str, str] | None = None,
        answer_pings: bool = True,
        timeout: float = TIMEOUT,
    ) -> None:
        self.port = port
        self.answer_pings = answer_pings
        self.closed = False
        self.packets: list[Packet] = []
        self._buf = bytearray()
        self._frames: list[tuple[int, bytes]] = []
        self._binary: tuple[Packet, int, list[bytes]] | None = None
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        deadline = time.monotonic() + timeout
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1",
            f"Host: {HOST}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        while b"\r\n\r\n" not in self._buf:
            self._read(deadline)
        head, _, rest = bytes(self._buf).partition(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0] + b" ":
            raise RawError(f"the upgrade was refused: {head[:200]!r}")
        self._buf[:] = rest
        opened = self._next_frame(deadline)
        if opened is None or not opened[1].startswith(b"0{"):
            raise RawError(f"expected an Engine.IO open packet, got {opened!r}")
        self.handshake = json.loads(opened[1][1:])

    # -- sending ----------------------------------------------------------

    def send_text(self, text: str | bytes) -> None:
        data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
        self.send_frame(data, 1)

    def send_binary(self, data: bytes) -> None:
        self.send_frame(data, 2)

    def send_frame(self, payload: bytes, opcode: int) -> None:
        try:
            self.sock.sendall(ws_frame(payload, opcode))
        except OSError:
            self.closed = True

    def connect_namespace(self, namespace: str = "/") -> dict[str, t.Any]:
        """Send the Socket.IO connect packet and wait for the server's."""
        self.send_text("40" if namespace == "/" else f"40{namespace},")
        packet = self.wait_for(lambda p: p.type in (0, 4), TIMEOUT)
        if packet is None or packet.type != 0:
            raise RawError(f"the namespace connect failed: {packet!r}")
        return t.cast(dict, packet.data)

    def emit(self, event: str, payload: t.Any, ack_id: int | None) -> None:
        """A request event, as JSON text (no binary)."""
        ident = "" if ack_id is None else str(ack_id)
        self.send_text(f"42{ident}{json.dumps([event, payload])}")

    def close(self) -> None:
        """Close as a client does: a close frame, then the TCP connection."""
        if not self.closed:
            self.send_frame(b"\x03\xe8", 8)
        self.abort()

    def abort(self) -> None:
        """Drop the TCP connection with no close frame."""
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass

    # -- receiving --------------------------------------------------------

    def acks(self, ack_id: int) -> list[Packet]:
        return [p for p in self.packets if p.type in (3, 6) and p.id == ack_id]

    def wait_for(
        self, predicate: t.Callable[[Packet], bool], timeout: float
    ) -> Packet | None:
        """The first packet received from now on that satisfies
        ``predicate``, or None at the deadline or if the server closes."""
        seen = len(self.packets)
        deadline = time.monotonic() + timeout
        while True:
            for packet in self.packets[seen:]:
                if predicate(packet):
                    return packet
            seen = len(self.packets)
            if self.closed or not self.pump(deadline):
                return None

    def wait_ack(self, ack_id: int, timeout: float = TIMEOUT) -> Packet | None:
        """The ack ``ack_id`` (received already or from now on)."""
        found = self.acks(ack_id)
        if found:
            return found[0]
        return self.wait_for(lambda p: p.type in (3, 6) and p.id == ack_id, timeout)

    def wait_closed(self, timeout: float) -> bool:
        """Read until the server closes, at most ``timeout``."""
        deadline = time.monotonic() + timeout
        while not self.closed:
            if not self.pump(deadline):
                break
        return self.closed

    def pump(self, deadline: float) -> bool:
        """Read and handle one frame. False at the deadline or on close."""
        frame = self._next_frame(deadline)
        if frame is None:
            return False
        opcode, payload = frame
        if opcode == 8:
            self.closed = True
            if self.answer_close:
                self.abort()
            return False
        if opcode == 9:
            self.send_frame(payload, 10)
        elif opcode == 1:
            self._on_text(payload.decode("utf-8", "surrogatepass"))
        elif opcode == 2:
            self._on_binary(payload)
        return True

    def _on_text(self, text: str) -> None:
        if text == "2":
            if self.answer_pings:
                self.send_text("3")
            return
        if text == "1":
            self.closed = True
            return
        if not text.startswith("4"):
            return
        packet, attachments = decode_packet(text[1:])
        if attachments:
            self._binary = (packet, attachments, [])
        else:
            self.packets.append(packet)

    def _on_binary(self, data: bytes) -> None:
        if self._binary is None:
            raise RawError("a binary frame with no binary packet pending")
        packet, count, parts = self._binary
        parts.append(data)
        if len(parts) == count:
            self._binary = None
            self.packets.append(packet._replace(data=_rebuild(packet.data, parts)))

    def _next_frame(self, deadline: float) -> tuple[int, bytes] | None:
        while not self._frames:
            frames = _parse_frames(self._buf)
            if frames:
                self._frames.extend(frames)
                break
            if not self._read(deadline):
                return None
        return self._frames.pop(0)

    def _read(self, deadline: float) -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or self.closed:
            return False
        try:
            self.sock.settimeout(remaining)
            data = self.sock.recv(262144)
        except TimeoutError:
            return False
        except OSError:
            data = b""
        if not data:
            self.closed = True
            return False
        self._buf += data
        return True


def decode_packet(text: str) -> tuple[Packet, int]:
    """A Socket.IO packet and its number of binary attachments."""
    kind = int(text[0])
    rest = text[1:]
    attachments = 0
    if kind in (5, 6):
        count, _, rest = rest.partition("-")
        attachments = int(count)
    namespace = "/"
    if rest.startswith("/"):
        namespace, _, rest = rest.partition(",")
    digits = 0
    while digits < len(rest) and rest[digits].isdigit():
        digits += 1
    ident = int(rest[:digits]) if digits else None
    data = json.loads(rest[digits:]) if rest[digits:] else None
    return Packet(kind, namespace, ident, data), attachments


def _rebuild(data: t.Any, parts: list[bytes]) -> t.Any:
    if isinstance(data, list):
        return [_rebuild(item, parts) for item in data]
    if isinstance(data, dict):
        if data.get("_placeholder") is True and isinstance(data.get("num"), int):
            return parts[data["num"]]
        return {key: _rebuild(value, parts) for key, value in data.items()}
    return data


def _parse_frames(buf: bytearray) -> list[tuple[int, bytes]]:
    frames = []
    pos = 0
    end = len(buf)
    while end - pos >= 2:
        b0, b1 = buf[pos], buf[pos + 1]
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
    del buf[:pos]
    return frames
