"""A collaborative todo list: one set of Flask views, served over HTTP and
over Socket.IO, with its todos in SQLite.

The page loads and changes the list through ``client.fetch`` (a socket) or
``window.fetch`` (plain HTTP), at the flip of a switch; either way every other
open tab sees the change live, and so do changes made with curl::

    curl -X POST -H 'Content-Type: application/json' \\
        -d '{"title": "Sent with curl"}' http://127.0.0.1:5000/todos
    curl -F file=@notes.txt http://127.0.0.1:5000/todos/1/attachment

A todo can carry one attached file, uploaded with a progress bar and
downloaded back as a stream, over the socket as over HTTP.

The views hold no publishing code: ``sockreq.autopublish`` tells the sockets
of every change to a ``Todo`` once its transaction commits. The todos live in
``todos.sqlite3`` and the files in ``attachments/``, both in the app's
instance folder (``instance/`` next to this file), created on first start.

Run it with eventlet (``python example_app.py``) or with Flask's development
server (``flask --app example_app run``), then open http://127.0.0.1:5000/.
It needs Flask-SQLAlchemy: ``pip install -e '.[eventlet,sqlalchemy]'``.

``SOCKETIO_JS`` says where the page loads socket.io-client 4 from: a URL (a
CDN by default), or the path of a local copy of ``socket.io.min.js``, which
the app then serves itself. ``PORT`` sets the port of ``python
example_app.py``.
"""

# No "from __future__ import annotations": SQLAlchemy reads the model's
# Mapped[...] annotations when the class is made, and would have to resolve
# strings through sys.modules, where a script run by another tool (python -m
# cProfile example_app.py) is not.

if __name__ == "__main__":
    # eventlet patches the standard library before anything else imports it.
    import eventlet

    eventlet.monkey_patch()

import contextlib
import hashlib
import os
import tempfile
import threading
import typing as t

import sqlalchemy as sa
from flask import abort
from flask import Flask
from flask import jsonify
from flask import render_template_string
from flask import request
from flask import send_file
from flask import send_from_directory
from flask import url_for
from flask_socketio import SocketIO
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import RequestEntityTooLarge

from flask_sockreq import SockReq
from flask_sockreq import subscribe
from flask_sockreq import watch

try:
    from flask_sqlalchemy import SQLAlchemy
except ImportError:  # pragma: no cover
    raise SystemExit(
        "example_app.py keeps its todos in SQLite through Flask-SQLAlchemy,"
        " which is not installed: pip install -e '.[eventlet,sqlalchemy]'."
    ) from None

SOCKETIO_JS = "https://cdn.socket.io/4.8.1/socket.io.min.js"
#: The largest request body, so the largest attachment: 50 MB.
MAX_CONTENT_LENGTH = 50 * 1000 * 1000
#: The todos of a new database.
FIRST_TODOS = ("Serve one API over HTTP and sockets", "Open this page twice")
#: How much of an uploaded file is copied at a time.
COPY_SIZE = 64 * 1024

# eventlet when run as a script (patched above); under ``flask run`` the
# threading mode, which SocketIO would not choose itself with eventlet installed.
ASYNC_MODE = "eventlet" if __name__ == "__main__" else "threading"
sockreq = SockReq()
db = SQLAlchemy()


class Todo(db.Model):  # type: ignore[name-defined,misc]
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    done: Mapped[bool] = mapped_column(default=False)
    # The attached file, stored as UPLOAD_FOLDER/<id>; NULL when there is none.
    file_name: Mapped[str | None] = mapped_column(sa.String(200))
    file_size: Mapped[int | None]
    file_type: Mapped[str | None] = mapped_column(sa.String(200))
    file_sha256: Mapped[str | None] = mapped_column(sa.String(64))

    def to_json(self) -> dict[str, t.Any]:
        attachment = None
        if self.file_name is not None:
            attachment = {
                "name": self.file_name,
                "size": self.file_size,
                "type": self.file_type,
                "sha256": self.file_sha256,
            }
        return {
            "id": self.id,
            "title": self.title,
            "done": self.done,
            "attachment": attachment,
        }


# Every committed insert, update and delete of a Todo reaches the sockets
# subscribed to it (those that listed the todos), except the socket whose
# request made it: that one has its answer.
sockreq.autopublish(Todo, resource="todo", serialize=Todo.to_json)

# Keeps a todo's file and its row in step when two uploads to it race.
_attach_lock = threading.Lock()


def _changes(data: t.Any, *, partial: bool) -> dict[str, t.Any]:
    if not isinstance(data, dict):
        abort(400, 'Send a JSON object, such as {"title": "Buy milk"}.')
    changes: dict[str, t.Any] = {}
    if "title" in data or not partial:
        title = data.get("title")
        if not isinstance(title, str) or not title.strip():
            abort(400, "A todo needs a non-empty 'title' string.")
        changes["title"] = title.strip()[:200]
    if "done" in data:
        if not isinstance(data["done"], bool):
            abort(400, "'done' must be true or false.")
        changes["done"] = data["done"]
    if not changes:
        abort(400, "Nothing to change: send 'title' or 'done'.")
    return changes


def _get_todo(todo_id: int) -> Todo:
    todo = db.session.get(Todo, todo_id)
    if todo is None:
        abort(404, f"There is no todo {todo_id}.")
    return todo


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:g} MB"


def create_app(config: dict[str, t.Any] | None = None) -> Flask:
    """Build the example app. ``flask --app example_app`` calls it too.

    :param config: Config to set before the extensions are initialised,
        such as ``SQLALCHEMY_DATABASE_URI`` and ``UPLOAD_FOLDER`` for a
        database and files somewhere else than the instance folder.
    """
    # The instance folder next to this file, however it is started (run as a
    # script, Flask would put it in the working directory).
    here = os.path.dirname(os.path.abspath(__file__))
    app = Flask(__name__, instance_path=os.path.join(here, "instance"))
    app.config.update(
        SOCKETIO_JS=os.environ.get("SOCKETIO_JS", SOCKETIO_JS),
        MAX_CONTENT_LENGTH=MAX_CONTENT_LENGTH,
        # Flask-SQLAlchemy puts a relative SQLite path in the instance
        # folder, and creates the folder.
        SQLALCHEMY_DATABASE_URI="sqlite:///todos.sqlite3",
        UPLOAD_FOLDER=os.path.join(app.instance_path, "attachments"),
    )
    app.config.update(config or {})
    upload_folder = app.config["UPLOAD_FOLDER"]
    os.makedirs(upload_folder, exist_ok=True)

    def file_path(todo_id: int) -> str:
        return os.path.join(upload_folder, str(todo_id))

    # SOCKETIO_JS may name a local copy of socket.io.min.js: serve it.
    socketio_js = app.config["SOCKETIO_JS"]
    if os.path.isfile(socketio_js):
        folder, name = os.path.split(os.path.abspath(socketio_js))

        @app.get("/vendor/socket.io.min.js")
        def socketio_client() -> t.Any:
            return send_from_directory(folder, name, mimetype="text/javascript")

    @app.get("/")
    def index() -> str:
        url = socketio_js
        if "socketio_client" in app.view_functions:
            url = url_for("socketio_client")
        return render_template_string(
            PAGE,
            socketio_js=url,
            max_upload=_megabytes(app.config["MAX_CONTENT_LENGTH"]),
        )

    @app.get("/todos")
    def list_todos() -> t.Any:
        todos = db.session.scalars(sa.select(Todo).order_by(Todo.id)).all()
        # Over a socket, stay told of changes; over HTTP these do nothing.
        subscribe(request, "todo", todos)
        watch(request, "todo")
        return jsonify([todo.to_json() for todo in todos])

    @app.post("/todos")
    def create_todo() -> t.Any:
        todo = Todo(**_changes(request.get_json(silent=True), partial=False))
        db.session.add(todo)
        db.session.commit()
        return jsonify(todo.to_json()), 201

    @app.patch("/todos/<int:todo_id>")
    def update_todo(todo_id: int) -> t.Any:
        changes = _changes(request.get_json(silent=True), partial=True)
        todo = _get_todo(todo_id)
        for name, value in changes.items():
            setattr(todo, name, value)
        db.session.commit()
        return jsonify(todo.to_json())

    @app.delete("/todos/<int:todo_id>")
    def delete_todo(todo_id: int) -> t.Any:
        db.session.delete(_get_todo(todo_id))
        db.session.commit()
        with contextlib.suppress(FileNotFoundError):
            os.remove(file_path(todo_id))
        return "", 204

    @app.post("/todos/<int:todo_id>/attachment")
    def attach_file(todo_id: int) -> t.Any:
        todo = _get_todo(todo_id)
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            abort(
                400, "Send the file as the 'file' field of a multipart/form-data body."
            )
        # Werkzeug has spooled a large file to a temporary file as it came
        # in: copy it into the upload folder a piece at a time, hashing it.
        digest = hashlib.sha256()
        size = 0
        with tempfile.NamedTemporaryFile(
            dir=upload_folder, prefix=f"{todo_id}.", suffix=".part", delete=False
        ) as part:
            try:
                while piece := upload.stream.read(COPY_SIZE):
                    digest.update(piece)
                    size += len(piece)
                    part.write(piece)
            except BaseException:
                part.close()
                os.remove(part.name)
                raise
        with _attach_lock:
            os.replace(part.name, file_path(todo_id))
            todo.file_name = os.path.basename(upload.filename.replace("\\", "/"))[:200]
            todo.file_size = size
            todo.file_type = (upload.mimetype or "application/octet-stream")[:200]
            todo.file_sha256 = digest.hexdigest()
            db.session.commit()
        return jsonify(todo.to_json())

    @app.get("/todos/<int:todo_id>/attachment")
    def download_file(todo_id: int) -> t.Any:
        todo = _get_todo(todo_id)
        if todo.file_name is None:
            abort(404, f"Todo {todo_id} has no attachment.")
        response = send_file(
            file_path(todo_id),
            mimetype=todo.file_type,
            as_attachment=True,
            download_name=todo.file_name,
        )
        # The type is the uploader's word: never let a browser render it.
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @app.errorhandler(HTTPException)
    def json_error(error: HTTPException) -> t.Any:
        if request.path == "/":
            return error
        message = error.description
        if (
            isinstance(error, RequestEntityTooLarge)
            and request.endpoint == "attach_file"
        ):
            limit = _megabytes(app.config["MAX_CONTENT_LENGTH"])
            message = f"That file is too large: an attachment can be at most {limit}."
        return jsonify(error=error.name, message=message), error.code

    db.init_app(app)
    sockreq.init_app(app, SocketIO(app, async_mode=ASYNC_MODE))
    with app.app_context():
        new = not sa.inspect(db.engine).has_table(Todo.__tablename__)
        db.create_all()
        if new:
            db.session.add_all(Todo(title=title) for title in FIRST_TODOS)
            db.session.commit()
    return app


PAGE = """<!doctype html>
<html lang="en">
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Todos · Flask-SockReq</title>
<link rel="icon" href="data:,">
<style>
  :root { --ink: #1d2330; --muted: #6b7385; --line: #e3e6ee; --accent: #3b5bdb;
          --ok: #2b8a3e; --warn: #e67700; --bad: #c92a2a; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
         color: var(--ink); background: #f4f6fb; }
  main { max-width: 40rem; margin: 2.5rem auto; padding: 0 1rem; }
  header { display: flex; align-items: center; justify-content: space-between;
           gap: 1rem; flex-wrap: wrap; }
  h1 { font-size: 1.6rem; margin: 0; }
  h1 small { color: var(--muted); font-weight: 400; font-size: .95rem; }
  .pill { display: inline-flex; align-items: center; gap: .4rem; padding: .2rem .7rem;
          border-radius: 99px; background: white; border: 1px solid var(--line);
          font-size: .85rem; }
  .pill::before { content: ""; width: .55rem; height: .55rem; border-radius: 50%;
                  background: var(--warn); }
  .pill[data-state="live"]::before { background: var(--ok); }
  .pill[data-state="reconnecting"]::before, .pill[data-state="http-only"]::before {
    background: var(--bad); }
  .notice { margin: 1.2rem 0 0; padding: .8rem 1rem; border: 1px solid #ffc9c9;
            border-radius: 12px; background: #fff5f5; font-size: .92rem; }
  .notice code { font-size: .85rem; background: #ffe3e3; padding: 0 .25rem; border-radius: 4px;
                 overflow-wrap: anywhere; }
  .card { background: white; border: 1px solid var(--line); border-radius: 12px;
          box-shadow: 0 1px 2px rgba(20, 30, 60, .05); margin-top: 1.2rem; }
  .bar { display: flex; justify-content: space-between; align-items: center; gap: .5rem;
         flex-wrap: wrap; padding: .8rem; border-bottom: 1px solid var(--line); }
  .transport { display: flex; gap: .3rem; padding: .3rem; background: #eceff6;
               border-radius: 9px; }
  .transport button { border: 0; background: none; padding: .35rem .8rem;
                      border-radius: 7px; font: inherit; font-size: .9rem;
                      color: var(--muted); cursor: pointer; }
  .transport button[aria-pressed="true"] { background: white; color: var(--ink);
                                           box-shadow: 0 1px 2px rgba(0,0,0,.08); }
  .transport button:disabled { cursor: not-allowed; text-decoration: line-through; }
  form { display: flex; gap: .5rem; padding: .8rem; border-bottom: 1px solid var(--line); }
  form input { flex: 1; font: inherit; padding: .55rem .7rem; border: 1px solid var(--line);
               border-radius: 8px; }
  form button, .delete { font: inherit; border: 0; border-radius: 8px; cursor: pointer; }
  form button { background: var(--accent); color: white; padding: .55rem 1rem; }
  ul { list-style: none; margin: 0; padding: 0; }
  li { display: flex; align-items: center; gap: .7rem; padding: .65rem .9rem;
       border-bottom: 1px solid var(--line); }
  li:last-child { border-bottom: 0; }
  li .body { flex: 1; min-width: 0; }
  li.done .title { color: var(--muted); text-decoration: line-through; }
  li.fresh { animation: flash 1.2s ease-out; }
  @keyframes flash { from { background: #fff3bf; } to { background: white; } }
  .file { font-size: .85rem; color: var(--muted); overflow-wrap: anywhere; }
  .file a { color: var(--accent); }
  .transfer { display: flex; align-items: center; gap: .5rem; font-size: .8rem;
              color: var(--muted); }
  .transfer progress { flex: 1; max-width: 14rem; height: .45rem; accent-color: var(--accent); }
  .transfer.done progress { accent-color: var(--ok); }
  .attach, .delete { color: var(--muted); background: none; display: inline-flex;
                     padding: .15rem .3rem; border-radius: 6px; cursor: pointer; }
  .attach:hover { color: var(--accent); }
  .attach:focus-within { outline: 2px solid var(--accent); }
  .attach input { position: absolute; width: 1px; height: 1px; opacity: 0; }
  .attach svg { width: 1.1rem; height: 1.1rem; }
  .delete { font-size: 1.2rem; line-height: 1; }
  .delete:hover { color: var(--bad); }
  .empty { padding: 1rem; color: var(--muted); text-align: center; }
  #log { font: 13px/1.5 ui-monospace, SFMono-Regular, Menlo, monospace; padding: .6rem .9rem;
         color: var(--muted); max-height: 10rem; overflow: auto; }
  #log div span { display: inline-block; min-width: 4.2rem; }
  #log .socket { color: var(--accent); }
  #log .http { color: var(--warn); }
  #log .push { color: var(--ok); }
  #error { color: var(--bad); margin: 0; padding: .5rem .9rem; border-bottom: 1px solid var(--line); }
  #error:empty { display: none; }
  footer { color: var(--muted); font-size: .85rem; margin-top: 1rem; }
  footer code { overflow-wrap: anywhere; }
</style>
<main>
  <header>
    <h1>Todos <small>one API, two transports</small></h1>
    <span id="state" class="pill" data-state="connecting">connecting</span>
  </header>
  <div id="notice" class="notice" role="alert" hidden>
    <strong>No socket, no live updates.</strong> socket.io-client could not be loaded
    from <code>{{ socketio_js }}</code>, so this page sends its requests over HTTP and
    shows changes made elsewhere only when reloaded. To fix it, set <code>SOCKETIO_JS</code>
    to a local copy of <code>socket.io.min.js</code> (or to a URL that serves one) and
    restart: after <code>npm install socket.io-client</code>,
    <code>SOCKETIO_JS=node_modules/socket.io-client/dist/socket.io.min.js python example_app.py</code>.
  </div>
  <section class="card">
    <div class="bar">
      <span>Requests go over</span>
      <div class="transport" role="group" aria-label="Transport">
        <button id="use-socket" aria-pressed="true">client.fetch · socket</button>
        <button id="use-http" aria-pressed="false">window.fetch · HTTP</button>
      </div>
    </div>
    <form id="add">
      <input id="title" name="title" placeholder="What needs doing?" autocomplete="off"
             aria-label="New todo" required>
      <button>Add</button>
    </form>
    <p id="error" role="alert"></p>
    <ul id="todos"></ul>
  </section>
  <section class="card">
    <div id="log" aria-live="polite"></div>
  </section>
  <footer>Open this page in two tabs, or <code>curl -X POST -H 'Content-Type: application/json'
    -d '{"title": "from curl"}' {{ request.host_url }}todos</code>, and watch changes arrive live.
    Attach a file (up to {{ max_upload }}) with the paper clip.</footer>
</main>
<script src="{{ socketio_js }}"></script>
<script src="{{ url_for('sockreq_client') }}"></script>
<script>
"use strict";
const todos = new Map();
// Uploads and downloads, by todo id: {arrow, name, loaded, total, state, note}.
const transfers = new Map();
const CLIP = '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" ' +
  'stroke-linecap="round" aria-hidden="true"><path d="M16 6v10a4 4 0 0 1-8 0V5.5a2.5 2.5 0 0 1 5 0V15a1 1 0 0 1-2 0V7"/></svg>';
let transport = "socket";
let client = null;

const $ = (id) => document.getElementById(id);

function formatBytes(bytes) {
  if (bytes < 1000) return `${bytes} B`;
  const units = ["kB", "MB", "GB"];
  let value = bytes;
  let unit = -1;
  do { value /= 1000; unit++; } while (value >= 1000 && unit < units.length - 1);
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

function log(kind, text) {
  const line = document.createElement("div");
  const tag = document.createElement("span");
  tag.className = kind;
  tag.textContent = kind;
  line.append(tag, text);
  $("log").prepend(line);
  while ($("log").childElementCount > 40) $("log").lastChild.remove();
}

function transferView(id) {
  const transfer = transfers.get(id);
  const view = document.createElement("div");
  view.className = "transfer " + transfer.state;
  const text = document.createElement("span");
  const bar = document.createElement("progress");
  bar.setAttribute("aria-label", `${transfer.verb} of ${transfer.name}`);
  // Without a total (an upload over window.fetch) the bar is indeterminate.
  if (transfer.total) {
    bar.max = transfer.total;
    bar.value = transfer.loaded;
  }
  const percent = transfer.total ? `${Math.floor(100 * transfer.loaded / transfer.total)} %` : "…";
  text.textContent = `${transfer.arrow} ${percent}` + (transfer.note ? ` · ${transfer.note}` : "");
  view.append(bar, text);
  return view;
}

// Update the transfer of a todo; null takes it away (it failed: #error says why).
function showTransfer(id, changes) {
  if (changes) transfers.set(id, {...transfers.get(id), ...changes});
  else transfers.delete(id);
  const body = $("todos").querySelector(`li[data-id="${id}"] .body`);
  if (!body) return;
  body.querySelector(".transfer")?.remove();
  if (changes) body.append(transferView(id));
}

function render(freshId) {
  const list = $("todos");
  list.replaceChildren();
  const items = [...todos.values()].sort((a, b) => a.id - b.id);
  if (!items.length) {
    const empty = document.createElement("li");
    empty.className = "empty";
    empty.textContent = "Nothing to do.";
    list.append(empty);
  }
  for (const todo of items) {
    const li = document.createElement("li");
    li.dataset.id = todo.id;
    li.className = (todo.done ? "done " : "") + (todo.id === freshId ? "fresh" : "");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = todo.done;
    box.setAttribute("aria-label", "done");
    box.addEventListener("change", () => call("PATCH", "/todos/" + todo.id, {done: box.checked}));
    const body = document.createElement("div");
    body.className = "body";
    const title = document.createElement("div");
    title.className = "title";
    title.textContent = todo.title;
    body.append(title);
    if (todo.attachment) {
      // A plain link: it downloads over HTTP without this page's script too.
      const link = document.createElement("a");
      link.href = `/todos/${todo.id}/attachment`;
      link.textContent = todo.attachment.name;
      link.addEventListener("click", (event) => {
        event.preventDefault();
        download(todo.id);
      });
      const file = document.createElement("div");
      file.className = "file";
      file.append(link, ` · ${formatBytes(todo.attachment.size)}`);
      body.append(file);
    }
    if (transfers.has(todo.id)) body.append(transferView(todo.id));
    const attach = document.createElement("label");
    attach.className = "attach";
    attach.title = "Attach a file";
    const input = document.createElement("input");
    input.type = "file";
    input.setAttribute("aria-label", "attach a file");
    input.addEventListener("change", () => {
      if (input.files.length) upload(todo.id, input.files[0]);
    });
    attach.append(input);
    attach.insertAdjacentHTML("beforeend", CLIP);
    const del = document.createElement("button");
    del.className = "delete";
    del.title = "Delete";
    del.setAttribute("aria-label", "delete");
    del.textContent = "×";
    del.addEventListener("click", () => call("DELETE", "/todos/" + todo.id));
    li.append(box, body, attach, del);
    list.append(li);
  }
}

function fetcher(via) {
  return via === "socket" ? client.fetch.bind(client) : window.fetch.bind(window);
}

function failed(via, what, error) {
  log(via, `${what} failed: ${error.message}`);
  $("error").textContent = `${what} failed: ${error.message}`;
}

// One function for both transports: the same fetch code, another identifier.
async function call(method, url, body, via = transport, options = {}) {
  const init = {method, headers: {Accept: "application/json"}, ...options};
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const started = performance.now();
  let response;
  let data = null;
  try {
    response = await fetcher(via)(url, init);
    if (response.status !== 204) data = await response.json();
  } catch (error) {
    failed(via, `${method} ${url}`, error);
    return null;
  }
  const ms = (performance.now() - started).toFixed(1);
  log(via, `${method} ${url} → ${response.status} in ${ms} ms` + (options.note ? ` · ${options.note}` : ""));
  $("error").textContent = response.ok ? "" : data.message;
  if (!response.ok) return null;
  if (method === "GET") {
    todos.clear();
    for (const todo of data) todos.set(todo.id, todo);
    render();
  } else if (method === "DELETE") {
    todos.delete(Number(url.split("/").pop()));
    render();
  } else {
    todos.set(data.id, data);
    render(data.id);
  }
  return data;
}

async function upload(id, file, via = transport) {
  showTransfer(id, {verb: "upload", arrow: "↑", name: file.name, loaded: 0,
                    total: via === "socket" ? file.size : 0, state: "active", note: ""});
  const form = new FormData();
  form.append("file", file);
  const started = performance.now();
  const data = await call("POST", `/todos/${id}/attachment`, form, via, {
    // client.fetch() reports the upload's progress; window.fetch() cannot,
    // and ignores the option.
    onUploadProgress: ({loaded, total}) => showTransfer(id, {loaded, total}),
    note: formatBytes(file.size),
  });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const note = `${formatBytes(file.size)} in ${seconds} s`;
  if (!data) showTransfer(id, null);
  else if (transfers.get(id).total) showTransfer(id, {state: "done", note});
  else showTransfer(id, {state: "done", note, loaded: file.size, total: file.size});
}

async function sha256(blob) {
  const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

// Read the body as it arrives, with progress, then offer it as a download.
async function download(id, via = transport) {
  const {name, size, sha256: expected} = todos.get(id).attachment;
  const url = `/todos/${id}/attachment`;
  showTransfer(id, {verb: "download", arrow: "↓", name, loaded: 0, total: size, state: "active", note: ""});
  const started = performance.now();
  let response;
  let message = null;
  const chunks = [];
  let loaded = 0;
  try {
    response = await fetcher(via)(url);
    if (response.ok) {
      const total = Number(response.headers.get("Content-Length")) || size;
      for (const reader = response.body.getReader(); ;) {
        const {done, value} = await reader.read();
        if (done) break;
        chunks.push(value);
        loaded += value.byteLength;
        showTransfer(id, {loaded, total});
      }
    } else {
      message = (await response.json()).message;
    }
  } catch (error) {
    failed(via, `GET ${url}`, error);
    showTransfer(id, null);
    return;
  }
  const ms = performance.now() - started;
  const blob = new Blob(chunks, {type: response.headers.get("Content-Type") || ""});
  // crypto.subtle exists on https: and localhost pages only.
  let check = "";
  if (response.ok && window.crypto?.subtle) {
    check = (await sha256(blob)) === expected ? "sha-256 ok" : "sha-256 differs";
  }
  log(via, `GET ${url} → ${response.status} in ${ms.toFixed(1)} ms` +
    (response.ok ? ` · ${formatBytes(loaded)}` : "") + (check ? ` · ${check}` : ""));
  if (check === "sha-256 differs") message = `${name} arrived damaged: its SHA-256 is not the upload's.`;
  $("error").textContent = message || "";
  if (message) {
    showTransfer(id, null);
    return;
  }
  showTransfer(id, {state: "done", note: `${formatBytes(loaded)} in ${(ms / 1000).toFixed(1)} s`});
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
}

function setState(state, text = state) {
  $("state").dataset.state = state;
  $("state").textContent = text;
}

function useTransport(value) {
  transport = value;
  $("use-socket").setAttribute("aria-pressed", String(value === "socket"));
  $("use-http").setAttribute("aria-pressed", String(value === "http"));
}

for (const [id, value] of [["use-socket", "socket"], ["use-http", "http"]]) {
  $(id).addEventListener("click", () => {
    useTransport(value);
    call("GET", "/todos");
  });
}

$("add").addEventListener("submit", async (event) => {
  event.preventDefault();
  const title = $("title").value;
  if (await call("POST", "/todos", {title})) $("title").value = "";
});

try {
  // This page fetches the list again on every connect, which subscribes the
  // new socket: the client need not resend anything itself.
  client = SockReq.connect({resubscribe: false});
} catch (error) {
  // socket.io-client did not load: say so, and carry on over HTTP alone.
  console.error(error);
  setState("http-only", "HTTP only");
  $("notice").hidden = false;
  $("use-socket").disabled = true;
  useTransport("http");
  call("GET", "/todos");
}

if (client) {
  client.on("todo", (message) => {
    log("push", `todo ${message.verb} #${message.id}`);
    if (message.verb === "destroyed") todos.delete(message.id);
    else todos.set(message.id, {...todos.get(message.id), ...message.data});
    render(message.verb === "destroyed" ? undefined : message.id);
  });
  client.socket.on("connect", () => {
    setState("live");
    // Over the socket, the list route subscribes this tab to every change,
    // whichever transport is chosen; after a reconnection, anew.
    call("GET", "/todos", undefined, "socket");
  });
  client.socket.on("disconnect", () => setState("reconnecting"));
  client.socket.io.on("reconnect_attempt", () => setState("reconnecting"));
}
</script>
</html>
"""

#: How many connections ``python example_app.py`` holds at once. Each live
#: socket keeps one of eventlet's green threads, and a file descriptor.
MAX_CONNECTIONS = 20_000


def raise_open_files_limit(wanted: int) -> None:
    """Let this process open ``wanted`` files if the hard limit allows it."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "5000"))
    raise_open_files_limit(MAX_CONNECTIONS + 100)
    app = create_app()
    print(f"Open http://127.0.0.1:{port}/", flush=True)
    # eventlet's server holds 1,024 connections unless told otherwise.
    socketio = sockreq.socketio_for(app)
    socketio.run(app, host="127.0.0.1", port=port, max_size=MAX_CONNECTIONS)
