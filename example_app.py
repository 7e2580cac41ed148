"""A small Flask-SockReq app: one set of JSON routes, served over HTTP and
over Socket.IO.

Run it with eventlet (``python example_app.py``) or with the Flask
development server (``flask --app example_app run``), then open
http://127.0.0.1:5000/.
"""

if __name__ == "__main__":
    # eventlet must patch the standard library before anything else imports it.
    import eventlet

    eventlet.monkey_patch()

import os
import threading

from flask import Flask
from flask import abort
from flask import jsonify
from flask import request
from flask_socketio import SocketIO

from flask_sockreq import SockReq

socketio = SocketIO()
sockreq = SockReq()

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>Flask-SockReq example</title>
<script src="%(socketio_js)s"></script>
<h1>Todos</h1>
<ul id="todos"></ul>
<script>
const socket = io({transports: ["websocket"]});
socket.emit("get", {url: "/todos"}, (jwr) => {
  for (const todo of jwr.body) {
    const li = document.createElement("li");
    li.textContent = todo.title + (todo.done ? " (done)" : "");
    document.getElementById("todos").append(li);
  }
});
</script>
"""


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["SOCKETIO_JS"] = os.environ.get(
        "SOCKETIO_JS", "https://cdn.socket.io/4.8.1/socket.io.min.js"
    )
    todos: dict[int, dict[str, object]] = {
        1: {"id": 1, "title": "Serve HTTP and sockets from one view", "done": True}
    }
    lock = threading.Lock()

    @app.get("/")
    def index() -> str:
        return PAGE % {"socketio_js": app.config["SOCKETIO_JS"]}

    @app.get("/todos")
    def list_todos():  # type: ignore[no-untyped-def]
        return jsonify(list(todos.values()))

    @app.post("/todos")
    def create_todo():  # type: ignore[no-untyped-def]
        data = request.get_json(silent=True) or {}
        title = data.get("title")
        if not isinstance(title, str) or not title.strip():
            abort(400, "A todo needs a non-empty 'title' string.")
        with lock:
            todo_id = max(todos, default=0) + 1
            todos[todo_id] = {"id": todo_id, "title": title.strip(), "done": False}
        return jsonify(todos[todo_id]), 201

    @app.get("/transport")
    def transport():  # type: ignore[no-untyped-def]
        return jsonify(is_socket=request.is_socket)

    socketio.init_app(app)
    sockreq.init_app(app, socketio)
    return app


app = create_app()

if __name__ == "__main__":
    print("Open http://127.0.0.1:5000/")
    socketio.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", 5000)))
