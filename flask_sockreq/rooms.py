"""Rooms and broadcasts: the ``sails.sockets`` of Flask-SockReq."""

from __future__ import annotations


class RoomsMixin:
    """The room and broadcast operations of :class:`~flask_sockreq.SockReq`."""
