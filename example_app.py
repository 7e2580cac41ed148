"""A collaborative todo list: one set of Flask views, served over HTTP and
over Socket.IO.

The page loads and changes the list through ``client.fetch`` (a socket) or
``window.fetch`` (plain HTTP), at the flip of a switch; either way every other
open tab sees the change live, and so do changes made with curl::

    curl -X POST -H 'Content-Type: application/json' \\
        -d '{"title": "Sent with curl"}' http://127.0.0.1:5000/todos

Run it with eventlet (``python example_app.py``) or with Flask's development
server (``flask --app example_app run``), then open http://127.0.0.1:5000/.
``SOCKETIO_JS`` sets where the page loads socket.io-client 4 from (a CDN by
default; a local copy where no CDN can be reached), ``PORT`` the port of
``python example_app.py``.
"""

if __name__ == "__main__":
    # eventlet patches the standard library before anything else imports it.
    import eventlet

    eventlet.monkey_patch()

import itertools
import os
import threading
import typing as t

from flask import abort
from flask import Flask
from flask import jsonify
from flask import render_template_string
from flask import request
from flask_socketio import SocketIO
from werkzeug.exceptions import HTTPException

from flask_sockreq import publish_created
from flask_sockreq import publish_destroyed
from flask_sockreq import publish_updated
from flask_sockreq import SockReq
from flask_sockreq import subscribe
from flask_sockreq import watch

SOCKETIO_JS = "https://cdn.socket.io/4.8.1/socket.io.min.js"

# eventlet when run as a script (patched above); under ``flask run`` the
# threading mode, which SocketIO would not choose itself with eventlet installed.
socketio = SocketIO(async_mode="eventlet" if __name__ == "__main__" else "threading")
sockreq = SockReq()


class TodoStore:
    """The todos, in memory: a real app would use its database here."""

    def __init__(self) -> None:
        self._todos: dict[int, dict[str, t.Any]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def all(self) -> list[dict[str, t.Any]]:
        with self._lock:
            return [dict(todo) for todo in self._todos.values()]

    def create(self, title: str) -> dict[str, t.Any]:
        with self._lock:
            todo = {"id": next(self._ids), "title": title, "done": False}
            self._todos[todo["id"]] = todo
            return dict(todo)

    def update(self, todo_id: int, changes: dict[str, t.Any]) -> dict[str, t.Any]:
        with self._lock:
            todo = self._todos.get(todo_id)
            if todo is None:
                abort(404, f"There is no todo {todo_id}.")
            todo.update(changes)
            return dict(todo)

    def delete(self, todo_id: int) -> dict[str, t.Any]:
        with self._lock:
            todo = self._todos.pop(todo_id, None)
        if todo is None:
            abort(404, f"There is no todo {todo_id}.")
        return todo


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


def create_app(config: dict[str, t.Any] | None = None) -> Flask:
    """Build the example app.

    :param config: Config to set before the extensions are initialised.
    """
    app = Flask(__name__)
    app.config["SOCKETIO_JS"] = os.environ.get("SOCKETIO_JS", SOCKETIO_JS)
    app.config.update(config or {})
    store = TodoStore()
    for title in ("Serve one API over HTTP and sockets", "Open this page twice"):
        store.create(title)

    @app.get("/")
    def index() -> str:
        return render_template_string(PAGE, socketio_js=app.config["SOCKETIO_JS"])

    @app.get("/todos")
    def list_todos() -> t.Any:
        todos = store.all()
        # Over a socket, stay told of changes; over HTTP these do nothing.
        subscribe(request, "todo", todos)
        watch(request, "todo")
        return jsonify(todos)

    @app.post("/todos")
    def create_todo() -> t.Any:
        todo = store.create(**_changes(request.get_json(silent=True), partial=False))
        publish_created("todo", todo, skip=request)
        return jsonify(todo), 201

    @app.patch("/todos/<int:todo_id>")
    def update_todo(todo_id: int) -> t.Any:
        changes = _changes(request.get_json(silent=True), partial=True)
        todo = store.update(todo_id, changes)
        publish_updated("todo", todo, todo, skip=request)
        return jsonify(todo)

    @app.delete("/todos/<int:todo_id>")
    def delete_todo(todo_id: int) -> t.Any:
        todo = store.delete(todo_id)
        publish_destroyed("todo", todo, skip=request)
        return "", 204

    @app.errorhandler(HTTPException)
    def json_error(error: HTTPException) -> t.Any:
        if request.path == "/":
            return error
        return jsonify(error=error.name, message=error.description), error.code

    socketio.init_app(app)
    sockreq.init_app(app, socketio)
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
  .pill[data-state="reconnecting"]::before { background: var(--bad); }
  .card { background: white; border: 1px solid var(--line); border-radius: 12px;
          box-shadow: 0 1px 2px rgba(20, 30, 60, .05); margin-top: 1.2rem; }
  .transport { display: flex; gap: .3rem; padding: .3rem; background: #eceff6;
               border-radius: 9px; }
  .transport button { border: 0; background: none; padding: .35rem .8rem;
                      border-radius: 7px; font: inherit; font-size: .9rem;
                      color: var(--muted); cursor: pointer; }
  .transport button[aria-pressed="true"] { background: white; color: var(--ink);
                                           box-shadow: 0 1px 2px rgba(0,0,0,.08); }
  form { display: flex; gap: .5rem; padding: .8rem; border-bottom: 1px solid var(--line); }
  form input { flex: 1; font: inherit; padding: .55rem .7rem; border: 1px solid var(--line);
               border-radius: 8px; }
  form button, .delete { font: inherit; border: 0; border-radius: 8px; cursor: pointer; }
  form button { background: var(--accent); color: white; padding: .55rem 1rem; }
  ul { list-style: none; margin: 0; padding: 0; }
  li { display: flex; align-items: center; gap: .7rem; padding: .65rem .9rem;
       border-bottom: 1px solid var(--line); }
  li:last-child { border-bottom: 0; }
  li .title { flex: 1; }
  li.done .title { color: var(--muted); text-decoration: line-through; }
  li.fresh { animation: flash 1.2s ease-out; }
  @keyframes flash { from { background: #fff3bf; } to { background: white; } }
  .delete { background: none; color: var(--muted); font-size: 1.2rem; padding: 0 .4rem; }
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
</style>
<main>
  <header>
    <h1>Todos <small>one API, two transports</small></h1>
    <span id="state" class="pill" data-state="connecting">connecting</span>
  </header>
  <section class="card">
    <div style="display:flex;justify-content:space-between;align-items:center;padding:.8rem;border-bottom:1px solid var(--line)">
      <span>Requests go over</span>
      <div class="transport" role="group" aria-label="Transport">
        <button id="use-socket" aria-pressed="true">client.fetch · socket</button>
        <button id="use-http" aria-pressed="false">window.fetch · HTTP</button>
      </div>
    </div>
    <form id="add">
      <input id="title" name="title" placeholder="What needs doing?" autocomplete="off" required>
      <button>Add</button>
    </form>
    <p id="error" role="alert"></p>
    <ul id="todos"></ul>
  </section>
  <section class="card">
    <div id="log" aria-live="polite"></div>
  </section>
  <footer>Open this page in two tabs, or <code>curl -X POST -H 'Content-Type: application/json'
    -d '{"title": "from curl"}' {{ request.host_url }}todos</code>, and watch changes arrive live.</footer>
</main>
<script src="{{ socketio_js }}"></script>
<script src="{{ url_for('sockreq_client') }}"></script>
<script>
"use strict";
const client = SockReq.connect();
const todos = new Map();
let transport = "socket";

const $ = (id) => document.getElementById(id);

function log(kind, text) {
  const line = document.createElement("div");
  const tag = document.createElement("span");
  tag.className = kind;
  tag.textContent = kind;
  line.append(tag, text);
  $("log").prepend(line);
  while ($("log").childElementCount > 40) $("log").lastChild.remove();
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
    const title = document.createElement("span");
    title.className = "title";
    title.textContent = todo.title;
    const del = document.createElement("button");
    del.className = "delete";
    del.title = "Delete";
    del.setAttribute("aria-label", "delete");
    del.textContent = "×";
    del.addEventListener("click", () => call("DELETE", "/todos/" + todo.id));
    li.append(box, title, del);
    list.append(li);
  }
}

// One function for both transports: the same fetch code, another identifier.
async function call(method, url, body, via = transport) {
  const fetcher = via === "socket" ? client.fetch.bind(client) : window.fetch.bind(window);
  const init = {method, headers: {Accept: "application/json"}};
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const started = performance.now();
  const response = await fetcher(url, init);
  const ms = (performance.now() - started).toFixed(1);
  log(via, `${method} ${url} → ${response.status} in ${ms} ms`);
  const data = response.status === 204 ? null : await response.json();
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

client.on("todo", (message) => {
  log("push", `todo ${message.verb} #${message.id}`);
  if (message.verb === "destroyed") todos.delete(message.id);
  else todos.set(message.id, {...todos.get(message.id), ...message.data});
  render(message.verb === "destroyed" ? undefined : message.id);
});

function setState(state) {
  $("state").dataset.state = state;
  $("state").textContent = state;
}
client.socket.on("connect", () => {
  setState("live");
  // Over the socket, the list route subscribes this tab to every change,
  // whichever transport is chosen; after a reconnection, anew.
  call("GET", "/todos", undefined, "socket");
});
client.socket.on("disconnect", () => setState("reconnecting"));
client.socket.io.on("reconnect_attempt", () => setState("reconnecting"));

for (const [id, value] of [["use-socket", "socket"], ["use-http", "http"]]) {
  $(id).addEventListener("click", () => {
    transport = value;
    $("use-socket").setAttribute("aria-pressed", String(value === "socket"));
    $("use-http").setAttribute("aria-pressed", String(value === "http"));
    call("GET", "/todos");
  });
}

$("add").addEventListener("submit", async (event) => {
  event.preventDefault();
  const title = $("title").value;
  if (await call("POST", "/todos", {title})) $("title").value = "";
});
</script>
</html>
"""

app = create_app()

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
    print(f"Open http://127.0.0.1:{port}/", flush=True)
    # eventlet's server holds 1,024 connections unless told otherwise.
    socketio.run(app, host="127.0.0.1", port=port, max_size=MAX_CONNECTIONS)
