"""sends.py: under the threading mode a packet goes whole, its binary
attachments right behind it, whatever other threads send to the socket."""

from __future__ import annotations

import threading
import time
import typing as t

import socketio
from socketio import packet

from flask_sockreq import sends


def _recording_server() -> tuple[t.Any, list[t.Any]]:
    """A python-socketio server whose Engine.IO sends are recorded, each
    followed by a pause in which another thread may run."""
    server = socketio.Server(async_mode="threading")
    sent: list[t.Any] = []

    def send(eio_sid: str, data: t.Any) -> None:
        sent.append(data)
        time.sleep(0.002)

    server.eio.send = send
    return server, sent


def _chunks_from_threads(server: t.Any) -> None:
    def burst(name: str) -> None:
        for _ in range(15):
            chunk = server.packet_class(
                packet.EVENT, namespace="/", data=["sockreq:chunk", name, name.encode()]
            )
            server._send_packet("same-socket", chunk)

    threads = [threading.Thread(target=burst, args=(name,)) for name in "abc"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)


def _pairs(sent: list[t.Any]) -> list[tuple[str, bytes]]:
    """The (packet, attachment) pairs in the order the socket got them;
    fails at the first packet not followed by its attachment."""
    pairs = []
    for index in range(0, len(sent), 2):
        header, attachment = sent[index], sent[index + 1]
        assert isinstance(header, str) and isinstance(attachment, bytes), (
            f"message {index + 1}: {header!r} then {attachment!r}"
        )
        pairs.append((header, attachment))
    return pairs


def test_a_chunk_and_its_data_go_together_under_threads() -> None:
    server, sent = _recording_server()
    assert sends.install(server)
    assert sends.install(server)  # once is enough
    _chunks_from_threads(server)
    pairs = _pairs(sent)
    assert len(pairs) == 45
    for header, attachment in pairs:
        assert f'"{attachment.decode()}"' in header, (header, attachment)


def test_without_it_other_threads_come_between() -> None:
    # What the module prevents, shown on python-socketio as it is.
    server, sent = _recording_server()
    _chunks_from_threads(server)
    broken = [
        index
        for index in range(0, len(sent), 2)
        if not (isinstance(sent[index], str) and isinstance(sent[index + 1], bytes))
        or f'"{sent[index + 1].decode()}"' not in sent[index]
    ]
    assert broken


def test_green_servers_are_left_as_they_are() -> None:
    # Nothing runs between two sends of a green thread (eventlet's case is
    # the same code path; importing eventlet here would only warn).
    server = socketio.Server(async_mode="gevent")
    send_packet = server._send_packet
    assert not sends.install(server)
    assert server._send_packet == send_packet
