"""Model auto-publish: Flask-SQLAlchemy on SQLite, real socket clients.

Each test builds its own app, database file and model classes, and watches
the events with the in-process socket test client; the last test commits in
one process and receives in another, through Redis.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import typing as t
import uuid

import pytest
import sqlalchemy as sa
from flask import Flask
from flask import request
from flask_socketio import SocketIO
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from flask_sockreq import SockReq
from flask_sockreq import subscribe
from flask_sockreq import watch
from flask_sockreq.sqla import autopublish
from flask_sockreq.sqla import AutoPublisher
from tests.helpers import call
from tests.helpers import Clients
from tests.helpers import ServerProcess
from tests.helpers import wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class TodoApp:
    """An app with a ``Todo`` model published as ``"todo"``, and its parts."""

    def __init__(self, database_uri: str, **options: t.Any) -> None:
        app = Flask(__name__)
        app.config.update(
            SECRET_KEY="not-a-secret",
            SQLALCHEMY_DATABASE_URI=database_uri,
            SOCKREQ_ACCESS_LOG=False,
        )
        db = SQLAlchemy(app)

        class List(db.Model):  # type: ignore[name-defined,misc]
            id: Mapped[int] = mapped_column(primary_key=True)
            name: Mapped[str] = mapped_column(default="")
            todos: Mapped[list[Todo]] = relationship(
                back_populates="list", cascade="all, delete-orphan"
            )

        class Todo(db.Model):  # type: ignore[name-defined,misc]
            id: Mapped[int] = mapped_column(primary_key=True)
            title: Mapped[str]
            done: Mapped[bool] = mapped_column(default=False)
            list_id: Mapped[int | None] = mapped_column(sa.ForeignKey("list.id"))
            list: Mapped[List | None] = relationship(back_populates="todos")

        socketio = SocketIO(app, async_mode="threading")
        self.sockreq = SockReq(app, socketio)
        self.publisher = self.sockreq.autopublish(Todo, resource="todo", **options)

        @app.get("/todos")
        def list_todos() -> t.Any:
            todos = db.session.scalars(sa.select(Todo).order_by(Todo.id)).all()
            subscribe(request, "todo", [todo.id for todo in todos])
            watch(request, "todo")
            return [columns(todo) for todo in todos]

        @app.post("/todos")
        def create_todo() -> t.Any:
            todo = Todo(**request.json)  # type: ignore[arg-type]
            db.session.add(todo)
            db.session.commit()
            return columns(todo), 201

        @app.patch("/todos/<int:todo_id>")
        def update_todo(todo_id: int) -> t.Any:
            todo = db.get_or_404(Todo, todo_id)
            for key, value in request.json.items():  # type: ignore[union-attr]
                setattr(todo, key, value)
            db.session.commit()
            return columns(todo)

        @app.delete("/todos/<int:todo_id>")
        def delete_todo(todo_id: int) -> t.Any:
            db.session.delete(db.get_or_404(Todo, todo_id))
            db.session.commit()
            return "", 204

        @app.post("/watch/<resource>")
        def watch_resource(resource: str) -> t.Any:
            return {"watching": watch(request, resource)}

        @app.post("/todos/abandoned")
        def abandoned() -> t.Any:
            db.session.add(Todo(title="never"))
            db.session.flush()
            db.session.rollback()
            return {"rolled_back": True}

        with app.app_context():
            db.create_all()
        self.app = app
        self.db = db
        self.Todo = Todo
        self.List = List

    def close(self) -> None:
        with self.app.app_context():
            self.db.engine.dispose()


def columns(todo: t.Any) -> dict[str, t.Any]:
    return {
        "id": todo.id,
        "title": todo.title,
        "done": todo.done,
        "list_id": todo.list_id,
    }


def events(client: t.Any, name: str = "todo") -> list[t.Any]:
    """The ``name`` events a test client received since the last call."""
    return [e["args"][0] for e in client.get_received() if e["name"] == name]


@pytest.fixture
def make_app(tmp_path: t.Any) -> t.Iterator[t.Callable[..., TodoApp]]:
    apps: list[TodoApp] = []

    def make(**options: t.Any) -> TodoApp:
        uri = f"sqlite:///{tmp_path / f'todos-{len(apps)}.db'}"
        apps.append(TodoApp(uri, **options))
        return apps[-1]

    yield make
    for todo_app in apps:
        todo_app.publisher.remove()
        todo_app.close()


@pytest.fixture
def todos(make_app: t.Callable[..., TodoApp]) -> TodoApp:
    return make_app()


@pytest.fixture
def watcher(todos: TodoApp) -> t.Iterator[t.Any]:
    """A socket that listed the todos: it watches the resource."""
    # Not "with client:", which, as Flask's, keeps the last request's context
    # pushed, and a commit in the test would seem to come from this socket.
    client = todos.sockreq.test_client(todos.app)
    try:
        assert client.get("/todos").status_code == 200
        client.get_received()
        yield client
    finally:
        client.disconnect()


def row(id: int, title: str, done: bool = False, list_id: int | None = None) -> t.Any:
    return {"id": id, "title": title, "done": done, "list_id": list_id}


# -- one event per committed change ------------------------------------------


def test_create_update_delete_over_http(todos: TodoApp, watcher: t.Any) -> None:
    http = todos.app.test_client()
    assert http.post("/todos", json={"title": "milk"}).status_code == 201
    assert events(watcher) == [{"verb": "created", "id": 1, "data": row(1, "milk")}]
    # The watcher was subscribed to the new record by publish_created.
    http.patch("/todos/1", json={"done": True})
    assert events(watcher) == [
        {"verb": "updated", "id": 1, "data": row(1, "milk", True)}
    ]
    assert http.delete("/todos/1").status_code == 204
    assert events(watcher) == [
        {"verb": "destroyed", "id": 1, "data": row(1, "milk", True)}
    ]


def test_the_requesting_socket_is_skipped(todos: TodoApp, watcher: t.Any) -> None:
    with todos.sockreq.test_client(todos.app) as writer:
        writer.get("/todos")
        writer.get_received()
        assert writer.post("/todos", json={"title": "eggs"}).status_code == 201
        writer.patch("/todos/1", json={"title": "ham"})
        writer.delete("/todos/1")
        assert events(writer) == []
    assert [e["verb"] for e in events(watcher)] == ["created", "updated", "destroyed"]


def test_the_requesting_socket_may_be_included(
    make_app: t.Callable[..., TodoApp],
) -> None:
    todos = make_app(skip_requester=False)
    with todos.sockreq.test_client(todos.app) as writer:
        writer.get("/todos")
        writer.get_received()
        writer.post("/todos", json={"title": "eggs"})
        assert events(writer) == [{"verb": "created", "id": 1, "data": row(1, "eggs")}]


def test_custom_serializer(make_app: t.Callable[..., TodoApp]) -> None:
    todos = make_app(serialize=lambda todo: {"label": todo.title.upper()})
    with todos.sockreq.test_client(todos.app) as client:
        client.get("/todos")
        todos.app.test_client().post("/todos", json={"title": "tea"})
        assert events(client) == [
            {"verb": "created", "id": 1, "data": {"label": "TEA"}}
        ]


# -- transactions ------------------------------------------------------------


def test_a_rolled_back_transaction_publishes_nothing(
    todos: TodoApp, watcher: t.Any
) -> None:
    assert todos.app.test_client().post("/todos/abandoned").json == {
        "rolled_back": True
    }
    with todos.app.app_context():
        todos.db.session.add(todos.Todo(title="also never"))
        todos.db.session.flush()
        # The app context ends without a commit: the session is closed.
    assert events(watcher) == []
    with todos.app.app_context():
        assert todos.db.session.scalars(sa.select(todos.Todo)).all() == []


def test_a_failed_flush_publishes_nothing(todos: TodoApp, watcher: t.Any) -> None:
    with todos.app.app_context():
        session = todos.db.session
        session.add(todos.Todo(title="kept"))
        session.commit()
        events(watcher)
        session.add(todos.Todo(title="first"))
        session.flush()
        session.add(todos.Todo(id=1, title="duplicate"))
        with pytest.raises(sa.exc.IntegrityError):
            session.flush()
        session.rollback()
        session.add(todos.Todo(title="after"))
        session.commit()
    assert events(watcher) == [{"verb": "created", "id": 2, "data": row(2, "after")}]


def test_several_flushes_publish_once_with_the_final_state(
    todos: TodoApp, watcher: t.Any
) -> None:
    with todos.app.app_context():
        session = todos.db.session
        todo = todos.Todo(title="draft")
        session.add(todo)
        session.flush()
        todo.title = "second draft"
        session.flush()
        todo.title = "final"
        session.commit()
        assert [e["verb"] for e in events(watcher)] == ["created"]
        todo.done = True
        session.flush()
        todo.title = "final, really"
        session.commit()
    assert events(watcher) == [
        {"verb": "updated", "id": 1, "data": row(1, "final, really", True)}
    ]


def test_created_then_final_state_not_a_middle_one(
    todos: TodoApp, watcher: t.Any
) -> None:
    with todos.app.app_context():
        todo = todos.Todo(title="draft")
        todos.db.session.add(todo)
        todos.db.session.flush()
        todo.title = "final"
        todos.db.session.commit()
    assert events(watcher) == [{"verb": "created", "id": 1, "data": row(1, "final")}]


def test_an_update_that_changes_nothing_publishes_nothing(
    todos: TodoApp, watcher: t.Any
) -> None:
    http = todos.app.test_client()
    http.post("/todos", json={"title": "same"})
    events(watcher)
    http.patch("/todos/1", json={"title": "same"})
    assert events(watcher) == []
    with todos.app.app_context():
        session = todos.db.session
        todo = session.get(todos.Todo, 1)
        todo.title = "changed"
        todo.title = "same"
        # A relationship collection changes: no column of the List row does,
        # the todo's list_id does.
        todo_list = todos.List(name="groceries")
        session.add(todo_list)
        session.commit()
        assert events(watcher) == []
        todo_list.todos.append(todo)
        session.commit()
    assert events(watcher) == [
        {"verb": "updated", "id": 1, "data": row(1, "same", False, 1)}
    ]


def test_created_and_deleted_in_one_transaction_publishes_nothing(
    todos: TodoApp, watcher: t.Any
) -> None:
    with todos.app.app_context():
        session = todos.db.session
        todo = todos.Todo(title="ephemeral")
        session.add(todo)
        session.flush()
        session.delete(todo)
        session.commit()
    assert events(watcher) == []


def test_updated_then_deleted_publishes_destroyed(
    todos: TodoApp, watcher: t.Any
) -> None:
    todos.app.test_client().post("/todos", json={"title": "old"})
    events(watcher)
    with todos.app.app_context():
        session = todos.db.session
        todo = session.get(todos.Todo, 1)
        todo.title = "renamed"
        session.flush()
        session.delete(todo)
        session.commit()
    assert events(watcher) == [
        {"verb": "destroyed", "id": 1, "data": row(1, "renamed")}
    ]


def test_deleted_then_inserted_again(todos: TodoApp, watcher: t.Any) -> None:
    todos.app.test_client().post("/todos", json={"title": "phoenix"})
    events(watcher)
    with todos.app.app_context():
        session = todos.db.session
        todo = session.get(todos.Todo, 1)
        session.delete(todo)
        session.flush()
        sa.orm.make_transient(todo)
        todo.title = "reborn"
        session.add(todo)
        session.commit()
    assert events(watcher) == [
        {"verb": "destroyed", "id": 1, "data": row(1, "phoenix")},
        {"verb": "created", "id": 1, "data": row(1, "reborn")},
    ]


def test_savepoints(todos: TodoApp, watcher: t.Any) -> None:
    with todos.app.app_context():
        session = todos.db.session
        kept = todos.Todo(title="kept")
        session.add(kept)
        session.flush()
        savepoint = session.begin_nested()
        session.add(todos.Todo(title="undone"))
        kept.title = "undone title"
        session.flush()
        savepoint.rollback()
        with session.begin_nested():
            session.add(todos.Todo(title="released"))
            with session.begin_nested():
                kept.done = True
        assert events(watcher) == []  # nothing before the commit
        session.commit()
    assert events(watcher) == [
        {"verb": "created", "id": 1, "data": row(1, "kept", True)},
        {"verb": "created", "id": 2, "data": row(2, "released")},
    ]


def test_deleting_an_expired_instance_sends_its_last_state(
    todos: TodoApp, watcher: t.Any
) -> None:
    with todos.app.app_context():
        session = todos.db.session
        todo = todos.Todo(title="stale")
        session.add(todo)
        session.commit()  # expires every attribute
        events(watcher)
        session.delete(todo)
        session.commit()
    assert events(watcher) == [{"verb": "destroyed", "id": 1, "data": row(1, "stale")}]


def test_cascaded_and_orphan_deletes_are_published(
    todos: TodoApp, watcher: t.Any
) -> None:
    with todos.app.app_context():
        session = todos.db.session
        todo_list = todos.List(
            todos=[todos.Todo(title="a"), todos.Todo(title="b"), todos.Todo(title="c")]
        )
        session.add(todo_list)
        session.commit()
        assert [e["verb"] for e in events(watcher)] == ["created"] * 3
        todo_list.todos.pop(0)  # delete-orphan
        session.commit()
        assert [(e["verb"], e["id"]) for e in events(watcher)] == [("destroyed", 1)]
        session.delete(todo_list)  # cascade
        session.commit()
    assert sorted((e["verb"], e["id"]) for e in events(watcher)) == [
        ("destroyed", 2),
        ("destroyed", 3),
    ]


# -- outside a request, and other apps ---------------------------------------


def test_a_commit_in_an_app_context_publishes(todos: TodoApp, watcher: t.Any) -> None:
    with todos.app.app_context():
        todos.db.session.add(todos.Todo(title="from a job"))
        todos.db.session.commit()
    assert events(watcher) == [
        {"verb": "created", "id": 1, "data": row(1, "from a job")}
    ]


def test_a_commit_outside_an_app_context_warns(
    todos: TodoApp, watcher: t.Any, caplog: pytest.LogCaptureFixture
) -> None:
    with todos.app.app_context():
        engine = todos.db.engine
    with sa.orm.Session(engine) as session:
        session.add(todos.Todo(title="plain"))
        with caplog.at_level(logging.WARNING, "flask_sockreq"):
            session.commit()  # does not raise: the transaction committed
    assert "outside an app context" in caplog.text
    assert events(watcher) == []


def test_an_app_of_another_sockreq_publishes_nothing(
    todos: TodoApp, watcher: t.Any, caplog: pytest.LogCaptureFixture
) -> None:
    todos.publisher.remove()
    assert not todos.publisher.active
    serialized: list[t.Any] = []
    other = autopublish(
        todos.Todo, resource="todo", sockreq=SockReq(), serialize=serialized.append
    )
    try:
        with caplog.at_level(logging.DEBUG, "flask_sockreq"):
            todos.app.test_client().post("/todos", json={"title": "unseen"})
        assert events(watcher) == []
        assert serialized == []  # not even recorded
        assert caplog.text == ""
    finally:
        other.remove()


def test_an_app_without_sockreq_warns(
    todos: TodoApp, caplog: pytest.LogCaptureFixture
) -> None:
    todos.publisher.remove()
    anywhere = autopublish(todos.Todo, resource="todo")
    with todos.app.app_context():
        engine = todos.db.engine
    try:
        with Flask(__name__).app_context(), sa.orm.Session(engine) as session:
            session.add(todos.Todo(title="nowhere"))
            with caplog.at_level(logging.WARNING, "flask_sockreq"):
                session.commit()
    finally:
        anywhere.remove()
    assert "has no SockReq" in caplog.text


def test_a_failed_publish_is_logged_not_raised(
    make_app: t.Callable[..., TodoApp], caplog: pytest.LogCaptureFixture
) -> None:
    todos = make_app(serialize=lambda todo: {"not json": object()})
    with todos.sockreq.test_client(todos.app) as client:
        client.get("/todos")
        with caplog.at_level(logging.ERROR, "flask_sockreq"):
            response = todos.app.test_client().post("/todos", json={"title": "x"})
        assert response.status_code == 201
        assert "Failed to publish 'todo' created 1" in caplog.text
        with todos.app.app_context():
            assert todos.db.session.get(todos.Todo, 1) is not None


# -- registration ------------------------------------------------------------


def test_registering_again_replaces(todos: TodoApp, watcher: t.Any) -> None:
    again = autopublish(
        todos.Todo,
        resource="todo",
        sockreq=todos.sockreq,
        serialize=lambda todo: todo.title,
    )
    assert not todos.publisher.active
    assert again.active
    todos.app.test_client().post("/todos", json={"title": "once"})
    assert events(watcher) == [{"verb": "created", "id": 1, "data": "once"}]
    again.remove()
    again.remove()
    todos.app.test_client().post("/todos", json={"title": "silent"})
    assert events(watcher) == []


def test_two_resources_for_one_model(todos: TodoApp, watcher: t.Any) -> None:
    tasks = autopublish(todos.Todo, resource="task", sockreq=todos.sockreq)
    try:
        with todos.sockreq.test_client(todos.app) as task_watcher:
            task_watcher.post("/watch/task")
            todos.app.test_client().post("/todos", json={"title": "both"})
            assert events(task_watcher, "task") == [
                {"verb": "created", "id": 1, "data": row(1, "both")}
            ]
        assert [e["verb"] for e in events(watcher)] == ["created"]
    finally:
        tasks.remove()


@pytest.mark.parametrize(
    ("target", "error", "message"),
    [
        (object, TypeError, "needs a mapped class"),
        ("Todo", TypeError, "needs a mapped class"),
    ],
)
def test_bad_models(target: t.Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        autopublish(target, resource="todo")


def test_bad_registrations(todos: TodoApp) -> None:
    with pytest.raises(TypeError, match="needs a mapped class"):
        autopublish(todos.Todo(title="x"), resource="todo")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="non-empty string"):
        autopublish(todos.Todo, resource="")

    class Pair(todos.db.Model):  # type: ignore[name-defined,misc]
        a: Mapped[int] = mapped_column(primary_key=True)
        b: Mapped[int] = mapped_column(primary_key=True)

    with pytest.raises(ValueError, match="one column, and 'Pair' has 2"):
        autopublish(Pair, resource="pair")
    assert repr(todos.publisher) == "<AutoPublisher Todo as 'todo'>"
    assert isinstance(todos.publisher, AutoPublisher)


def test_importing_flask_sockreq_does_not_import_sqlalchemy() -> None:
    code = "import sys, flask_sockreq; print('sqlalchemy' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.stdout.strip() == "False", result.stderr


# -- two processes sharing Redis ---------------------------------------------

#: Run in a process of its own: commit changes of "pet" records with a
#: SockReq whose SocketIO writes to the message queue, then exit.
COMMIT_SCRIPT = """
import sys
import sqlalchemy as sa
from flask import Flask
from flask_socketio import SocketIO
from flask_sqlalchemy import SQLAlchemy
from flask_sockreq import SockReq
from flask_sockreq.sqla import autopublish

queue, channel, uri, step = sys.argv[1:]
app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = uri
db = SQLAlchemy(app)


class Pet(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String)


socketio = SocketIO(app, async_mode="threading", message_queue=queue, channel=channel)
sockreq = SockReq(app, socketio)
autopublish(Pet, resource="pet", sockreq=sockreq)
with app.app_context():
    db.create_all()
    if step == "create":
        db.session.add(Pet(id=1000, name="Rex"))
    else:
        pet = db.session.get(Pet, 1000)
        pet.name = "Max"
        db.session.flush()
        db.session.commit()
        db.session.delete(pet)
    db.session.commit()
    db.engine.dispose()
"""


def test_two_processes_share_the_queue(tmp_path: t.Any, clients: Clients) -> None:
    from tests.test_rooms import Inbox
    from tests.test_scaleout import _require_redis
    from tests.test_scaleout import RedisServer

    _require_redis()
    import redis

    queue = RedisServer()
    queue.start()
    channel = f"sockreq-test-{uuid.uuid4().hex[:8]}"
    server = ServerProcess(
        "threading",
        "--message-queue",
        queue.url,
        "--channel",
        channel,
        "--no-access-log",
    )
    try:
        server.wait_ready()
        client = clients.connect(server)
        inbox = Inbox(client)
        assert call(client, "get", "/pets")["statusCode"] == 200
        assert call(client, "get", "/pets/1000")["statusCode"] == 200
        # The server hears the queue once a listener subscribes: wait for it
        # rather than publish into the void.
        listener = redis.Redis.from_url(queue.url)
        try:
            assert wait_until(
                lambda: all(
                    count
                    for _, count in listener.pubsub_numsub(
                        channel, f"{channel}.sockreq"
                    )
                )
            ), "the server did not subscribe to the queue"
        finally:
            listener.close()
        uri = f"sqlite:///{tmp_path / 'pets.db'}"
        for step in ("create", "change"):
            subprocess.run(
                [sys.executable, "-c", COMMIT_SCRIPT, queue.url, channel, uri, step],
                cwd=ROOT,
                check=True,
                timeout=60,
                capture_output=True,
            )
        received = [inbox.wait("pet") for _ in range(3)]
        assert received == [
            {"verb": "created", "id": 1000, "data": {"id": 1000, "name": "Rex"}},
            {"verb": "updated", "id": 1000, "data": {"id": 1000, "name": "Max"}},
            {"verb": "destroyed", "id": 1000, "data": {"id": 1000, "name": "Max"}},
        ]
    finally:
        server.stop()
        queue.stop()
