"""Streams on the wire (docs/protocol.rst): streamed responses with credit,
uploads in chunks, cancellation, limits and hostile frames, against real
servers in each async mode, with python-socketio's client speaking the
frames directly."""

from __future__ import annotations

import hashlib
import os
import threading
import time
import typing as t
import uuid

import pytest
import requests

from tests.apps import pattern
from tests.helpers import assert_serves
from tests.helpers import CALL_TIMEOUT
from tests.helpers import Clients
from tests.helpers import ServerProcess
from tests.helpers import SocketIOClient
from tests.helpers import wait_until

IDLE = 1.5
MAX_BODY = 2_000_000
OPTIONS = (
    "--config",
    f"SOCKREQ_STREAM_IDLE_TIMEOUT={IDLE}",
    "--config",
    f"MAX_CONTENT_LENGTH={MAX_BODY}",
    "--config",
    "SOCKREQ_STREAM_MAX=3",
    "--config",
    "SOCKREQ_TIMEOUT=3",
)


@pytest.fixture(scope="module")
def stream_server(
    start_server: t.Callable[..., ServerProcess], mode: str
) -> ServerProcess:
    return start_server(mode, *OPTIONS)


class Frames:
    """A python-socketio client that records the stream frames it gets."""

    def __init__(self, clients: Clients, server: ServerProcess) -> None:
        self.chunks: dict[str, list[tuple[float, bytes]]] = {}
        self.credit: dict[str, int] = {}
        self.ended: set[str] = set()
        self.errors: dict[str, dict[str, t.Any]] = {}
        self.hello: dict[str, t.Any] | None = None
        self.lock = threading.Lock()
        self.client = SocketIOClient(reconnection=False)
        clients.clients.append(self.client)
        on = self.client.on
        on("sockreq:hello", self._hello)
        on("sockreq:chunk", self._chunk)
        on("sockreq:credit", self._credit)
        on("sockreq:end", self._end)
        on("sockreq:error", self._error)
        self.client.connect(server.url, transports=["websocket"], wait_timeout=5)

    def _hello(self, data: dict[str, t.Any]) -> None:
        self.hello = data

    def _chunk(self, stream_id: str, data: bytes) -> None:
        with self.lock:
            self.chunks.setdefault(stream_id, []).append((time.monotonic(), data))

    def _credit(self, stream_id: str, size: int) -> None:
        with self.lock:
            self.credit[stream_id] = self.credit.get(stream_id, 0) + size

    def _end(self, stream_id: str) -> None:
        self.ended.add(stream_id)

    def _error(self, stream_id: str, error: dict[str, t.Any]) -> None:
        self.errors[stream_id] = error

    def body(self, stream_id: str) -> bytes:
        with self.lock:
            return b"".join(data for _, data in self.chunks.get(stream_id, []))

    def call(
        self, event: str, payload: dict[str, t.Any], timeout: float = CALL_TIMEOUT
    ) -> t.Any:
        return self.client.call(event, payload, timeout=timeout)

    def emit(self, event: str, *args: t.Any) -> None:
        self.client.emit(event, args)

    def call_in_thread(self, event: str, payload: dict[str, t.Any]) -> dict[str, t.Any]:
        """Send a request whose answer comes later; the dict gets "jwr"."""
        result: dict[str, t.Any] = {}

        def run() -> None:
            result["jwr"] = self.call(event, payload, timeout=20)

        result["thread"] = threading.Thread(target=run, daemon=True)
        result["thread"].start()
        return result

    def upload(
        self,
        stream_id: str,
        data: bytes,
        *,
        chunk: int = 65536,
        end: bool = True,
        timeout: float = 20,
    ) -> None:
        """Send ``data`` within the credit granted, then the end."""
        sent = 0
        deadline = time.monotonic() + timeout
        while sent < len(data):
            assert time.monotonic() < deadline, f"credit stalled at {sent}"
            granted = self.credit.get(stream_id, 0)
            if sent < granted:
                size = min(chunk, granted - sent)
                self.emit("sockreq:chunk", stream_id, sent, data[sent : sent + size])
                sent += size
            else:
                time.sleep(0.005)
        if end:
            self.emit("sockreq:end", stream_id, len(data))


def records(server: ServerProcess, trace: str) -> list[t.Any]:
    return t.cast(list, requests.get(f"{server.url}/records/{trace}", timeout=5).json())


def new_id() -> str:
    return uuid.uuid4().hex[:12]


# -- hello -----------------------------------------------------------------


def test_hello_tells_the_limits(stream_server, clients):
    frames = Frames(clients, stream_server)
    assert wait_until(lambda: frames.hello, 5)
    assert frames.hello == {
        "v": 1,
        "maxInflight": 100,
        "streams": {
            "v": 1,
            "chunkSize": 262144,
            "window": 1048576,
            "maxStreams": 3,
            "idleTimeout": IDLE,
        },
    }


# -- streamed responses ------------------------------------------------------


def test_first_chunk_arrives_before_the_generator_ends(stream_server, clients):
    # Checked against what the generator has done (its records), not against
    # a clock that a pause of the test process would stop: its pieces are a
    # second apart.
    frames = Frames(clients, stream_server)
    sid, trace = new_id(), new_id()
    jwr = frames.call(
        "get",
        {
            "url": "/stream/slow?n=4&delay=1.0&size=7",
            "headers": {"X-Trace": trace},
            "stream": {"v": 1, "id": sid},
        },
    )
    assert jwr["statusCode"] == 200 and jwr["body"] is None
    assert jwr["stream"] == {"id": sid, "length": None}
    assert jwr["headers"]["Content-Type"].startswith("text/plain")
    assert ["finally"] not in records(stream_server, trace), "the answer waited"
    assert wait_until(lambda: frames.chunks.get(sid), 5)
    at_first = records(stream_server, trace)
    assert ["finally"] not in at_first
    assert len([r for r in at_first if r[0] == "piece"]) < 4, at_first
    assert wait_until(lambda: sid in frames.ended, 8)
    assert frames.body(sid) == b"A" * 7 + b"B" * 7 + b"C" * 7 + b"D" * 7
    assert ["finally"] in records(stream_server, trace)


def test_small_pieces_in_quick_succession_share_frames(stream_server, clients):
    # A CSV export written a line at a time must not cost a frame a line.
    frames = Frames(clients, stream_server)
    sid = new_id()
    frames.call(
        "get", {"url": "/stream/slow?n=5000&size=10", "stream": {"v": 1, "id": sid}}
    )
    assert wait_until(lambda: sid in frames.ended, 10)
    body = frames.body(sid)
    assert len(body) == 50000
    assert body == b"".join(bytes([65 + i % 26]) * 10 for i in range(5000))
    assert len(frames.chunks[sid]) < 500, len(frames.chunks[sid])


def test_a_piece_before_a_pause_is_not_held(stream_server, clients):
    frames = Frames(clients, stream_server)
    sid, trace = new_id(), new_id()
    frames.call(
        "get",
        {
            "url": "/stream/slow?n=2&size=3&delay=1.0",
            "headers": {"X-Trace": trace},
            "stream": {"v": 1, "id": sid},
        },
    )
    assert wait_until(lambda: frames.chunks.get(sid), 3)
    # The first piece came while the generator slept before the second.
    assert ["piece", 1] not in records(stream_server, trace)
    assert frames.body(sid) == b"AAA"
    assert wait_until(lambda: sid in frames.ended, 3)
    assert frames.body(sid) == b"AAABBB"


def test_a_small_buffered_response_comes_whole(stream_server, clients):
    frames = Frames(clients, stream_server)
    jwr = frames.call("get", {"url": "/hello/3", "stream": {"v": 1, "id": new_id()}})
    assert jwr == {
        "body": {"n": 3, "args": {}},
        "headers": {"Content-Type": "application/json", "Content-Length": "18"},
        "statusCode": 200,
    }


def test_the_server_sends_no_more_than_the_credit(stream_server, clients):
    frames = Frames(clients, stream_server)
    sid = new_id()
    jwr = frames.call(
        "get",
        {
            "url": "/stream/bytes?size=300000",
            "stream": {"v": 1, "id": sid, "window": 100000},
        },
    )
    assert jwr["stream"] == {"id": sid, "length": 300000}
    # Each grant is noted before it is sent: a byte that arrives before the
    # grant that covers it was sent without credit. No waiting for what
    # does not come: the arrival times decide.
    grants = [(0.0, 100000)]
    assert wait_until(lambda: len(frames.body(sid)) == 100000, 5)
    grants.append((time.monotonic(), 250000))
    frames.emit("sockreq:credit", sid, 150000)
    assert wait_until(lambda: len(frames.body(sid)) == 250000, 5)
    grants.append((time.monotonic(), 300000))
    frames.emit("sockreq:credit", sid, 50000)
    assert wait_until(lambda: sid in frames.ended, 5)
    assert frames.body(sid) == pattern(300000)
    assert max(len(data) for _, data in frames.chunks[sid]) <= 262144
    received = 0
    for arrived, data in frames.chunks[sid]:
        received += len(data)
        allowed = max(credit for granted, credit in grants if granted <= arrived)
        assert received <= allowed, (received, allowed)


def test_credit_never_granted_times_out_and_closes_the_generator(
    stream_server, clients
):
    frames = Frames(clients, stream_server)
    sid, trace = new_id(), new_id()
    frames.call(
        "get",
        {
            "url": "/stream/slow?n=100&size=1000",
            "headers": {"X-Trace": trace},
            "stream": {"v": 1, "id": sid, "window": 2500},
        },
    )
    assert wait_until(lambda: sid in frames.errors, IDLE + 3)
    assert frames.errors[sid]["error"] == "timeout"
    assert len(frames.body(sid)) == 2500
    assert wait_until(lambda: ["finally"] in records(stream_server, trace), 3)
    assert_serves(frames.client)


@pytest.mark.parametrize("how", ["cancel", "disconnect"])
def test_cancel_or_disconnect_closes_the_generator(stream_server, clients, how, mode):
    # The generator sleeps 4 s after its first piece: a stop that comes
    # meanwhile finds it asleep, whatever pauses the test process makes.
    frames = Frames(clients, stream_server)
    sid, trace = new_id(), new_id()
    frames.call(
        "get",
        {
            "url": "/stream/slow?n=50&delay=4.0&size=3",
            "headers": {"X-Trace": trace},
            "stream": {"v": 1, "id": sid},
        },
    )
    assert wait_until(lambda: frames.chunks.get(sid), 3)
    if how == "cancel":
        frames.emit("sockreq:cancel", sid)
    else:
        # websocket-client waits up to 3 s for the close frame of the
        # simple-websocket servers: disconnect in the background.
        threading.Thread(target=frames.client.disconnect, daemon=True).start()
    # A thread cannot be interrupted: its generator is closed after the
    # piece its sleep ends with.
    closing = 8 if mode == "threading" else 3
    assert wait_until(lambda: ["finally"] in records(stream_server, trace), closing)
    pieces = [r for r in records(stream_server, trace) if r[0] == "piece"]
    if mode == "threading":
        assert pieces in ([["piece", 0]], [["piece", 0], ["piece", 1]]), pieces
    else:
        # A green thread blocked in its sleep is interrupted at once.
        assert pieces == [["piece", 0]], pieces
    assert_serves(Frames(clients, stream_server).client)


def test_a_cancel_before_the_view_returns_stops_the_stream_before_it_starts(
    stream_server, clients
):
    frames = Frames(clients, stream_server)
    sid, trace = new_id(), new_id()
    result = frames.call_in_thread(
        "get",
        {
            "url": "/stream/slow?n=5&wait=0.5",
            "headers": {"X-Trace": trace},
            "stream": {"v": 1, "id": sid},
        },
    )
    time.sleep(0.1)
    frames.emit("sockreq:cancel", sid)
    result["thread"].join(5)
    # Every request is answered, but no body comes and the generator never
    # takes a step beyond the first piece the server needed.
    assert result["jwr"]["statusCode"] == 200
    # The generator's end is the marker: a stream that was not cancelled
    # pulls all five pieces before it.
    assert wait_until(lambda: ["finally"] in records(stream_server, trace), 5)
    pieces = [r for r in records(stream_server, trace) if r[0] == "piece"]
    assert len(pieces) <= 1
    assert sid not in frames.chunks
    assert_serves(frames.client)


def test_websocket_connections_send_small_frames_at_once(stream_server, clients):
    frames = Frames(clients, stream_server)
    assert frames.call("get", {"url": "/nodelay"})["body"] == {"nodelay": True}


def test_a_failing_generator_is_a_stream_error(stream_server, clients):
    frames = Frames(clients, stream_server)
    sid = new_id()
    jwr = frames.call("get", {"url": "/stream/fail", "stream": {"v": 1, "id": sid}})
    assert jwr["statusCode"] == 200
    assert wait_until(lambda: sid in frames.errors, 5)
    assert frames.errors[sid]["error"] == "stream_failed"
    assert frames.body(sid) == b"before"
    assert "Traceback" in stream_server.stderr
    assert_serves(frames.client)


# -- uploads ------------------------------------------------------------------


@pytest.mark.parametrize("declared", [True, False])
def test_upload_in_chunks(stream_server, clients, declared):
    frames = Frames(clients, stream_server)
    sid, trace = new_id(), new_id()
    data = os.urandom(1_500_000)
    upload: dict[str, t.Any] = {"length": len(data)} if declared else {}
    result = frames.call_in_thread(
        "post",
        {
            "url": "/stream/upload",
            "headers": {"X-Trace": trace},
            "stream": {"v": 1, "id": sid, "upload": upload},
        },
    )
    frames.upload(sid, data)
    result["thread"].join(20)
    assert result["jwr"]["statusCode"] == 200, result["jwr"]
    assert result["jwr"]["body"] == {
        "length": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    # Credit came in steps as the view read, not all at once.
    reads = [r for r in records(stream_server, trace) if r[0] == "read"]
    assert len(reads) > 5


def test_chunks_out_of_order_are_put_in_order(stream_server, clients):
    frames = Frames(clients, stream_server)
    sid = new_id()
    data = os.urandom(300_000)
    result = frames.call_in_thread(
        "put",
        {
            "url": "/stream/upload",
            "stream": {"v": 1, "id": sid, "upload": {"length": len(data)}},
        },
    )
    assert wait_until(lambda: frames.credit.get(sid, 0) >= len(data), 5)
    pieces = [
        (offset, data[offset : offset + 50_000])
        for offset in range(0, len(data), 50_000)
    ]
    for offset, piece in reversed(pieces):
        frames.emit("sockreq:chunk", sid, offset, piece)
    frames.emit("sockreq:end", sid, len(data))
    result["thread"].join(10)
    assert result["jwr"]["body"]["sha256"] == hashlib.sha256(data).hexdigest()


def test_multipart_form_upload_reaches_request_files(stream_server, clients):
    frames = Frames(clients, stream_server)
    sid = new_id()
    content = os.urandom(700_000)
    boundary = "sockreq-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\n'
            "milk\r\n"
            f'--{boundary}\r\nContent-Disposition: form-data; name="file";'
            ' filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    result = frames.call_in_thread(
        "post",
        {
            "url": "/stream/upload?form=1",
            "headers": {"Content-Type": f"multipart/form-data; boundary={boundary}"},
            "stream": {"v": 1, "id": sid, "upload": {"length": len(body)}},
        },
    )
    frames.upload(sid, body)
    result["thread"].join(10)
    assert result["jwr"]["body"] == {
        "files": {
            "file": {
                "filename": "big.bin",
                "sha256": hashlib.sha256(content).hexdigest(),
            }
        },
        "form": {"title": "milk"},
    }


def test_a_declared_length_over_max_content_length_is_413_without_credit(
    stream_server, clients
):
    frames = Frames(clients, stream_server)
    sid = new_id()
    jwr = frames.call(
        "post",
        {
            "url": "/stream/upload",
            "stream": {"v": 1, "id": sid, "upload": {"length": MAX_BODY + 1}},
        },
    )
    assert jwr["statusCode"] == 413
    assert frames.credit.get(sid, 0) == 0
    assert_serves(frames.client)


def test_an_unknown_length_is_cut_off_past_max_content_length(stream_server, clients):
    frames = Frames(clients, stream_server)
    sid = new_id()
    result = frames.call_in_thread(
        "post", {"url": "/stream/upload", "stream": {"v": 1, "id": sid, "upload": True}}
    )
    data = b"x" * (MAX_BODY + 500_000)
    sent = 0
    deadline = time.monotonic() + 10
    while "jwr" not in result and sent < len(data) and time.monotonic() < deadline:
        granted = frames.credit.get(sid, 0)
        if sent < granted:
            size = min(65536, granted - sent)
            frames.emit("sockreq:chunk", sid, sent, data[sent : sent + size])
            sent += size
        else:
            time.sleep(0.005)
    result["thread"].join(10)
    assert result["jwr"]["statusCode"] == 413
    # The server stopped granting near the limit: the rest was never sent.
    assert sent <= MAX_BODY + 2 * 1048576
    assert_serves(frames.client)


@pytest.mark.parametrize(
    "hostile",
    ["past-credit", "past-length", "wrong-end", "overlap", "not-binary"],
)
def test_a_lying_upload_is_stopped_and_the_view_gets_400(
    stream_server, clients, hostile
):
    frames = Frames(clients, stream_server)
    sid = new_id()
    result = frames.call_in_thread(
        "post",
        {
            "url": "/stream/upload",
            "stream": {"v": 1, "id": sid, "upload": {"length": 1000}},
        },
    )
    assert wait_until(lambda: frames.credit.get(sid), 5)
    if hostile == "past-credit":
        frames.emit("sockreq:chunk", sid, 0, b"x" * (frames.credit[sid] + 10))
    elif hostile == "past-length":
        frames.emit("sockreq:chunk", sid, 990, b"x" * 20)
    elif hostile == "wrong-end":
        frames.emit("sockreq:chunk", sid, 0, b"x" * 500)
        frames.emit("sockreq:end", sid, 500)
    elif hostile == "overlap":
        frames.emit("sockreq:chunk", sid, 0, b"x" * 500)
        time.sleep(0.1)
        frames.emit("sockreq:chunk", sid, 100, b"x" * 100)
    else:
        frames.emit("sockreq:chunk", sid, 0, "text, not bytes")
    result["thread"].join(10)
    assert result["jwr"]["statusCode"] == 400, result["jwr"]
    assert wait_until(lambda: frames.errors.get(sid), 3)
    assert frames.errors[sid]["error"] == "invalid_stream"
    assert_serves(frames.client)


def test_a_silent_upload_times_out(stream_server, clients):
    frames = Frames(clients, stream_server)
    sid = new_id()
    jwr = frames.call(
        "post",
        {
            "url": "/stream/upload",
            "stream": {"v": 1, "id": sid, "upload": {"length": 1000}},
        },
        timeout=IDLE + 5,
    )
    assert jwr["statusCode"] == 400
    assert_serves(frames.client)


def test_a_disconnect_mid_upload_leaves_the_server_serving(stream_server, clients):
    frames = Frames(clients, stream_server)
    sid, trace = new_id(), new_id()
    frames.client.emit(
        "post",
        {
            "url": "/stream/upload",
            "headers": {"X-Trace": trace},
            "stream": {"v": 1, "id": sid, "upload": {"length": 1_000_000}},
        },
        callback=lambda *args: None,
    )
    assert wait_until(lambda: frames.credit.get(sid), 5)
    frames.emit("sockreq:chunk", sid, 0, b"x" * 100_000)
    assert wait_until(lambda: ["read", 65536] in records(stream_server, trace), 5)
    frames.client.disconnect()
    assert wait_until(
        lambda: ["request_finished", 400] in records(stream_server, trace), 5
    )
    assert_serves(Frames(clients, stream_server).client)


def test_the_deadline_runs_from_the_end_of_the_upload(stream_server, clients):
    # SOCKREQ_TIMEOUT is 3 s; the upload takes longer, and is answered.
    frames = Frames(clients, stream_server)
    sid = new_id()
    data = os.urandom(400_000)
    result = frames.call_in_thread(
        "post",
        {
            "url": "/stream/upload",
            "stream": {"v": 1, "id": sid, "upload": {"length": len(data)}},
        },
    )
    assert wait_until(lambda: frames.credit.get(sid), 5)
    for offset in range(0, len(data), 100_000):
        frames.emit("sockreq:chunk", sid, offset, data[offset : offset + 100_000])
        time.sleep(0.9)
    frames.emit("sockreq:end", sid, len(data))
    result["thread"].join(10)
    assert result["jwr"]["statusCode"] == 200
    assert result["jwr"]["body"]["sha256"] == hashlib.sha256(data).hexdigest()


# -- frames for no stream, limits ------------------------------------------------


def test_frames_for_unknown_streams_are_ignored(stream_server, clients):
    frames = Frames(clients, stream_server)
    for event, args in [
        ("sockreq:chunk", ("nope", 0, b"x")),
        ("sockreq:end", ("nope", 1)),
        ("sockreq:credit", ("nope", 100)),
        ("sockreq:cancel", ("nope",)),
        ("sockreq:cancel", ()),
        ("sockreq:credit", (None, "x")),
    ]:
        frames.emit(event, *args)
    assert_serves(frames.client)
    assert frames.client.connected


def test_frames_after_the_end_are_ignored(stream_server, clients):
    frames = Frames(clients, stream_server)
    sid = new_id()
    result = frames.call_in_thread(
        "post",
        {
            "url": "/stream/upload",
            "stream": {"v": 1, "id": sid, "upload": {"length": 10}},
        },
    )
    frames.upload(sid, b"0123456789")
    result["thread"].join(10)
    frames.emit("sockreq:chunk", sid, 10, b"late")
    frames.emit("sockreq:credit", sid, 10)
    assert result["jwr"]["body"]["length"] == 10
    assert_serves(frames.client)


def test_stream_limits(stream_server, clients):
    frames = Frames(clients, stream_server)
    ids = [new_id() for _ in range(3)]
    for sid in ids:
        jwr = frames.call(
            "get",
            {"url": "/stream/slow?n=20&delay=0.2", "stream": {"v": 1, "id": sid}},
        )
        assert jwr["statusCode"] == 200
    jwr = frames.call("get", {"url": "/stream/slow", "stream": {"v": 1, "id": ids[0]}})
    assert (jwr["statusCode"], jwr["body"]["error"]) == (400, "duplicate_stream_id")
    jwr = frames.call(
        "get", {"url": "/stream/slow", "stream": {"v": 1, "id": "fourth"}}
    )
    assert (jwr["statusCode"], jwr["body"]["error"]) == (429, "too_many_streams")
    assert jwr["refused"] is True
    for sid in ids:
        frames.emit("sockreq:cancel", sid)
    # Cancelled streams leave room at once.
    assert wait_until(
        lambda: (
            frames.call("get", {"url": "/hello/1", "stream": {"v": 1, "id": "again"}})[
                "statusCode"
            ]
            == 200
        ),
        3,
    )


@pytest.mark.parametrize(
    ("stream", "error"),
    [
        ("s", "invalid_stream"),
        ({"v": 2, "id": "s"}, "unsupported_stream"),
        ({"id": ""}, "invalid_stream"),
        ({"id": "x" * 65}, "invalid_stream"),
        ({"id": "s", "window": 0}, "invalid_stream"),
        ({"id": "s", "window": "big"}, "invalid_stream"),
        ({"id": "s", "upload": {"length": -1}}, "invalid_stream"),
        ({"id": "s", "upload": "yes"}, "invalid_stream"),
    ],
)
def test_malformed_stream_members(stream_server, clients, stream, error):
    frames = Frames(clients, stream_server)
    jwr = frames.call("get", {"url": "/hello/1", "stream": stream})
    assert (jwr["statusCode"], jwr["body"]["error"]) == (400, error)
    assert jwr["body"]["message"].endswith(".")
    assert_serves(frames.client)


def test_upload_with_data_is_refused(stream_server, clients):
    frames = Frames(clients, stream_server)
    jwr = frames.call(
        "post",
        {"url": "/echo", "data": "x", "stream": {"v": 1, "id": "u", "upload": True}},
    )
    assert (jwr["statusCode"], jwr["body"]["error"]) == (400, "invalid_stream")


def test_clients_that_ask_for_nothing_get_buffered_answers(stream_server, clients):
    # sails.io.js and every client of before streams.
    frames = Frames(clients, stream_server)
    jwr = frames.call("get", {"url": "/stream/bytes?size=300000"})
    assert "stream" not in jwr and jwr["body"] == pattern(300000)
    jwr = frames.call("get", {"url": "/stream/slow?n=3&size=2"})
    assert jwr["body"] == "AABBCC"
