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
a message at a time, are still its library's to order.
"""

from __future__ import annotations

import threading
import typing as t


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
