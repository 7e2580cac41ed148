"""``flask_sockreq.streams`` without a socket: downloads within credit,
uploads put in order, the frame handler, against a server that records what
it would emit. Nothing here waits for a fixed time: a stream that must stop
is given an idle timeout, and the waits that must end are ended by an event.
"""

from __future__ import annotations

import logging
import threading
import types
import typing as t

import pytest
from socketio import packet as sio_packet
from werkzeug.exceptions import ClientDisconnected

from flask_sockreq import streams as streams_module
from flask_sockreq.connection import CONNECTION_KEY
from flask_sockreq.streams import CANCEL
from flask_sockreq.streams import Cancelled
from flask_sockreq.streams import CHUNK
from flask_sockreq.streams import CLIENT_FRAMES
from flask_sockreq.streams import CREDIT
from flask_sockreq.streams import Download
from flask_sockreq.streams import END
from flask_sockreq.streams import ERROR
from flask_sockreq.streams import FrameHandler
from flask_sockreq.streams import Stream
from flask_sockreq.streams import StreamLimits
from flask_sockreq.streams import Streams
from flask_sockreq.streams import Upload

LIMITS = StreamLimits(chunk_size=4, window=8, max_streams=3, idle_timeout=5.0)


class FakeServer:
    """What a python-socketio server does for streams, recorded."""

    def __init__(self) -> None:
        self.emitted: list[tuple[str, tuple[t.Any, ...], dict[str, t.Any]]] = []
        self.eio = types.SimpleNamespace(create_event=threading.Event)
        self.tasks: list[t.Callable[[], t.Any]] = []
        self.slept: list[float] = []
        self.environs: dict[str, t.Any] = {}

    packet_class = sio_packet.Packet

    @property
    def manager(self) -> t.Any:
        return types.SimpleNamespace(eio_sid_from_sid=self._eio_sid)

    @staticmethod
    def _eio_sid(sid: str, namespace: str) -> str | None:
        return None if sid == "gone" else f"eio-{sid}"

    def _send_packet(self, eio_sid: str, pkt: t.Any) -> None:
        event, *args = pkt.data
        assert pkt.packet_type in (sio_packet.EVENT, sio_packet.BINARY_EVENT)
        self.emitted.append(
            (event, tuple(args), {"to": eio_sid, "namespace": pkt.namespace})
        )

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def start_background_task(self, target: t.Callable[[], t.Any]) -> None:
        self.tasks.append(target)

    def get_environ(self, sid: str, namespace: str | None = None) -> t.Any:
        return self.environs.get((sid, namespace or "/"))

    def frames(self, event: str | None = None) -> list[tuple[t.Any, ...]]:
        return [args for name, args, _ in self.emitted if event in (None, name)]


def make_streams(limits: StreamLimits = LIMITS) -> tuple[Streams, FakeServer]:
    server = FakeServer()
    conn = types.SimpleNamespace(
        socket=types.SimpleNamespace(id="sid1", namespace="/ns")
    )
    return Streams(conn, server, limits), server  # type: ignore[arg-type]


# --- Streams and Stream --------------------------------------------------------


def test_streams_emit_to_the_socket_only():
    streams, server = make_streams()
    streams.emit(CHUNK, "s1", b"x")
    # One packet to the socket's Engine.IO session, not through the manager
    # (a message queue hop, and a message at a time).
    assert server.emitted == [
        (CHUNK, ("s1", b"x"), {"to": "eio-sid1", "namespace": "/ns"})
    ]
    streams.conn.socket.id = "gone"  # disconnected meanwhile: nothing sent
    streams.emit(CHUNK, "s1", b"y")
    assert len(server.emitted) == 1


def test_streams_add_remove_and_cancel_all():
    streams, _ = make_streams()
    one, two = Stream(streams, "1"), Stream(streams, "2")
    streams.add(one)
    streams.add(two)
    assert streams.active == {"1": one, "2": two}
    streams.remove(Stream(streams, "1"))  # another stream of the same id
    assert streams.active == {"1": one, "2": two}
    streams.cancel_all("gone")
    assert streams.active == {}
    assert (one.cancelled, two.cancelled) == ("gone", "gone")
    assert one.event.is_set() and two.event.is_set()


def test_stream_emit_names_the_stream():
    streams, server = make_streams()
    Stream(streams, "s9").emit(END)
    Stream(streams, "s9").emit(ERROR, {"a": 1})
    assert server.frames() == [("s9",), ("s9", {"a": 1})]


def test_wait_returns_at_once_when_ready():
    streams, _ = make_streams()
    stream = Stream(streams, "s")
    stream.wait(lambda: True)
    stream.cancel("stop")
    with pytest.raises(Cancelled) as info:
        stream.wait(lambda: False)
    assert str(info.value) == "stop"
    # Cancelled even when ready: the cancellation wins.
    with pytest.raises(Cancelled):
        stream.wait(lambda: True)


def test_wait_until_another_thread_makes_it_ready():
    streams, _ = make_streams()
    stream = Stream(streams, "s")
    ready = threading.Event()

    def later() -> None:
        ready.set()
        with stream.lock:
            stream.event.set()

    threading.Thread(target=later).start()
    stream.wait(ready.is_set)
    assert stream.cancelled is None


def test_wait_times_out_when_idle():
    streams, _ = make_streams(LIMITS._replace(idle_timeout=0.05))
    stream = Stream(streams, "s")
    with pytest.raises(Cancelled) as info:
        stream.wait(lambda: False)
    assert stream.cancelled == "idle"
    assert str(info.value) == (
        "The stream was idle for 0.05 seconds, past SOCKREQ_STREAM_IDLE_TIMEOUT."
    )


def test_a_cancel_ends_a_wait():
    streams, _ = make_streams()
    stream = Stream(streams, "s")
    streams.add(stream)
    threading.Thread(target=stream.cancel, args=("by the client",)).start()
    with pytest.raises(Cancelled, match="by the client"):
        stream.wait(lambda: False)
    assert "s" not in streams.active


# --- Download ------------------------------------------------------------------


class Body:
    """A response iterable that records its close."""

    def __init__(self, pieces: t.Iterable[bytes]) -> None:
        self.pieces = iter(pieces)
        self.closed = 0

    def __iter__(self) -> t.Iterator[bytes]:
        return self.pieces

    def close(self) -> None:
        self.closed += 1


def download(
    window: int = 100, limits: StreamLimits = LIMITS
) -> tuple[Download, FakeServer]:
    streams, server = make_streams(limits)
    stream = Download(streams, "d", window)
    streams.add(stream)
    return stream, server


def test_a_download_within_its_credit(monkeypatch):
    # Each piece after a pause goes at once, in frames of at most a chunk.
    clock = iter(range(1000, 10**6, 10))
    monkeypatch.setattr(streams_module.time, "monotonic", lambda: float(next(clock)))
    stream, server = download(window=100)
    body = Body([b"abcdef", b"g", b""])
    stream.body(b"xy", body)
    stream.pump()
    assert server.frames(CHUNK) == [
        ("d", b"xy"),
        ("d", b"abcd"),
        ("d", b"ef"),
        ("d", b"g"),
    ]
    assert server.frames(END) == [("d",)]
    assert server.emitted[-1][0] == END
    assert stream.credit == 100 - 9
    assert body.closed == 1
    assert stream.streams.active == {}
    assert (stream.first, stream.pending) == (b"", bytearray())


def test_a_download_waits_for_credit():
    stream, server = download(window=3)
    stream.body(b"", Body([b"abcdefgh"]))
    pumping = threading.Thread(target=stream.pump)
    pumping.start()
    # The first 3 bytes go; the rest waits for credit.
    assert wait_for(lambda: server.frames(CHUNK) == [("d", b"abc")])
    assert not server.frames(END)
    stream.grant(2)
    assert wait_for(lambda: server.frames(CHUNK)[-1] == ("d", b"de"))
    stream.grant(10)
    pumping.join(5)
    assert not pumping.is_alive()
    assert server.frames(CHUNK) == [("d", b"abc"), ("d", b"de"), ("d", b"fgh")]
    assert server.frames(END) == [("d",)]
    assert stream.credit == 7


def wait_for(predicate: t.Callable[[], bool], timeout: float = 5.0) -> bool:
    event = threading.Event()
    for _ in range(int(timeout / 0.005)):
        if predicate():
            return True
        event.wait(0.005)
    return predicate()


def test_quick_pieces_are_gathered_into_a_chunk(monkeypatch):
    # Within HOLD of the last frame, pieces wait for a whole chunk; the rest
    # goes when the held send runs (a background task).
    monkeypatch.setattr(streams_module.time, "monotonic", lambda: 1000.0)
    stream, server = download(window=100)
    stream._sent_at = 1000.0
    stream.body(b"", Body([b"a", b"b", b"cd", b"e"]))
    stream.pending += b""
    stream._pump()
    assert server.frames(CHUNK) == [("d", b"abcd"), ("d", b"e")]
    assert len(server.tasks) == 1
    assert stream._armed is True
    server.tasks[0]()
    assert server.slept == [streams_module.HOLD]
    assert stream._armed is False


def test_the_held_send_sends_what_is_pending():
    stream, server = download(window=100)
    stream._armed = True
    stream.pending += b"xyz"
    stream._send_later()
    assert server.frames(CHUNK) == [("d", b"xyz")]
    assert stream._armed is False


def test_send_respects_minimum_credit_and_chunk():
    stream, server = download(window=6)
    stream.pending += b"0123456789"
    stream._send(11)
    assert server.frames(CHUNK) == []
    stream._send(4)
    assert server.frames(CHUNK) == [("d", b"0123"), ("d", b"45")]
    assert (stream.credit, bytes(stream.pending)) == (0, b"6789")
    stream.credit = 1
    stream.cancelled = "x"
    stream._send(1)
    assert len(server.frames(CHUNK)) == 2


def test_grant_sends_what_waits():
    stream, server = download(window=0)
    stream.pending += b"abc"
    stream.grant(2)
    assert server.frames(CHUNK) == [("d", b"ab")]
    assert stream.credit == 0
    assert stream.event.is_set()
    stream.grant(5)
    assert server.frames(CHUNK)[-1] == ("d", b"c")
    assert stream.credit == 4


def test_an_idle_download_says_timeout():
    stream, server = download(window=1, limits=LIMITS._replace(idle_timeout=0.05))
    body = Body([b"abcdefgh"])
    stream.body(b"", body)
    stream.pump()
    assert server.frames(ERROR) == [
        (
            "d",
            {
                "error": "timeout",
                "message": "The stream was idle for 0.05 seconds, past"
                " SOCKREQ_STREAM_IDLE_TIMEOUT.",
            },
        )
    ]
    assert not server.frames(END)
    assert body.closed == 1
    assert stream.streams.active == {}


def test_a_cancelled_download_says_nothing():
    stream, server = download(window=1)
    stream.cancel("cancelled by the client")
    body = Body([b"abc"])
    stream.body(b"", body)
    stream.pump()
    assert server.emitted == []
    assert body.closed == 1


def test_a_failing_body_is_logged_and_said(caplog):
    def pieces() -> t.Iterator[bytes]:
        yield b"a"
        raise RuntimeError("broken")

    stream, server = download()
    stream.body(b"", pieces())
    with caplog.at_level(logging.ERROR, logger="flask_sockreq"):
        stream.pump()
    assert server.frames(ERROR) == [
        ("d", {"error": "stream_failed", "message": "The response failed."})
    ]
    assert caplog.records[-1].getMessage() == "The streamed response d failed."
    assert caplog.records[-1].exc_info[0] is RuntimeError  # type: ignore[index]
    assert stream.in_app is False


class Interrupted(BaseException):
    """As GreenletExit: not an Exception."""


def test_an_interrupted_download_passes_the_interruption_on(caplog):
    def pieces() -> t.Iterator[bytes]:
        raise Interrupted()
        yield b""

    stream, server = download()
    stream.body(b"", pieces())
    with pytest.raises(Interrupted):
        stream.pump()
    assert server.frames(ERROR)[0][1]["error"] == "stream_failed"
    # Interrupted because it was cancelled (a kill from cancel()): no frame.
    stream, server = download()

    def cancelled_pieces() -> t.Iterator[bytes]:
        stream.cancelled = "cancelled by the client"
        raise Interrupted()
        yield b""

    stream.body(b"", cancelled_pieces())
    with pytest.raises(Interrupted):
        stream.pump()
    assert server.frames(ERROR) == []


def test_close_logs_a_failing_close(caplog):
    class Failing:
        def __iter__(self) -> t.Iterator[bytes]:
            return iter(())

        def close(self) -> None:
            raise OSError("no")

    stream, _ = download()
    stream.body(b"", Failing())
    with caplog.at_level(logging.ERROR, logger="flask_sockreq"):
        stream.close()
    assert caplog.records[-1].getMessage() == "Closing the streamed response d failed."
    assert stream.streams.active == {}
    stream.body(b"", [b"no close"])
    stream.close()


def test_cancel_kills_a_task_blocked_in_the_view():
    killed: list[t.Any] = []
    task = types.SimpleNamespace(
        dead=False, kill=lambda block=True: killed.append(block)
    )
    stream, _ = download()
    stream.task = task
    stream.cancel("x")
    assert killed == []
    stream.in_app = True
    stream.cancel("x")
    assert killed == [False]


def test_kill():
    calls: list[str] = []

    class Gevent:
        dead = False

        def kill(self, block: bool = True) -> None:
            calls.append(f"gevent {block}")

    class Eventlet:
        dead = False

        def kill(self) -> None:
            calls.append("eventlet")

    streams_module._kill(Gevent())
    streams_module._kill(Eventlet())
    dead = Gevent()
    dead.dead = True
    streams_module._kill(dead)
    streams_module._kill(None)
    streams_module._kill(types.SimpleNamespace(kill=lambda: calls.append("no dead")))
    assert calls == ["gevent False", "eventlet"]


def test_current_task_in_a_thread_and_in_a_greenlet():
    import greenlet

    assert streams_module._current_task() is None
    inner = greenlet.greenlet(streams_module._current_task)
    assert inner.switch() is inner
    stream, _ = download()
    stream.body(b"", [])
    seen = greenlet.greenlet(lambda: (stream.pump(), stream.task)[1])
    assert seen.switch() is seen


# --- Upload ----------------------------------------------------------------------


def upload(length: int | None = 10, window: int = 8) -> tuple[Upload, FakeServer]:
    streams, server = make_streams()
    stream = Upload(streams, "u", length, window)
    streams.add(stream)
    return stream, server


def test_open_grants_the_first_credit():
    stream, server = upload()
    stream.open(8)
    stream.open(0)
    assert server.frames(CREDIT) == [("u", 8)]
    assert stream.granted == 8
    stream.cancel("x")
    stream.open(8)
    assert stream.granted == 8


def test_chunks_in_order_and_out_of_order():
    stream, _ = upload(length=6, window=8)
    stream.open(8)
    ended: list[bool] = []
    stream.on_end = lambda: ended.append(True)
    stream.feed(3, b"def")
    assert stream.received == 0
    stream.feed(0, bytearray(b"abc"))
    assert stream.received == 6
    assert stream.ended is True and ended == [True]
    buffer = bytearray(4)
    # A read takes at most one chunk, or part of one.
    assert stream.readinto(buffer) == 3 and bytes(buffer[:3]) == b"abc"
    assert stream.readinto(buffer[:2]) == 2
    assert stream.read() == b"f"
    assert stream.readinto(bytearray(4)) == 0
    assert stream.readinto(bytearray(0)) == 0
    assert stream.readable() is True
    stream.feed(6, b"")  # after the end: ignored
    assert stream.received == 6


def test_an_empty_chunk_is_taken():
    stream, _ = upload(length=2)
    stream.open(8)
    stream.feed(0, b"")
    stream.feed(0, b"ab")
    assert stream.ended is True
    assert stream.read() == b"ab"


@pytest.mark.parametrize(
    ("offset", "data", "message"),
    [
        ("0", b"x", "A sockreq:chunk needs an integer offset and binary data."),
        (True, b"x", "A sockreq:chunk needs an integer offset and binary data."),
        (0, "text", "A sockreq:chunk needs an integer offset and binary data."),
        (None, None, "A sockreq:chunk needs an integer offset and binary data."),
        (0, b"x" * 9, "The chunk at offset 0 goes past the 8 bytes granted."),
        (5, b"x" * 4, "The chunk at offset 5 goes past the 8 bytes granted."),
    ],
)
def test_bad_chunks_stop_the_upload(offset, data, message, caplog):
    stream, server = upload(length=None)
    stream.open(8)
    with caplog.at_level(logging.INFO, logger="flask_sockreq"):
        stream.feed(offset, data)
    assert server.frames(ERROR) == [
        ("u", {"error": "invalid_stream", "message": message})
    ]
    assert stream.cancelled == message
    assert stream.streams.active == {}
    assert caplog.records[-1].getMessage() == f"Upload u stopped: {message}"


def test_a_chunk_over_what_was_received_or_the_length():
    stream, server = upload(length=5)
    stream.open(8)
    stream.feed(0, b"abc")
    stream.feed(2, b"c")
    assert server.frames(ERROR)[-1][1]["message"] == (
        "The chunk at offset 2 overlaps data already received."
    )
    stream, server = upload(length=5)
    stream.open(8)
    stream.feed(3, b"xyz")
    assert server.frames(ERROR)[-1][1]["message"] == (
        "The chunk at offset 3 goes past the declared length of 5 bytes."
    )
    stream, server = upload(length=5)
    stream.open(8)
    stream.feed(0, b"abcde")  # exactly the length and within the credit
    assert server.frames(ERROR) == [] and stream.ended
    stream, server = upload(length=None)
    stream.open(8)
    stream.feed(0, b"x" * 8)  # exactly the credit
    assert server.frames(ERROR) == []


def test_end_with_a_length():
    stream, server = upload(length=None)
    stream.open(8)
    stream.feed(0, b"abc")
    assert stream.ended is False
    stream.end(3)
    assert (stream.ended, stream.length) == (True, 3)
    assert stream.read() == b"abc"
    stream, server = upload(length=None)
    stream.open(8)
    stream.end(4)
    assert stream.ended is False
    stream.feed(0, b"abcd")
    assert stream.ended is True
    stream, server = upload(length=0)
    stream.end(0)
    assert stream.ended is True and stream.read() == b""


@pytest.mark.parametrize(
    ("length", "message"),
    [
        ("3", "A sockreq:end needs the body's length in bytes."),
        (-1, "A sockreq:end needs the body's length in bytes."),
        (None, "A sockreq:end needs the body's length in bytes."),
        (4, "The body ended at 4 bytes, not the 3 declared."),
    ],
)
def test_bad_ends_stop_the_upload(length, message):
    stream, server = upload(length=3)
    stream.end(length)
    assert server.frames(ERROR) == [
        ("u", {"error": "invalid_stream", "message": message})
    ]
    assert stream.cancelled == message


def test_a_cancelled_upload_ignores_chunks_and_stops_its_reader():
    stream, server = upload(length=None)
    stream.open(8)
    stream.cancel("the client disconnected")
    stream.feed(0, b"abc")
    assert stream.received == 0
    with pytest.raises(ClientDisconnected) as info:
        stream.read(3)
    assert info.value.description == "The upload stopped: the client disconnected"


def test_reading_grants_credit_in_steps_of_half_a_window():
    stream, server = upload(length=None, window=8)
    stream.open(8)
    stream.feed(0, b"abcdefgh")
    assert stream.read(3) == b"abc"
    assert server.frames(CREDIT) == [("u", 8)]  # 3 ahead: less than half
    assert stream.read(1) == b"d"
    assert server.frames(CREDIT) == [("u", 8), ("u", 4)]
    assert stream.granted == 12


def test_reading_grants_what_is_left_of_the_length():
    stream, server = upload(length=10, window=8)
    stream.open(8)
    stream.feed(0, b"abcdefgh")
    assert stream.read(1) == b"a"
    assert server.frames(CREDIT) == [("u", 8)]  # 1 ahead: less than half
    # A window ahead would be past the length: the rest of it is granted.
    assert stream.read(1) == b"b"
    assert server.frames(CREDIT) == [("u", 8), ("u", 2)]
    stream.feed(8, b"ij")
    assert stream.read() == b"cdefghij"
    assert server.frames(CREDIT) == [("u", 8), ("u", 2)]


def test_refill():
    stream, _ = upload(length=None, window=10)
    stream.granted, stream.consumed = 10, 4
    assert stream._refill() == 0
    stream.consumed = 5
    assert stream._refill() == 5
    stream.length = 12
    assert stream._refill() == 2
    stream.length, stream.granted, stream.consumed = 100, 10, 0
    assert stream._refill() == 0


def test_a_reader_waits_for_chunks():
    stream, _ = upload(length=4)
    stream.open(8)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(stream.read(4)))
    reader.start()
    stream.feed(0, b"wxyz")
    reader.join(5)
    assert got == [b"wxyz"]


def test_close():
    stream, _ = upload()
    stream.close()
    assert stream.closed


# --- FrameHandler ----------------------------------------------------------------


def frame_handler(event: str) -> tuple[FrameHandler, Streams, FakeServer]:
    streams, server = make_streams()
    socketio = types.SimpleNamespace(server=server)
    server.environs["sid1", "/ns"] = {
        CONNECTION_KEY: types.SimpleNamespace(streams=streams)
    }
    return FrameHandler(socketio, event, "/ns"), streams, server


def test_frame_events():
    assert streams_module.HELLO == "sockreq:hello"
    assert streams_module.VERSION == 1
    assert CLIENT_FRAMES == (CHUNK, END, CREDIT, CANCEL)
    assert (CHUNK, END, CREDIT, CANCEL, ERROR) == (
        "sockreq:chunk",
        "sockreq:end",
        "sockreq:credit",
        "sockreq:cancel",
        "sockreq:error",
    )


def test_chunk_and_end_reach_the_upload():
    handler, streams, _ = frame_handler(CHUNK)
    stream = Upload(streams, "7", None, 8)
    streams.add(stream)
    stream.open(8)
    handler("sid1", 7, 0, b"abc")
    assert stream.received == 3
    FrameHandler(handler.socketio, END, "/ns")("sid1", "7", 3)
    assert stream.ended is True


def test_a_short_chunk_or_end_stops_the_upload():
    handler, streams, server = frame_handler(CHUNK)
    stream = Upload(streams, "u", None, 8)
    streams.add(stream)
    handler("sid1", "u", 0)
    assert (
        stream.cancelled == "A sockreq:chunk needs an integer offset and binary data."
    )
    handler, streams, server = frame_handler(END)
    stream = Upload(streams, "u", None, 8)
    streams.add(stream)
    handler("sid1", "u")
    assert stream.cancelled == "A sockreq:end needs the body's length in bytes."


def test_credit_reaches_the_download(caplog):
    handler, streams, _ = frame_handler(CREDIT)
    stream = Download(streams, "d", 0)
    streams.add(stream)
    handler("sid1", "d", 5)
    assert stream.credit == 5
    with caplog.at_level(logging.DEBUG, logger="flask_sockreq"):
        for size in (0, -1, "5", True, None):
            handler("sid1", "d", size)
        handler("sid1", "d")
    assert stream.credit == 5
    assert caplog.records[0].getMessage() == "Ignored a credit of 0 for 'd'."
    assert caplog.records[-1].getMessage() == "Ignored a credit of None for 'd'."


def test_cancel_reaches_any_stream():
    handler, streams, _ = frame_handler(CANCEL)
    stream = Download(streams, "d", 0)
    streams.add(stream)
    handler("sid1", "d")
    assert stream.cancelled == "cancelled by the client"
    assert streams.active == {}


def test_frames_for_no_stream_are_ignored(caplog):
    handler, streams, server = frame_handler(CANCEL)
    stream = Download(streams, "1", 0)
    streams.add(stream)
    with caplog.at_level(logging.DEBUG, logger="flask_sockreq"):
        handler("sid1", "nope")
        handler("sid1", True)
        handler("sid1", None)
        handler("sid1", 1.0)
    assert stream.cancelled is None
    assert caplog.records[0].getMessage() == (
        "Ignored sockreq:cancel for no stream 'nope' of sid1."
    )
    assert caplog.records[1].getMessage() == (
        "Ignored sockreq:cancel for no stream True of sid1."
    )
    handler("unknown-sid", "1")
    server.environs["sid2", "/ns"] = {}
    handler("sid2", "1")
    server.environs["sid3", "/ns"] = {
        CONNECTION_KEY: types.SimpleNamespace(streams=None)
    }
    handler("sid3", "1")
    # The connection is looked up on the handler's namespace.
    server.environs["sid4", "/"] = server.environs["sid1", "/ns"]
    handler("sid4", "1")
    assert stream.cancelled is None


def test_frames_of_the_other_direction_are_ignored(caplog):
    for event, kind in ((CHUNK, Download), (END, Download), (CREDIT, Upload)):
        handler, streams, _ = frame_handler(event)
        stream = (
            kind(streams, "s", None, 8) if kind is Upload else kind(streams, "s", 0)
        )
        streams.add(stream)
        with caplog.at_level(logging.DEBUG, logger="flask_sockreq"):
            handler("sid1", "s", 0, b"x")
        assert stream.cancelled is None
        assert caplog.records[-1].getMessage() == (
            f"Ignored {event} for the {kind.__name__} 's'."
        )


# --- what the mutation tests found uncovered -------------------------------------


def test_a_single_byte_of_credit_is_used():
    stream, server = download(window=1)
    stream.pending += b"z"
    stream._send(1)
    assert server.frames(CHUNK) == [("d", b"z")]
    handler, streams, _ = frame_handler(CREDIT)
    other = Download(streams, "d", 0)
    streams.add(other)
    handler("sid1", "d", 1)
    assert other.credit == 1


def test_the_held_send_sends_a_single_byte():
    stream, server = download(window=100)
    stream._armed = True
    stream.pending += b"x"
    stream._send_later()
    assert server.frames(CHUNK) == [("d", b"x")]


def test_a_piece_after_a_pause_goes_before_the_next_is_asked_for(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(streams_module.time, "monotonic", lambda: now[0])
    stream, server = download(window=100)
    seen: list[t.Any] = []

    def pieces() -> t.Iterator[bytes]:
        seen.append(list(server.frames(CHUNK)))
        yield b"a"
        seen.append(list(server.frames(CHUNK)))
        now[0] += 0.5  # a pause: more than HOLD, far less than a second
        yield b"b"
        seen.append(list(server.frames(CHUNK)))

    stream.body(b"", pieces())
    stream._sent_at = now[0] - 10
    stream.pump()
    assert seen == [[], [("d", b"a")], [("d", b"a"), ("d", b"b")]]
    assert server.tasks == []  # nothing held


def test_no_more_is_taken_from_the_view_while_a_chunk_waits_for_credit():
    stream, server = download(window=0, limits=LIMITS._replace(idle_timeout=0.05))
    asked: list[int] = []

    def pieces() -> t.Iterator[bytes]:
        asked.append(1)
        yield b"abcd"  # a whole chunk
        asked.append(2)
        yield b"e"

    stream.body(b"", pieces())
    stream.pump()
    assert asked == [1]
    assert server.frames(ERROR)[0][1]["error"] == "timeout"


def test_in_app_is_true_only_inside_the_view():
    stream, server = download(window=100)
    inside: list[t.Any] = []
    outside: list[t.Any] = []

    def pieces() -> t.Iterator[bytes]:
        inside.append(stream.in_app)
        yield b"a"
        inside.append(stream.in_app)
        yield b"b"
        inside.append(stream.in_app)

    def wait(ready: t.Callable[[], bool]) -> None:
        outside.append(stream.in_app)
        Stream.wait(stream, ready)

    stream.wait = wait  # type: ignore[method-assign]
    stream.body(b"", pieces())
    stream.pump()
    assert inside == [True, True, True]
    assert outside and all(value is False for value in outside)


def test_the_end_of_a_body_waits_for_credit():
    stream, server = download(window=2)
    sends = [0]
    send = stream._send

    def counting(minimum: int) -> None:
        sends[0] += 1
        send(minimum)

    stream._send = counting  # type: ignore[method-assign]
    stream.body(b"", Body([b"abc"]))
    pumping = threading.Thread(target=stream.pump)
    pumping.start()
    assert wait_for(lambda: server.frames(CHUNK) == [("d", b"ab")])
    assert not server.frames(END)
    threading.Event().wait(0.05)  # paces the grant only
    assert sends[0] <= 6, sends[0]  # it waits, it does not spin
    stream.grant(1)
    pumping.join(5)
    assert not pumping.is_alive()
    assert server.frames(CHUNK) == [("d", b"ab"), ("d", b"c")]
    assert server.frames(END) == [("d",)]


def test_a_download_is_out_of_the_sockets_streams_when_its_end_is_sent():
    stream, server = download(window=100)
    active_at_end: list[bool] = []
    send_packet = server._send_packet

    def recording(eio_sid: str, pkt: t.Any) -> None:
        if pkt.data[0] == END:
            active_at_end.append("d" in stream.streams.active)
        send_packet(eio_sid, pkt)

    server._send_packet = recording  # type: ignore[method-assign]
    stream.body(b"", Body([b"x"]))
    stream.pump()
    assert active_at_end == [False]


def test_wait_sleeps_rather_than_spins():
    streams, _ = make_streams()
    stream = Stream(streams, "s")
    calls = [0]
    flag = threading.Event()

    def ready() -> bool:
        calls[0] += 1
        return flag.is_set()

    def later() -> None:
        threading.Event().wait(0.05)  # paces the sender only
        flag.set()
        stream.event.set()

    # A wake-up that comes before the stream is ready (a grant that is not
    # enough, say) must not leave the event set: the wait would spin.
    stream.event.set()
    threading.Thread(target=later).start()
    stream.wait(ready)
    assert calls[0] <= 6, calls[0]


def test_a_wait_checks_its_deadline_only_when_not_ready():
    # Ready at the second look, with the wake-up already there: however
    # short the idle timeout, it is not idle.
    streams, _ = make_streams(LIMITS._replace(idle_timeout=0.5))
    stream = Stream(streams, "s")
    stream.event.set()
    looks = iter([False, True, True, True])
    stream.wait(lambda: next(looks))
    assert stream.cancelled is None


def test_the_last_byte_of_an_upload_is_granted():
    stream, server = upload(length=9, window=8)
    stream.open(8)
    stream.feed(0, b"abcdefgh")
    assert stream.read(1) == b"a"
    assert server.frames(CREDIT) == [("u", 8), ("u", 1)]


def test_a_reader_waiting_for_the_end_is_woken_by_it():
    stream, _ = upload(length=None)
    stream.open(8)
    stream.feed(0, b"abc")
    assert stream.read(3) == b"abc"
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(stream.read(3)))
    reader.start()
    stream.end(3)
    reader.join(2)  # the idle timeout is 5 s: only end() can wake it before
    assert got == [b""]


def test_a_chunk_frame_with_more_arguments():
    handler, streams, _ = frame_handler(CHUNK)
    stream = Upload(streams, "u", None, 8)
    streams.add(stream)
    stream.open(8)
    handler("sid1", "u", 0, b"ab", "extra")
    assert stream.received == 2 and stream.cancelled is None
