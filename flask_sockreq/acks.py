"""Answering requests at their deadline.

python-socketio sends an event's ack from its handler's return value and
does not tell the handler the ack id. To answer a slow request at its
deadline while the view goes on, Flask-SockReq needs that id: the packet
codec tags each request payload with it (:mod:`flask_sockreq.codec`). A
single watchdog task per server then answers overdue requests itself, and
the handler's late return is turned into no ack at all.
"""

from __future__ import annotations

import logging
import threading
import time
import typing as t

from . import sends

if t.TYPE_CHECKING:  # pragma: no cover
    import socketio

logger = logging.getLogger("flask_sockreq")


#: A request served under a deadline: (sid, namespace, ack id).
Pending = tuple[str, str, int]


class Watchdog:
    """Answers requests that are still running at their deadline.

    One per python-socketio server; its task runs only while requests are in
    flight. The handler and the watchdog race to pop a request's entry: the
    pop is atomic, so exactly one of them answers.
    """

    def __init__(
        self, server: socketio.Server, timeout_jwr: t.Callable[[], t.Any]
    ) -> None:
        self.server = server
        self.timeout_jwr = timeout_jwr
        self._deadlines: dict[Pending, float] = {}
        self._lock = threading.Lock()  # only for starting and stopping the task
        self._running = False

    def track(self, sid: str, namespace: str, ack_id: int, timeout: float) -> Pending:
        pending = (sid, namespace, ack_id)
        self._deadlines[pending] = time.monotonic() + timeout
        if not self._running:
            with self._lock:
                start = not self._running
                self._running = True
            if start:
                self.server.start_background_task(self._watch)
        return pending

    def finish(self, pending: Pending) -> bool:
        """Claim the answer to ``pending``. False if the watchdog has sent it."""
        return self._deadlines.pop(pending, None) is not None

    def _watch(self) -> None:
        while True:
            with self._lock:
                if not self._deadlines:
                    self._running = False
                    return
            now = time.monotonic()
            next_deadline = now + 0.5
            for pending, deadline in list(self._deadlines.items()):
                if deadline > now:
                    next_deadline = min(next_deadline, deadline)
                elif self._deadlines.pop(pending, None) is not None:
                    self._answer(pending)
            self.server.sleep(max(next_deadline - time.monotonic(), 0.005))

    def _answer(self, pending: Pending) -> None:
        sid, namespace, ack_id = pending
        try:
            send_ack(self.server, sid, namespace, ack_id, self.timeout_jwr())
        except Exception:  # the client may be gone: nothing to answer
            logger.debug("Could not send a 504 to %s.", sid, exc_info=True)


def send_ack(
    server: socketio.Server, sid: str, namespace: str, ack_id: int, data: t.Any
) -> None:
    """Send ``data`` as the acknowledgement ``ack_id`` to the client ``sid``."""
    sends.send(server, sid, namespace, sends.ACK, id=ack_id, data=[data])
