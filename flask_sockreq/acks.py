"""Acknowledgements: knowing a request's ack id, and answering at a deadline.

python-socketio sends an event's ack from its handler's return value and
does not tell the handler the ack id. To answer a slow request at its
deadline while the view goes on, Flask-SockReq needs that id: the server's
packet class is extended so that decoding a request event tags its payload
with it, under a key no JSON payload can spell. A single watchdog task per
server then answers overdue requests itself, and the handler's late return
is turned into no ack at all.
"""

from __future__ import annotations

import logging
import threading
import time
import typing as t

from socketio import packet as sio_packet

if t.TYPE_CHECKING:  # pragma: no cover
    import socketio

logger = logging.getLogger("flask_sockreq")


class _AckKey:
    """The payload key of the ack id: not a string, so never from a client."""

    def __repr__(self) -> str:
        return "<sockreq ack id>"


ACK_KEY: t.Any = _AckKey()


def tagging_class(base: type, namespace: str, events: t.Iterable[str]) -> type:
    """``base``, extended to tag the payloads of ``events`` on ``namespace``."""
    if not getattr(base, "sockreq_tagging", False):
        base = type(
            f"SockReq{base.__name__}",
            (_TaggingPacket, base),
            {"sockreq_tagging": True, "sockreq_events": frozenset()},
        )
    base.sockreq_events = base.sockreq_events | {  # type: ignore[attr-defined]
        (namespace, event) for event in events
    }
    return base


def install(server: socketio.Server, namespace: str, events: t.Iterable[str]) -> None:
    """Make ``server`` tag the payloads of ``events`` on ``namespace``."""
    server.packet_class = tagging_class(server.packet_class, namespace, events)


def is_installed(server: socketio.Server) -> bool:
    return bool(getattr(server.packet_class, "sockreq_tagging", False))


class _TaggingPacket(sio_packet.Packet):  # type: ignore[misc]
    sockreq_events: t.ClassVar[frozenset[tuple[str, str]]]

    def decode(self, encoded_packet: t.Any) -> t.Any:
        count = super().decode(encoded_packet)
        data = self.data
        if (
            self.packet_type in (sio_packet.EVENT, sio_packet.BINARY_EVENT)
            and isinstance(data, list)
            and len(data) > 1
            and isinstance(data[1], dict)
            and (self.namespace or "/", data[0]) in self.sockreq_events
        ):
            data[1][ACK_KEY] = self.id
        return count


class Pending:
    """A request being served under a deadline."""

    __slots__ = ("sid", "namespace", "ack_id", "deadline", "answered")

    def __init__(self, sid: str, namespace: str, ack_id: int, deadline: float) -> None:
        self.sid = sid
        self.namespace = namespace
        self.ack_id = ack_id
        self.deadline = deadline
        #: Set by whoever answered first: the handler or the watchdog.
        self.answered = False


class Watchdog:
    """Answers requests that are still running at their deadline.

    One per python-socketio server. Its task runs only while requests are in
    flight.
    """

    def __init__(self, server: socketio.Server, timeout_jwr: t.Callable[[], t.Any]):
        self.server = server
        self.timeout_jwr = timeout_jwr
        self._pending: dict[int, Pending] = {}
        self._lock = threading.Lock()
        self._running = False

    def track(self, sid: str, namespace: str, ack_id: int, timeout: float) -> Pending:
        pending = Pending(sid, namespace, ack_id, time.monotonic() + timeout)
        with self._lock:
            self._pending[id(pending)] = pending
            start = not self._running
            self._running = True
        if start:
            self.server.start_background_task(self._watch)
        return pending

    def finish(self, pending: Pending) -> bool:
        """Mark ``pending`` answered by its handler. False if it was too late."""
        with self._lock:
            self._pending.pop(id(pending), None)
            if pending.answered:
                return False
            pending.answered = True
            return True

    def _watch(self) -> None:
        while True:
            now = time.monotonic()
            overdue = []
            with self._lock:
                if not self._pending:
                    self._running = False
                    return
                for key, pending in list(self._pending.items()):
                    if pending.deadline <= now:
                        del self._pending[key]
                        pending.answered = True
                        overdue.append(pending)
                next_deadline = min(
                    (pending.deadline for pending in self._pending.values()),
                    default=now + 0.5,
                )
            for pending in overdue:
                self._answer(pending)
            self.server.sleep(min(max(next_deadline - time.monotonic(), 0.005), 0.5))

    def _answer(self, pending: Pending) -> None:
        try:
            send_ack(
                self.server,
                pending.sid,
                pending.namespace,
                pending.ack_id,
                self.timeout_jwr(),
            )
        except Exception:  # the client may be gone: nothing to answer
            logger.debug("Could not send a 504 to %s.", pending.sid, exc_info=True)


def send_ack(
    server: socketio.Server, sid: str, namespace: str, ack_id: int, data: t.Any
) -> None:
    """Send ``data`` as the acknowledgement ``ack_id`` to the client ``sid``."""
    eio_sid = server.manager.eio_sid_from_sid(sid, namespace)
    if eio_sid is None:
        return
    encoded = server.packet_class(
        sio_packet.ACK, namespace=namespace, id=ack_id, data=[data]
    ).encode()
    for part in encoded if isinstance(encoded, list) else [encoded]:
        server.eio.send(eio_sid, part)
