"""The Flask app the tests serve over HTTP and over Socket.IO.

:func:`create_app` builds a fresh app each call; every piece of state the
routes keep (counter, hook and signal records) lives in that call's closure.
Records are keyed by a ``X-Trace`` request header so that tests sharing one
server never read each other's entries.
"""

from __future__ import annotations

import hashlib
import os
import time
import typing as t

import flask_socketio
from flask import Blueprint
from flask import Flask
from flask import g
from flask import got_request_exception
from flask import jsonify
from flask import redirect
from flask import request
from flask import request_finished
from flask import request_started
from flask import Response
from flask import send_file
from flask import stream_with_context
from flask import url_for
from flask.views import MethodView
from flask_socketio import SocketIO
from werkzeug.middleware.proxy_fix import ProxyFix

from flask_sockreq import SockReq

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
PNG_PATH = os.path.join(DATA_DIR, "pixel.png")
TEXT_PATH = os.path.join(DATA_DIR, "hello.txt")


def pattern(size: int) -> bytes:
    """``size`` bytes: 0-255 over and over."""
    return (bytes(range(256)) * (size // 256 + 1))[:size]


#: The Allow header of ``/echo``, sorted: its methods, and the HEAD and
#: OPTIONS Flask adds.
ECHO_ALLOW = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]


class TeapotError(Exception):
    """Raised by a view and turned into a 418 by an error handler."""


def create_app(
    async_mode: str = "threading",
    *,
    proxy_fix: bool = False,
    testing: bool = False,
    config: dict[str, t.Any] | None = None,
    message_queue: str | None = None,
    channel: str | None = None,
) -> Flask:
    """Build the test app with its SocketIO and SockReq.

    :param async_mode: Flask-SocketIO's ``async_mode``.
    :param proxy_fix: Wrap ``app.wsgi_app`` in ProxyFix after SocketIO's init.
    :param testing: Set ``app.testing`` (``PROPAGATE_EXCEPTIONS``).
    :param config: Extra config set before the extensions are initialised.
    :param message_queue: Flask-SocketIO's ``message_queue`` (scale-out).
    :param channel: Flask-SocketIO's message queue ``channel``.
    """
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "not-a-secret"
    app.testing = testing
    app.config.update(config or {})
    queue_options: dict[str, t.Any] = {}
    if message_queue:
        queue_options["message_queue"] = message_queue
    if channel:
        queue_options["channel"] = channel
    socketio = SocketIO(app, async_mode=async_mode, **queue_options)
    SockReq(app, socketio)
    if proxy_fix:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=1, x_proto=1, x_host=1
        )

    counter = {"value": 0}
    records: dict[str, list[t.Any]] = {}

    def record(*event: t.Any) -> None:
        trace = request.headers.get("X-Trace")
        if trace:
            records.setdefault(trace, []).append(list(event))

    # --- hooks and signals ---------------------------------------------

    @app.before_request
    def before() -> None:
        record("before_request", request.path)

    @app.after_request
    def after(response: Response) -> Response:
        record("after_request", response.status_code)
        return response

    @app.teardown_request
    def teardown_request(exc: BaseException | None) -> None:
        record("teardown_request", type(exc).__name__ if exc else None)

    @app.teardown_appcontext
    def teardown_appcontext(exc: BaseException | None) -> None:
        # No request context here: look the trace up on g.
        trace = g.get("trace")
        if trace:
            records.setdefault(trace, []).append(["teardown_appcontext"])

    @app.before_request
    def remember_trace() -> None:
        g.trace = request.headers.get("X-Trace")

    def on_started(sender: Flask, **extra: t.Any) -> None:
        record("request_started")

    def on_finished(sender: Flask, response: Response, **extra: t.Any) -> None:
        record("request_finished", response.status_code)

    def on_exception(sender: Flask, exception: BaseException, **extra: t.Any) -> None:
        record("got_request_exception", type(exception).__name__)

    request_started.connect(on_started, app, weak=False)
    request_finished.connect(on_finished, app, weak=False)
    got_request_exception.connect(on_exception, app, weak=False)

    @app.route("/records/<trace>")
    def get_records(trace: str) -> t.Any:
        return jsonify(records.get(trace, []))

    # --- plain routes --------------------------------------------------

    @app.route("/health")
    def health() -> str:
        return "ok"

    @app.route("/hello/<int:n>")
    def hello(n: int) -> t.Any:
        return {"n": n, "args": request.args.to_dict(flat=False)}

    @app.route("/echo", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def echo() -> t.Any:
        raw = request.get_data()
        return {
            "method": request.method,
            "path": request.path,
            "query_string": request.query_string.decode("latin-1"),
            "args": request.args.to_dict(flat=False),
            "form": request.form.to_dict(flat=False),
            "json": request.get_json(silent=True),
            "body_hex": raw.hex(),
            "content_type": request.headers.get("Content-Type"),
            "content_length": request.headers.get("Content-Length"),
        }

    @app.route("/headers")
    def headers() -> t.Any:
        return dict(request.headers)

    @app.route("/cookies")
    def cookies() -> t.Any:
        return request.cookies.to_dict()

    @app.route("/environ")
    def environ() -> t.Any:
        return {
            "remote_addr": request.remote_addr,
            "access_route": list(request.access_route),
            "scheme": request.scheme,
            "host": request.host,
            "script_root": request.script_root,
            "url": request.url,
            "external": url_for("hello", n=1, _external=True),
        }

    @app.route("/whoami")
    def whoami() -> t.Any:
        info: dict[str, t.Any] = {
            "is_socket": request.is_socket,  # type: ignore[attr-defined]
            "sid": getattr(request, "sid", None),
            "namespace": getattr(request, "namespace", None),
            "remote_addr": request.remote_addr,
            "remote_port": request.environ.get("REMOTE_PORT"),
        }
        sock = request.socket  # type: ignore[attr-defined]
        info["socket_type"] = f"{type(sock).__module__}.{type(sock).__qualname__}"
        if request.is_socket:  # type: ignore[attr-defined]
            info["socket"] = {
                "id": sock.id,
                "namespace": sock.namespace,
                "rooms": sorted(sock.rooms),
                "handshake": sock.handshake,
            }
        else:
            info["peername"] = list(sock.getpeername()[:2])
        return info

    @app.route("/text")
    def text() -> t.Any:
        return Response("Caf\u00e9 au lait", mimetype="text/plain")

    @app.route("/html")
    def html() -> str:
        return "<p>Hello, <b>world</b></p>"

    @app.route("/charset")
    def charset() -> t.Any:
        return Response(
            "custom \u00e9".encode("latin-1"),
            content_type="application/x-custom; charset=latin-1",
        )

    @app.route("/list")
    def json_list() -> t.Any:
        return jsonify([1, "two", None, True])

    @app.route("/binary")
    def binary() -> t.Any:
        return send_file(PNG_PATH, mimetype="image/png")

    @app.route("/download.txt")
    def download_text() -> t.Any:
        return send_file(TEXT_PATH, mimetype="text/plain")

    @app.route("/stream")
    def stream() -> t.Any:
        def generate() -> t.Iterator[str]:
            for n in range(5):
                yield f"chunk {n} of {request.args.get('name', 'x')}\n"

        return Response(stream_with_context(generate()), mimetype="text/plain")

    # --- streams ---------------------------------------------------------

    @app.route("/stream/slow")
    def slow_stream() -> t.Any:
        """``n`` pieces of ``size`` bytes, ``delay`` seconds apart; records
        each piece and the generator's end (``X-Trace``)."""
        n = request.args.get("n", 5, type=int)
        size = request.args.get("size", 10, type=int)
        delay = request.args.get("delay", 0.0, type=float)
        trace = request.headers.get("X-Trace")
        # The view itself takes ?wait= seconds before it returns.
        time.sleep(request.args.get("wait", 0.0, type=float))

        def generate() -> t.Iterator[bytes]:
            try:
                for index in range(n):
                    if index and delay:
                        time.sleep(delay)
                    if trace:
                        records.setdefault(trace, []).append(["piece", index])
                    yield bytes([65 + index % 26]) * size
            finally:
                if trace:
                    records.setdefault(trace, []).append(["finally"])

        return Response(stream_with_context(generate()), mimetype="text/plain")

    @app.route("/stream/fail")
    def stream_fail() -> t.Any:
        """A body that fails after its first piece."""

        def generate() -> t.Iterator[bytes]:
            yield b"before"
            raise RuntimeError("The generator failed on purpose.")

        return Response(generate(), mimetype="application/octet-stream")

    @app.route("/stream/bytes")
    def stream_bytes() -> t.Any:
        """A buffered body of ``size`` bytes, the bytes 0-255 over and over."""
        size = request.args.get("size", 0, type=int)
        return Response(pattern(size), mimetype="application/octet-stream")

    @app.route("/stream/upload", methods=["POST", "PUT"])
    def stream_upload() -> t.Any:
        """Read the body from ``request.stream`` in pieces (``?form=1``: parse
        it as a form and hash its files) and answer its length and SHA-256."""
        trace = request.headers.get("X-Trace")
        if request.args.get("form"):
            files = {
                name: {
                    "sha256": hashlib.sha256(f.read()).hexdigest(),
                    "filename": f.filename,
                }
                for name, f in request.files.items()
            }
            return jsonify(files=files, form=request.form.to_dict())
        digest = hashlib.sha256()
        length = 0
        while True:
            piece = request.stream.read(65536)
            if not piece:
                break
            length += len(piece)
            digest.update(piece)
            if trace:
                records.setdefault(trace, []).append(["read", length])
        return jsonify(length=length, sha256=digest.hexdigest())

    @app.route("/redirect")
    def redirect_view() -> t.Any:
        return redirect(url_for("text"))

    @app.route("/boom")
    def boom() -> t.Any:
        raise RuntimeError("the view failed")

    @app.route("/teapot")
    def teapot() -> t.Any:
        raise TeapotError("short and stout")

    @app.errorhandler(TeapotError)
    def handle_teapot(exc: TeapotError) -> t.Any:
        return {"error": "teapot", "message": str(exc)}, 418

    @app.route("/set-cookie")
    def set_cookie() -> t.Any:
        response = jsonify(ok=True)
        response.set_cookie("flavour", "oatmeal")
        response.headers.add("SET-COOKIE", "shouted=1; Path=/")
        response.headers.add("set-cookie", "whispered=1; Path=/")
        return response

    @app.route("/empty", methods=["GET", "DELETE"])
    def empty() -> t.Any:
        return "", 204

    @app.route("/not-modified")
    def not_modified() -> t.Any:
        return Response(status=304, headers={"ETag": '"v1"'})

    @app.route("/counter", methods=["GET", "POST"])
    def count() -> t.Any:
        if request.method == "POST":
            counter["value"] += 1
        return {"value": counter["value"]}

    @app.route("/g")
    def g_leak() -> t.Any:
        seen = "marker" in g
        g.marker = True
        return {"seen": seen}

    @app.route("/push", methods=["POST"])
    def push() -> t.Any:
        flask_socketio.emit(
            "pushed", {"via": "flask_socketio.emit", "data": request.get_json()}
        )
        return {"pushed": True}

    @app.route("/socket-emit", methods=["POST"])
    def socket_emit() -> t.Any:
        request.socket.emit("pushed", {"via": "request.socket.emit"})  # type: ignore[attr-defined]
        return {"pushed": True}

    @app.route("/join/<room>", methods=["POST"])
    def join(room: str) -> t.Any:
        flask_socketio.join_room(room)
        return {"joined": room}

    @app.route("/socket-join/<room>", methods=["POST"])
    def socket_join(room: str) -> t.Any:
        request.socket.join(room)  # type: ignore[attr-defined]
        return {"rooms": sorted(request.socket.rooms)}  # type: ignore[attr-defined]

    @app.route("/socket-leave/<room>", methods=["POST"])
    def socket_leave(room: str) -> t.Any:
        request.socket.leave(room)  # type: ignore[attr-defined]
        return {"rooms": sorted(request.socket.rooms)}  # type: ignore[attr-defined]

    @app.route("/rooms")
    def rooms() -> t.Any:
        return {"rooms": sorted(request.socket.rooms)}  # type: ignore[attr-defined]

    @app.route("/kick", methods=["POST"])
    def kick() -> t.Any:
        request.socket.disconnect()  # type: ignore[attr-defined]
        return {"kicked": True}

    # --- blueprint and MethodView ---------------------------------------

    items = Blueprint("items", __name__, url_prefix="/api/v1")

    @items.route("/items/<int:item_id>", methods=["GET", "PUT"])
    def item(item_id: int) -> t.Any:
        return {
            "blueprint": request.blueprint,
            "id": item_id,
            "method": request.method,
            "json": request.get_json(silent=True),
        }

    app.register_blueprint(items)

    class ThingAPI(MethodView):
        def get(self, thing_id: int) -> t.Any:
            return {"view": "ThingAPI", "verb": "get", "id": thing_id}

        def patch(self, thing_id: int) -> t.Any:
            return {
                "view": "ThingAPI",
                "verb": "patch",
                "id": thing_id,
                "json": request.json,
            }

        def delete(self, thing_id: int) -> t.Any:
            return {"view": "ThingAPI", "verb": "delete", "id": thing_id}

    app.add_url_rule("/things/<int:thing_id>", view_func=ThingAPI.as_view("things"))

    # --- a Flask-SocketIO event handler ----------------------------------

    @socketio.on("probe")
    def probe(data: t.Any = None) -> t.Any:
        sock = request.socket  # type: ignore[attr-defined]
        return {
            "is_socket": request.is_socket,  # type: ignore[attr-defined]
            "sid": request.sid,  # type: ignore[attr-defined]
            "socket_id": getattr(sock, "id", None),
            "socket_namespace": getattr(sock, "namespace", None),
        }

    # --- authentication once, at connect, on the namespace /secure -------

    @socketio.on("connect", namespace="/secure")
    def secure_connect(auth: t.Any = None) -> None:
        sock = request.socket  # type: ignore[attr-defined]
        token = (auth or {}).get("token") if isinstance(auth, dict) else None
        if token != "let-me-in":
            raise flask_socketio.ConnectionRefusedError("A valid token is needed.")
        sock.data["user"] = "ada"
        sock.data["seen_auth"] = sock.auth

    @app.route("/nodelay")
    def nodelay() -> t.Any:
        """Whether the connection's TCP socket sends small frames at once."""
        import socket as socket_module

        from flask_sockreq.wrappers import tcp_socket

        sock = request.socket  # type: ignore[attr-defined]
        raw = tcp_socket(sock._environ if request.is_socket else request.environ)  # type: ignore[attr-defined]
        if raw is None:
            return {"nodelay": None}
        flag = raw.getsockopt(socket_module.IPPROTO_TCP, socket_module.TCP_NODELAY)
        return {"nodelay": bool(flag)}

    @app.route("/me")
    def me() -> t.Any:
        if not request.is_socket:  # type: ignore[attr-defined]
            return {"user": None}
        sock = request.socket  # type: ignore[attr-defined]
        return {
            "user": sock.data.get("user"),
            "auth": sock.auth,
            "seen_auth": sock.data.get("seen_auth"),
        }

    add_room_routes(app)
    return app


def add_room_routes(app: Flask) -> None:
    """Routes under ``/rooms-api`` and ``/pets`` that call the room and
    resource functions with what the request's JSON body says."""
    import flask_sockreq as sr

    def target(body: dict[str, t.Any]) -> t.Any:
        return body["sid"] if body.get("sid") else request

    def skip(body: dict[str, t.Any]) -> t.Any:
        value = body.get("skip")
        return request if value == "self" else value

    def my_rooms() -> t.Any:
        if request.is_socket:  # type: ignore[attr-defined]
            return sorted(request.socket.rooms)  # type: ignore[attr-defined]
        return None

    @app.route("/rooms-api/<op>", methods=["GET", "POST"])
    def rooms_api(op: str) -> t.Any:
        try:
            return room_operation(op, request.get_json(silent=True) or {})
        except (RuntimeError, TypeError) as exc:
            return {"error": type(exc).__name__, "message": str(exc)}, 409

    def room_operation(op: str, body: dict[str, t.Any]) -> t.Any:
        ns = body.get("namespace")
        if op == "id":
            return {"id": sr.socket_id(request)}
        if op == "rooms":
            pass
        elif op == "join":
            sr.join(target(body), body["room"], namespace=ns)
        elif op == "leave":
            sr.leave(target(body), body["room"], namespace=ns)
        elif op == "broadcast":
            sr.broadcast(
                body["rooms"], body["event"], body.get("data"), skip=skip(body)
            )
        elif op == "blast":
            sr.blast(body["event"], body.get("data"), skip=skip(body))
        elif op == "extension-broadcast":
            app.extensions["sockreq"].extension.broadcast(
                body["rooms"], body["event"], body.get("data"), skip=skip(body)
            )
        elif op == "add":
            sr.add_room_members_to_rooms(body["src"], body["dests"])
        elif op == "remove":
            sr.remove_room_members_from_rooms(body["src"], body["dests"])
        elif op == "leave-all":
            sr.leave_all(body["room"])
        else:
            return {"error": "unknown_op"}, 404
        return {"ok": True, "rooms": my_rooms()}

    pets: dict[int, dict[str, t.Any]] = {
        1: {"id": 1, "name": "Rex"},
        2: {"id": 2, "name": "Tom"},
    }
    next_id = {"value": 100}

    @app.get("/pets")
    def list_pets() -> t.Any:
        records = list(pets.values())
        subscribed = sr.subscribe(request, "pet", records)
        sr.watch(request, "pet")
        return {"pets": records, "subscribed": subscribed, "rooms": my_rooms()}

    @app.get("/pets/<int:pet_id>")
    def get_pet(pet_id: int) -> t.Any:
        sr.subscribe(request, "pet", pet_id)
        return {"pet": pets.get(pet_id), "rooms": my_rooms()}

    @app.delete("/pets/subscriptions/<int:pet_id>")
    def unsubscribe_pet(pet_id: int) -> t.Any:
        sr.unsubscribe(request, "pet", pet_id)
        sr.unwatch(request, "pet")
        return {"rooms": my_rooms()}

    @app.post("/pets")
    def create_pet() -> t.Any:
        next_id["value"] += 1
        pet = {"id": next_id["value"], **(request.get_json() or {})}
        pets[pet["id"]] = pet
        sent = sr.publish_created("pet", pet, skip=request)
        return {"pet": pet, "sent": sent}, 201

    @app.patch("/pets/<int:pet_id>")
    def update_pet(pet_id: int) -> t.Any:
        changes = request.get_json() or {}
        pets.setdefault(pet_id, {"id": pet_id}).update(changes)
        sent = sr.publish_updated("pet", pet_id, changes, skip=request)
        return {"pet": pets[pet_id], "sent": sent}

    @app.delete("/pets/<int:pet_id>")
    def destroy_pet(pet_id: int) -> t.Any:
        pet = pets.pop(pet_id, {"id": pet_id})
        sent = sr.publish_destroyed("pet", pet, pet, skip=request)
        return {"sent": sent}

    @app.post("/pets/<int:pet_id>/publish")
    def publish_pet(pet_id: int) -> t.Any:
        sr.publish("pet", [pet_id], request.get_json(), skip=request)
        return {"ok": True}
