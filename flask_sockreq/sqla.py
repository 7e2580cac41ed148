"""Publish a model's changes when they are committed: Flask-SQLAlchemy (or
plain SQLAlchemy) models as resources, with no publishing code in the views.

.. code-block:: python

    db = SQLAlchemy(app)
    sockreq = SockReq(app, socketio)

    class Todo(db.Model):
        id = db.mapped_column(db.Integer, primary_key=True)
        title = db.mapped_column(db.String)

    sockreq.autopublish(Todo, resource="todo")

    @app.get("/todos")
    def list_todos():
        todos = db.session.scalars(db.select(Todo)).all()
        subscribe(request, "todo", [todo.id for todo in todos])
        watch(request, "todo")
        return [{"id": todo.id, "title": todo.title} for todo in todos]

    @app.post("/todos")
    def create_todo():
        todo = Todo(title=request.json["title"])
        db.session.add(todo)
        db.session.commit()  # publishes {"verb": "created", "id": ..., "data": ...}
        return {"id": todo.id, "title": todo.title}, 201

After a transaction commits, each instance of the model it inserted, updated
or deleted is published once, with its state at the commit:
:func:`~flask_sockreq.publish_created`, :func:`~flask_sockreq.publish_updated`
or :func:`~flask_sockreq.publish_destroyed`. Like every publish, the events
reach every server process through the message queue.

- A rolled-back transaction, or savepoint, publishes nothing; changes made
  inside a savepoint that is released count as the enclosing transaction's.
- Several flushes of one instance in a transaction publish once, with the
  final state; a created instance that is also updated is ``created``.
- An update that changes no column publishes nothing. Nor does a change to a
  relationship collection alone (its rows' own changes publish, if their
  model is published).
- An instance created and deleted in the same transaction publishes nothing:
  no other socket ever saw it.
- Bulk statements (``db.session.execute(update(Todo)...)``) and Core
  statements do not go through the ORM's unit of work and are not published.

The record id is the instance's primary key, which must be a single column;
subscribe sockets by that id. ``data`` is what ``serialize`` returns, by
default a mapping of the column attributes, encoded by the app's JSON
provider (Flask-SocketIO's default). The instance is serialized at the end of
each flush (for a delete, just before its ``DELETE``), while the session can
still load attributes, so ``serialize`` may follow relationships.

Publishing needs an app context of an app with :class:`~flask_sockreq.SockReq`:
Flask-SQLAlchemy's session needs one anyway, so a commit in a view, a CLI
command or a job inside ``with app.app_context():`` publishes. A commit
outside any app context (a plain SQLAlchemy session) logs a warning and
publishes nothing. An error while publishing is logged, not raised: the
transaction has committed already.

This module imports SQLAlchemy; ``import flask_sockreq`` does not.
"""

from __future__ import annotations

import logging
import typing as t
import weakref

import sqlalchemy as sa
from flask import current_app
from flask import has_app_context
from flask import has_request_context
from flask import request
from sqlalchemy import event
from sqlalchemy.orm import Mapper
from sqlalchemy.orm import object_session
from sqlalchemy.orm import Session

from .resources import publish_created
from .resources import publish_destroyed
from .resources import publish_updated

if t.TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy.orm import InstanceState
    from sqlalchemy.orm import SessionTransaction

    from .extension import SockReq

logger = logging.getLogger("flask_sockreq")

#: Where a session's uncommitted changes live, in ``Session.info``.
_INFO_KEY = "flask_sockreq.autopublish"

#: The publishers of each mapped class, and its event listeners.
_registries: weakref.WeakKeyDictionary[Mapper[t.Any], _MapperRegistry] = (
    weakref.WeakKeyDictionary()
)

_PUBLISH = {
    "created": publish_created,
    "updated": publish_updated,
    "destroyed": publish_destroyed,
}


def autopublish(
    model: type[t.Any],
    *,
    resource: str,
    serialize: t.Callable[[t.Any], t.Any] | None = None,
    skip_requester: bool = True,
    sockreq: SockReq | None = None,
) -> AutoPublisher:
    """Publish the committed changes of ``model``'s instances as
    ``resource`` notifications: ``created``, ``updated`` and ``destroyed``.

    Call it once, where the model or the app is set up; calling it again for
    the same model, resource and ``sockreq`` (an app factory run for each
    test) replaces the earlier registration instead of publishing twice.
    Subclasses of ``model`` (mapped inheritance) are published too.

    :param model: A mapped class, such as a ``db.Model`` subclass, with a
        single-column primary key.
    :param resource: The resource name, such as ``"todo"``.
    :param serialize: Turns an instance into the event's ``data``; by
        default ``{column attribute: value}``.
    :param skip_requester: Leave out the socket whose request committed the
        change, as Sails' blueprint actions do (it has its answer already).
        False sends it the event too. Changes committed over HTTP or outside
        a request reach every subscriber either way.
    :param sockreq: Publish only for apps set up with this
        :class:`~flask_sockreq.SockReq`; by default for any app with one.
        :meth:`SockReq.autopublish` passes itself.
    :return: The registration; call its :meth:`~AutoPublisher.remove` to stop.
    :raise TypeError: If ``model`` is not a mapped class.
    :raise ValueError: If its primary key has several columns.
    """
    publisher = AutoPublisher(
        model,
        resource=resource,
        serialize=serialize,
        skip_requester=skip_requester,
        sockreq=sockreq,
    )
    publisher._register()
    return publisher


class AutoPublisher:
    """The registration :func:`autopublish` returns, for one model and
    resource."""

    def __init__(
        self,
        model: type[t.Any],
        *,
        resource: str,
        serialize: t.Callable[[t.Any], t.Any] | None = None,
        skip_requester: bool = True,
        sockreq: SockReq | None = None,
    ) -> None:
        mapper = sa.inspect(model, raiseerr=False) if isinstance(model, type) else None
        if not isinstance(mapper, Mapper):
            raise TypeError(
                "autopublish() needs a mapped class, such as a 'db.Model'"
                f" subclass, not {model!r}."
            )
        if len(mapper.primary_key) != 1:
            raise ValueError(
                f"autopublish() needs a model whose primary key is one column,"
                f" and {model.__name__!r} has {len(mapper.primary_key)}: a"
                " record is published under one id."
            )
        if not isinstance(resource, str) or not resource:
            raise TypeError(
                f"A resource name must be a non-empty string, not {resource!r}."
            )
        #: The mapped class.
        self.model = model
        #: The resource name of the events.
        self.resource = resource
        #: Whether the requesting socket is left out.
        self.skip_requester = skip_requester
        #: The :class:`~flask_sockreq.SockReq` it publishes for, or None.
        self.sockreq = sockreq
        self._serialize = serialize
        self._mapper: Mapper[t.Any] = mapper

    @property
    def active(self) -> bool:
        """Whether the registration is in force: not removed, not replaced."""
        registry = _registries.get(self._mapper)
        return registry is not None and registry.publishers.get(self._key) is self

    def remove(self) -> None:
        """Stop publishing; changes not committed yet are not published."""
        if self.active:
            del _registries[self._mapper].publishers[self._key]

    def serialize(self, instance: t.Any) -> t.Any:
        """The ``data`` of an event about ``instance``."""
        if self._serialize is not None:
            return self._serialize(instance)
        mapper = sa.inspect(instance).mapper
        return {attr.key: getattr(instance, attr.key) for attr in mapper.column_attrs}

    def __repr__(self) -> str:
        return f"<AutoPublisher {self.model.__name__} as {self.resource!r}>"

    def _may_serve_current_app(self) -> bool:
        # An app factory run per test registers a new SockReq each time: the
        # registrations of the earlier ones neither record nor serialize.
        if self.sockreq is None or not has_app_context():
            return True
        state = current_app.extensions.get("sockreq")
        return state is not None and state.extension is self.sockreq

    @property
    def _key(self) -> tuple[str, int]:
        return (self.resource, id(self.sockreq))

    def _register(self) -> None:
        _install_session_events()
        registry = _registries.get(self._mapper)
        if registry is None:
            registry = _registries[self._mapper] = _MapperRegistry(self._mapper)
        registry.publishers[self._key] = self


class _MapperRegistry:
    """The publishers of one mapped class and its mapper event listeners."""

    def __init__(self, mapper: Mapper[t.Any]) -> None:
        self.publishers: dict[tuple[str, int], AutoPublisher] = {}
        cls = mapper.class_
        event.listen(cls, "after_insert", self._after_insert, propagate=True)
        event.listen(cls, "after_update", self._after_update, propagate=True)
        event.listen(cls, "before_delete", self._before_delete, propagate=True)

    def _after_insert(self, mapper: Mapper[t.Any], conn: t.Any, target: t.Any) -> None:
        for publisher in list(self.publishers.values()):
            _record(publisher, "created", target)

    def _after_update(self, mapper: Mapper[t.Any], conn: t.Any, target: t.Any) -> None:
        # Fired for every dirty instance, also one whose UPDATE was skipped
        # because no column changed (a relationship collection did).
        state = sa.inspect(target)
        if not any(
            state.attrs[attr.key].history.has_changes()
            for attr in state.mapper.column_attrs
        ):
            return
        for publisher in list(self.publishers.values()):
            _record(publisher, "updated", target)

    def _before_delete(self, mapper: Mapper[t.Any], conn: t.Any, target: t.Any) -> None:
        # Serialized before its DELETE, while its attributes can still load.
        for publisher in list(self.publishers.values()):
            _record(publisher, "destroyed", target)


class _Change:
    __slots__ = ("publisher", "verb", "instance", "id", "data")

    def __init__(
        self,
        publisher: AutoPublisher,
        verb: str,
        instance: t.Any,
        id: t.Any = None,
        data: t.Any = None,
    ) -> None:
        self.publisher = publisher
        self.verb = verb
        self.instance = instance
        self.id = id
        self.data = data


_Key: t.TypeAlias = "tuple[AutoPublisher, InstanceState[t.Any]] | tuple[t.Any, ...]"


class _Pending:
    """A session's changes not committed yet: one layer per transaction and
    savepoint, the changes to serialize at the end of the current flush."""

    def __init__(self) -> None:
        self.layers: dict[SessionTransaction, dict[_Key, _Change]] = {}
        self.unserialized: dict[_Key, None] = {}

    @staticmethod
    def of(session: Session) -> _Pending:
        pending = session.info.get(_INFO_KEY)
        if pending is None:
            pending = session.info[_INFO_KEY] = _Pending()
        return t.cast(_Pending, pending)


def _record(publisher: AutoPublisher, verb: str, target: t.Any) -> None:
    session = object_session(target)
    if session is None or not publisher._may_serve_current_app():
        return
    pending = _Pending.of(session)
    layer = pending.layers.setdefault(_innermost(session), {})
    state = sa.inspect(target)
    key = (publisher, state)
    change = _Change(publisher, verb, target)
    if verb == "destroyed":
        change.id = state.identity[0] if state.identity else None
        change.data = publisher.serialize(target)
        pending.unserialized.pop(key, None)
    else:
        pending.unserialized[key] = None
    _merge(layer, key, change)


def _merge(layer: dict[_Key, _Change], key: _Key, change: _Change) -> None:
    """Fold a later change of an instance into its earlier one."""
    previous = layer.get(key)
    if previous is None:
        layer[key] = change
    elif previous.verb == "created":
        if change.verb == "destroyed":
            del layer[key]  # never seen by anyone else
        else:
            change.verb = "created"
            layer[key] = change
    elif previous.verb == "destroyed" and change.verb == "created":
        # The same object deleted, made transient and inserted again: keep
        # both, in that order.
        del layer[key]
        layer[key + (object(),)] = previous
        layer[key] = change
    else:
        layer[key] = change


def _innermost(session: Session) -> SessionTransaction:
    transaction = session.get_nested_transaction() or session.get_transaction()
    assert transaction is not None  # flush and commit events run in one
    return transaction


def _layer_owner(transaction: SessionTransaction) -> SessionTransaction:
    # The savepoint or root transaction that a (sub)transaction belongs to.
    while not transaction.nested and transaction.parent is not None:
        transaction = transaction.parent
    return transaction


def _install_session_events() -> None:
    # Once per process, for every session: the listeners return at once for
    # a session without changes of a published model.
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_flush_postexec", _after_flush_postexec)
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_transaction_end", _after_transaction_end)


def _after_flush_postexec(session: Session, flush_context: t.Any) -> None:
    pending: _Pending | None = session.info.get(_INFO_KEY)
    if pending is None or not pending.unserialized:
        return
    layer = pending.layers.get(_innermost(session), {})
    keys, pending.unserialized = pending.unserialized, {}
    for key in keys:
        change = layer.get(key)
        if change is not None and change.verb != "destroyed":
            identity = sa.inspect(change.instance).identity
            change.id = identity[0] if identity else None
            change.data = change.publisher.serialize(change.instance)


def _after_commit(session: Session) -> None:
    pending: _Pending | None = session.info.get(_INFO_KEY)
    if pending is None:
        return
    transaction = _innermost(session)
    layer = pending.layers.pop(transaction, None)
    if not layer:
        return
    parent = transaction.parent
    if transaction.nested and parent is not None:
        # A released savepoint: its changes are the enclosing transaction's.
        outer = pending.layers.setdefault(_layer_owner(parent), {})
        for key, change in layer.items():
            _merge(outer, key, change)
        return
    _publish(list(layer.values()))


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # Rolled back, closed, or committed (its layer is gone already).
    pending: _Pending | None = session.info.get(_INFO_KEY)
    if pending is not None:
        pending.layers.pop(transaction, None)
        pending.unserialized.clear()


def _publish(changes: list[_Change]) -> None:
    if not has_app_context():
        logger.warning(
            "Did not publish %d committed change(s) of %s: the commit happened"
            " outside an app context. Commit inside 'with app.app_context():'.",
            len(changes),
            ", ".join(sorted({repr(c.publisher.resource) for c in changes})),
        )
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    state = app.extensions.get("sockreq")
    requester = None
    if has_request_context():
        requester = request._get_current_object()  # type: ignore[attr-defined]
    for change in changes:
        publisher = change.publisher
        if not publisher.active:
            continue
        if state is None and publisher.sockreq is None:
            logger.warning(
                "Did not publish a %r change: the app %r has no SockReq.",
                publisher.resource,
                app.name,
            )
            continue
        if state is None or (
            publisher.sockreq is not None and state.extension is not publisher.sockreq
        ):
            # Models shared with an app the registering SockReq does not serve.
            continue
        skip = requester if publisher.skip_requester else None
        try:
            _PUBLISH[change.verb](publisher.resource, change.id, change.data, skip=skip)
        except Exception:
            logger.exception(
                "Failed to publish %r %s %r after the commit.",
                publisher.resource,
                change.verb,
                change.id,
            )
