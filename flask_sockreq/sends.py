"""Socket.IO packets sent whole, under the threading mode.

python-socketio sends an event with binary data (a stream's chunk) as
several Engine.IO messages, one ``send`` each: the packet, then each
attachment. Under eventlet and gevent nothing can run between those sends,
but under the threading mode another thread's packet may: the client then
reads that packet as the attachment, and a chunk of one stream lands in
another, or the connection breaks. :func:`install` makes one python-socketio
server send each packet whole, one thread at a time (for its own packets
and Flask-SockReq's: acknowledgements, stream frames, emits of one Engine.IO
message). An app's own binary events, which python-socketio's manager sends
a message at a time, are still its library's to order. :func:`send` is how
Flask-SockReq sends its own packets to one socket.
"""

from __future__ import annotations

import threading
import typing as t

from socketio import packet as sio_packet

EVENT = sio_packet.EVENT
ACK = sio_packet.ACK


def install(server: t.Any) -> bool:
    """Make a threading-mode python-socketio ``server`` send its packets
    whole.

    :return: Whether it does (now or before).
    """
    if getattr(server, "async_mode", None) != "threading":
        return False
    if getattr(server, "_sockreq_send_lock", None) is not None:
        return True
    lock = threading.RLock()
    send_packet = server._send_packet
    send_eio_packet = server._send_eio_packet

    def _send_packet(eio_sid: str, pkt: t.Any) -> None:
        with lock:
            send_packet(eio_sid, pkt)

    def _send_eio_packet(eio_sid: str, eio_pkt: t.Any) -> None:
        with lock:
            send_eio_packet(eio_sid, eio_pkt)

    server._send_packet = _send_packet
    server._send_eio_packet = _send_eio_packet
    server._sockreq_send_lock = lock
    return True


def send(
    server: t.Any, sid: str, namespace: str, packet_type: int, **fields: t.Any
) -> None:
    """Send one packet to the client ``sid`` of this process, as
    python-socketio sends an acknowledgement: straight to its Engine.IO
    session (through the same method, which Flask-SocketIO's test client
    captures), with no message queue hop, and whole (:func:`install`).
    Nothing is sent to a client that has gone."""
    eio_sid = server.manager.eio_sid_from_sid(sid, namespace)
    if eio_sid is not None:
        server._send_packet(
            eio_sid, server.packet_class(packet_type, namespace=namespace, **fields)
        )
