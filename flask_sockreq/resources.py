"""Resource subscriptions: Sails' resourceful pub/sub, with no ORM.

A resource is a name, such as ``"pet"``; a record is anything with an id.
A socket subscribed to a record is in the room ``"pet#5"``
(:func:`record_room`); a socket watching the resource is in ``"pet:watch"``
(:func:`watch_room`). Notifications are the event named after the resource,
with one argument::

    {"verb": "created" | "updated" | "destroyed", "id": 5, "data": ...}

.. code-block:: python

    @app.get("/pets")
    def list_pets():
        pets = Pet.query.all()
        subscribe(request, "pet", pets)  # a no-op over HTTP
        watch(request, "pet")
        return [pet.to_dict() for pet in pets]

    @app.patch("/pets/<int:pet_id>")
    def update_pet(pet_id):
        pet = ...
        publish_updated("pet", pet, request.json, skip=request)
        return pet.to_dict()

Subscribing is a no-op for an HTTP request, so a route can call it whoever
asks; publishing works from any route, HTTP or socket, and outside a request
with an app context, and reaches every server process.
"""

from __future__ import annotations

import typing as t
from collections.abc import Iterable
from collections.abc import Mapping

from . import rooms
from .rooms import SocketLike

#: The verbs of the notifications.
VERBS = ("created", "updated", "destroyed")


def record_room(resource: str, record: t.Any) -> str:
    """The room of a record's subscribers: ``"pet#5"``."""
    return f"{_check_resource(resource)}#{id_of(record)}"


def watch_room(resource: str) -> str:
    """The room of the sockets watching for new records: ``"pet:watch"``."""
    return f"{_check_resource(resource)}:watch"


def id_of(record: t.Any) -> t.Any:
    """The id of a record: ``record["id"]`` for a mapping, ``record.id`` for
    an object with that attribute, otherwise ``record`` itself (an id).
    """
    if isinstance(record, Mapping):
        if "id" not in record:
            raise ValueError("A record given as a mapping needs an 'id' key.")
        return record["id"]
    if isinstance(record, str | int):
        return record
    return getattr(record, "id", record)


def subscribe(request: SocketLike, resource: str, records: t.Any) -> bool:
    """Subscribe the socket of ``request`` to records of ``resource``: it
    gets their ``updated`` and ``destroyed`` notifications.

    Like Sails' ``Model.subscribe(req, ids)``, a no-op for an HTTP request.

    :param request: The request (or a :class:`~flask_sockreq.Socket`, or a
        socket id).
    :param resource: The resource name.
    :param records: A record or an id, or a list of them.
    :return: Whether a socket was subscribed.
    """
    return _each_room(request, resource, records, rooms.join)


def unsubscribe(request: SocketLike, resource: str, records: t.Any) -> bool:
    """Undo :func:`subscribe`; a no-op for an HTTP request.

    :return: Whether a socket was unsubscribed.
    """
    return _each_room(request, resource, records, rooms.leave)


def watch(request: SocketLike, resource: str) -> bool:
    """Have the socket of ``request`` notified of new records of
    ``resource`` (and subscribed to each, see :func:`publish_created`).

    A no-op for an HTTP request.

    :return: Whether a socket started watching.
    """
    target = _socket_target(request)
    if target is None:
        return False
    rooms.join(target, watch_room(resource))
    return True


def unwatch(request: SocketLike, resource: str) -> bool:
    """Undo :func:`watch`; a no-op for an HTTP request.

    :return: Whether a socket stopped watching.
    """
    target = _socket_target(request)
    if target is None:
        return False
    rooms.leave(target, watch_room(resource))
    return True


def publish_created(
    resource: str,
    record: t.Any,
    data: t.Any = None,
    *,
    skip: SocketLike | None = None,
) -> dict[str, t.Any]:
    """Tell the sockets watching ``resource`` that ``record`` was created,
    and subscribe them to it, as Sails does.

    :param resource: The resource name.
    :param record: The new record, or its id.
    :param data: The event's ``data``; by default ``record`` when it is a
        mapping.
    :param skip: A socket to leave out, usually ``request``.
    :return: The notification sent.
    """
    if data is None and isinstance(record, Mapping):
        data = dict(record)
    message = _message("created", record, data)
    rooms.broadcast(watch_room(resource), resource, message, skip=skip)
    rooms.add_room_members_to_rooms(
        watch_room(resource), [record_room(resource, record)]
    )
    return message


def publish_updated(
    resource: str,
    record: t.Any,
    data: t.Any = None,
    *,
    skip: SocketLike | None = None,
) -> dict[str, t.Any]:
    """Tell the sockets subscribed to ``record`` that it changed.

    :param record: The record, or its id.
    :param data: The event's ``data``, such as the changed fields.
    :param skip: A socket to leave out, usually ``request``.
    :return: The notification sent.
    """
    message = _message("updated", record, data)
    rooms.broadcast(record_room(resource, record), resource, message, skip=skip)
    return message


def publish_destroyed(
    resource: str,
    record: t.Any,
    data: t.Any = None,
    *,
    skip: SocketLike | None = None,
) -> dict[str, t.Any]:
    """Tell the sockets subscribed to ``record`` that it is gone, then
    unsubscribe them all.

    :param record: The record, or its id.
    :param data: The event's ``data``, such as the last state of the record.
    :param skip: A socket to leave out, usually ``request``.
    :return: The notification sent.
    """
    message = _message("destroyed", record, data)
    room = record_room(resource, record)
    rooms.broadcast(room, resource, message, skip=skip)
    rooms.leave_all(room)
    return message


def publish(
    resource: str,
    records: t.Any,
    data: t.Any,
    *,
    skip: SocketLike | None = None,
) -> None:
    """Send ``data`` as it is to the subscribers of ``records``, like Sails'
    ``Model.publish(ids, data, req)``: the event is named after the resource.

    :param records: A record or an id, or a list of them.
    """
    names = [record_room(resource, record) for record in _records(records)]
    rooms.broadcast(names, resource, data, skip=skip)


def _message(verb: str, record: t.Any, data: t.Any) -> dict[str, t.Any]:
    return {"verb": verb, "id": id_of(record), "data": data}


def _socket_target(request: SocketLike) -> SocketLike | None:
    if isinstance(request, str):
        return request
    return rooms.socket_of(request)


def _each_room(
    request: SocketLike,
    resource: str,
    records: t.Any,
    operation: t.Callable[[SocketLike, str], None],
) -> bool:
    target = _socket_target(request)
    if target is None:
        return False
    for record in _records(records):
        operation(target, record_room(resource, record))
    return True


def _records(records: t.Any) -> list[t.Any]:
    if isinstance(records, str | int | Mapping) or not isinstance(records, Iterable):
        return [records]
    return list(records)


def _check_resource(resource: t.Any) -> str:
    if not isinstance(resource, str) or not resource:
        raise TypeError(
            f"A resource name must be a non-empty string, not {resource!r}."
        )
    return resource
