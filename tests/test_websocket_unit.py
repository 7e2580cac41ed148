"""The WebSocket helpers of flask_sockreq.websocket, against references."""

from __future__ import annotations

import random
import threading

import pytest

from flask_sockreq.websocket import BufferedSocket
from flask_sockreq.websocket import unmask
from flask_sockreq.websocket import WholeFrameSocket


def reference_unmask(data: bytes, mask: tuple[int, ...], offset: int) -> bytes:
    # RFC 6455, 5.3: octet i XOR mask octet (i mod 4), counting from the frame's start.
    return bytes(byte ^ mask[(offset + i) % 4] for i, byte in enumerate(data))


@pytest.mark.parametrize("offset", [0, 1, 2, 3, 4, 7, 65537])
@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 1000, 65536])
def test_unmask_is_rfc_6455s_xor(offset: int, size: int) -> None:
    rng = random.Random(size * 31 + offset)
    data = rng.randbytes(size)
    mask = tuple(rng.randrange(256) for _ in range(4))
    assert unmask(data, mask, size, offset) == reference_unmask(data, mask, offset)
    # length defaults to the data's; a longer buffer is cut to length.
    assert unmask(data, mask, offset=offset) == reference_unmask(data, mask, offset)
    assert unmask(data + b"tail", mask, size, offset) == reference_unmask(
        data, mask, offset
    )


class TrickleSocket:
    """Gives at most ``most`` bytes a recv, and records what it was asked."""

    def __init__(self, data: bytes, most: int) -> None:
        self.data = data
        self.most = most
        self.asked: list[int] = []
        self.other = "delegated"

    def recv(self, size: int) -> bytes:
        self.asked.append(size)
        piece, self.data = (
            self.data[: min(size, self.most)],
            self.data[min(size, self.most) :],
        )
        return piece


@pytest.mark.parametrize("most", [1, 7, 4096, 1 << 20])
def test_buffered_socket_returns_every_byte_in_order(most: int) -> None:
    rng = random.Random(most)
    data = rng.randbytes(200_000)
    raw = TrickleSocket(data, most)
    sock = BufferedSocket(raw)
    out = bytearray()
    while len(out) < len(data):
        want = rng.choice([1, 2, 4, 8, 126, 65536, 100_000])
        piece = sock.recv(want)
        assert 0 < len(piece) <= want
        out += piece
    assert bytes(out) == data
    assert sock.recv(10) == b""  # the end, as the socket says it
    # It reads in blocks, not a call per header byte.
    assert all(size >= 65536 for size in raw.asked)
    assert sock.other == "delegated"


class PartialSender:
    """Sends at most ``most`` bytes a call, as a gevent socket may under
    back-pressure; sendall loops on it."""

    def __init__(self, most: int) -> None:
        self.most = most
        self.sent = bytearray()
        self.lock = threading.Lock()

    def send(self, data: bytes) -> int:
        piece = bytes(data[: self.most])
        self.sent += piece
        return len(piece)

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while len(view):
            view = view[self.send(view) :]


def test_whole_frame_socket_sends_the_whole_frame() -> None:
    raw = PartialSender(most=1000)
    sock = WholeFrameSocket(raw, threading.Lock())
    frame = bytes(range(256)) * 40
    assert sock.send(frame) == len(frame)
    assert bytes(raw.sent) == frame
    sock.sendall(b"more")
    assert bytes(raw.sent) == frame + b"more"


def test_whole_frames_from_two_threads_never_interleave() -> None:
    raw = PartialSender(most=7)
    sock = WholeFrameSocket(raw, threading.Lock())
    frames = [bytes([n]) * 5000 for n in range(1, 9)]
    threads = [threading.Thread(target=sock.send, args=(f,)) for f in frames]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    sent = bytes(raw.sent)
    assert len(sent) == 8 * 5000
    # Each frame's bytes are contiguous.
    for index in range(0, len(sent), 5000):
        assert len(set(sent[index : index + 5000])) == 1
