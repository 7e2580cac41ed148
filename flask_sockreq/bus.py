"""The room bus: room-to-room operations shared by every server process.

python-socketio's message queue managers share emits, ``enter_room`` and
``leave_room`` of a socket connected to another process, ``close_room`` and
disconnects. They do not share "every member of room A joins room B": only
the process a socket is connected to knows which rooms it is in.

Each process that serves sockets through a message queue therefore listens
on a second channel of the same queue, named after the Socket.IO one with
:data:`CHANNEL_SUFFIX` appended (``flask-socketio.sockreq`` by default). A
room-to-room operation is applied to this process's sockets, then published
there as a small JSON message; every other process applies it to the
sockets it owns. Messages are::

    {"v": 1, "op": "add" | "remove", "namespace": "/", "src": "room",
     "dests": ["room", ...], "host": "<the sender's id>"}

The channel goes through python-socketio's own backend class (Redis,
Valkey, Redis Sentinel or Kombu), so it reconnects as the Socket.IO channel
does. A message that is not of this shape is logged and ignored.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import typing as t
import uuid
import weakref

import socketio

if t.TYPE_CHECKING:  # pragma: no cover
    from socketio.pubsub_manager import PubSubManager

logger = logging.getLogger("flask_sockreq")

#: Appended to the message queue channel to name the room bus channel.
CHANNEL_SUFFIX = ".sockreq"
#: The version of the message format.
VERSION = 1
#: The operations a message may carry.
OPERATIONS = ("add", "remove")

_RETRY_MAX = 30.0

_buses: weakref.WeakKeyDictionary[t.Any, RoomBus | None] = weakref.WeakKeyDictionary()
_buses_lock = threading.Lock()


def apply(server: t.Any, op: str, namespace: str, src: str, dests: list[str]) -> int:
    """Apply a room-to-room operation to the sockets of this process.

    :param server: The python-socketio server.
    :param op: ``"add"``: every member of ``src`` joins each of ``dests``;
        ``"remove"``: every member of ``src`` leaves each of ``dests``.
    :return: How many sockets of this process were in ``src``.
    """
    manager = server.manager
    members = [sid for sid, _ in manager.get_participants(namespace, src)]
    for sid in members:
        for dest in dests:
            try:
                if op == "add":
                    manager.basic_enter_room(sid, namespace, dest)
                else:
                    manager.basic_leave_room(sid, namespace, dest)
            except (KeyError, ValueError) as exc:
                # A socket that disconnected meanwhile, or a dest that is
                # another socket's own room.
                logger.warning(
                    "Could not %s socket %s %s room %r: %s",
                    op,
                    sid,
                    "to" if op == "add" else "from",
                    dest,
                    exc,
                )
    return len(members)


class RoomBus:
    """The room bus channel of one python-socketio server's message queue.

    :param server: The python-socketio server.
    :param backend: A python-socketio pub/sub manager on the bus channel,
        used only for its ``_publish`` and ``_listen``: the transport that
        each of python-socketio's backends implements.
    """

    def __init__(self, server: t.Any, backend: PubSubManager) -> None:
        self.server = server
        self.backend = backend
        #: Identifies this process's messages, which it does not apply twice.
        self.host_id = uuid.uuid4().hex
        self._pid: int | None = None
        self._lock = threading.Lock()

    @property
    def channel(self) -> str:
        return t.cast(str, self.backend.channel)

    def start(self) -> None:
        """Start listening, once per process (again in a forked child)."""
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
        self.server.start_background_task(self._run)

    def publish(self, op: str, namespace: str, src: str, dests: list[str]) -> None:
        """Send an operation to the other processes."""
        self.start()
        self.backend._publish(
            {
                "v": VERSION,
                "op": op,
                "namespace": namespace,
                "src": src,
                "dests": dests,
                "host": self.host_id,
            }
        )

    def handle(self, raw: t.Any) -> bool:
        """Apply one message from the channel.

        :return: Whether it was a valid message from another process.
        """
        message = decode(raw)
        if message is None:
            logger.warning("Ignored a malformed room bus message: %.200r", raw)
            return False
        if message["host"] == self.host_id:
            return False
        apply(
            self.server,
            message["op"],
            message["namespace"],
            message["src"],
            message["dests"],
        )
        return True

    def _run(self) -> None:
        delay = 1.0
        while True:
            try:
                # The backend reconnects by itself, logging each failure.
                for raw in self.backend._listen():
                    delay = 1.0
                    try:
                        self.handle(raw)
                    except Exception:
                        logger.exception("Failed to apply a room bus message.")
            except Exception:
                logger.exception(
                    "The room bus listener on channel %r failed; restarting"
                    " it in %.0f s.",
                    self.channel,
                    delay,
                )
            else:  # pragma: no cover - a backend's listen never ends
                logger.error("The room bus listener on %r stopped.", self.channel)
            self.server.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX)


def decode(raw: t.Any) -> dict[str, t.Any] | None:
    """Parse and validate a room bus message, or None if it is not one."""
    try:
        if isinstance(raw, bytes | bytearray):
            raw = raw.decode("utf-8")
        message = json.loads(raw) if isinstance(raw, str) else raw
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(message, dict) or message.get("v") != VERSION:
        return None
    dests = message.get("dests")
    if (
        message.get("op") not in OPERATIONS
        or not isinstance(message.get("namespace"), str)
        or not isinstance(message.get("src"), str)
        or not isinstance(message.get("host"), str)
        or not isinstance(dests, list)
        or not all(isinstance(dest, str) for dest in dests)
    ):
        return None
    return message


def bus_for(server: t.Any) -> RoomBus | None:
    """The started room bus of ``server``, or None without a message queue.

    :param server: A python-socketio server, or None.
    """
    if server is None:
        return None
    manager = getattr(server, "manager", None)
    if manager is None:
        return None
    with _buses_lock:
        try:
            bus = _buses[manager]
        except KeyError:
            backend = _control_backend(manager)
            bus = RoomBus(server, backend) if backend is not None else None
            _buses[manager] = bus
    if bus is not None:
        bus.start()
    return bus


class _BackendLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The bus backend's log: its messages ("Cannot receive from redis...
    retrying in 2 secs") name the channel and carry the cause, which
    python-socketio passes only as an ``extra`` field."""

    def process(
        self, msg: t.Any, kwargs: t.MutableMapping[str, t.Any]
    ) -> tuple[t.Any, t.MutableMapping[str, t.Any]]:
        extra = kwargs.get("extra") or {}
        causes = [str(value) for key, value in extra.items() if "exception" in key]
        msg = f"Room bus channel {self.extra['channel']!r}: {msg}"  # type: ignore[index]
        if causes:
            msg = f"{msg} ({'; '.join(causes)})"
        return msg, kwargs


def _control_backend(manager: t.Any) -> PubSubManager | None:
    if not isinstance(manager, socketio.PubSubManager) or manager.write_only:
        return None
    channel = f"{manager.channel}{CHANNEL_SUFFIX}"
    log = _BackendLogger(logger, {"channel": channel})
    if isinstance(manager, socketio.RedisManager):
        return socketio.RedisManager(
            manager.redis_url,
            channel=channel,
            logger=log,
            json=manager.json,
            redis_options=dict(getattr(manager, "redis_options", None) or {}),
        )
    if isinstance(manager, socketio.KombuManager):
        return socketio.KombuManager(
            manager.url,
            channel=channel,
            logger=log,
            json=manager.json,
            connection_options=manager.connection_options,
            exchange_options=manager.exchange_options,
            queue_options=manager.queue_options,
            producer_options=manager.producer_options,
        )
    logger.warning(
        "Room-to-room operations apply only to the sockets of this process:"
        " Flask-SockReq shares them through Redis and Kombu message queues,"
        " not through %s.",
        type(manager).__name__,
    )
    return None
