"""The app of the security tests: sessions, Flask-Login, Flask-WTF, limits.

Served by ``tests/serve.py --app security``; every piece of state lives in
the closure of :func:`create_security_app`.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
import typing as t

from flask import Blueprint
from flask import Flask
from flask import jsonify
from flask import request
from flask import session
from flask_login import current_user
from flask_login import login_required
from flask_login import login_user
from flask_login import LoginManager
from flask_login import logout_user
from flask_login import UserMixin
from flask_socketio import SocketIO
from flask_wtf.csrf import CSRFProtect
from flask_wtf.csrf import generate_csrf
from werkzeug.middleware.proxy_fix import ProxyFix

from flask_sockreq import exclude
from flask_sockreq import expose
from flask_sockreq import SockReq

#: The config the security tests run under unless a test server overrides it.
DEFAULTS = {
    "SECRET_KEY": "not-a-secret",
    "MAX_CONTENT_LENGTH": 1000,
    "SOCKREQ_TIMEOUT": 1.0,
    "SOCKREQ_MAX_INFLIGHT": 3,
    "SOCKREQ_COOKIE_SYNC": True,
}


class User(UserMixin):
    def __init__(self, user_id: str) -> None:
        self.id = user_id


def create_security_app(
    async_mode: str = "threading",
    *,
    proxy_fix: bool = False,
    cors: list[str] | None = None,
    config: dict[str, t.Any] | None = None,
) -> Flask:
    app = Flask(__name__)
    app.config.update(DEFAULTS)
    app.config.update(config or {})
    socketio = SocketIO(
        app,
        async_mode=async_mode,
        **({"cors_allowed_origins": cors} if cors else {}),
    )
    SockReq(app, socketio)
    if proxy_fix:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=1, x_proto=1, x_host=1
        )
    login = LoginManager(app)
    csrf = CSRFProtect(app)
    finished = {"slow": 0}
    lock = threading.Lock()

    @login.user_loader
    def load_user(user_id: str) -> User:
        return User(user_id)

    @app.route("/health")
    @expose
    def health() -> str:
        return "ok"

    @app.post("/login")
    @expose
    @csrf.exempt
    def log_in() -> t.Any:
        login_user(User(request.get_json()["name"]))
        return jsonify(user=current_user.id)

    @app.post("/logout")
    @csrf.exempt
    def log_out() -> t.Any:
        logout_user()
        return jsonify(user=None)

    @app.get("/me")
    @expose
    @login_required
    def me() -> t.Any:
        return jsonify(user=current_user.id, is_socket=request.is_socket)

    @app.get("/csrf-token")
    def csrf_token() -> t.Any:
        return jsonify(token=generate_csrf())

    @app.post("/transfer")
    def transfer() -> t.Any:
        return jsonify(done=True)

    @app.post("/session")
    @csrf.exempt
    def set_session() -> t.Any:
        session["value"] = request.get_json()["value"]
        return jsonify(value=session["value"])

    @app.get("/session")
    def get_session() -> t.Any:
        return jsonify(value=session.get("value"))

    @app.get("/cookie/set")
    def set_cookie() -> t.Any:
        args = request.args
        response = jsonify(set=args["name"])
        response.set_cookie(
            args["name"],
            args.get("value", "v"),
            path=args.get("path", "/"),
            domain=args.get("domain"),
            max_age=int(args["max_age"]) if "max_age" in args else None,
            expires=0 if args.get("expired") else None,
            secure="secure" in args,
            httponly=True,
        )
        return response

    @app.get("/cookies", defaults={"sub": ""})
    @app.get("/cookies/<path:sub>")
    def cookies(sub: str) -> t.Any:
        return jsonify(dict(request.cookies))

    @app.get("/whoami")
    @expose
    def whoami() -> t.Any:
        return jsonify(
            remote_addr=request.remote_addr,
            access_route=list(request.access_route),
            host=request.host,
            scheme=request.scheme,
            origin=request.headers.get("Origin"),
            cookie=request.headers.get("Cookie"),
            forwarded_for=request.headers.get("X-Forwarded-For"),
            real_ip=request.headers.get("X-Real-Ip"),
            authorization=request.headers.get("Authorization"),
            tenant=request.headers.get("X-Tenant"),
            custom=request.headers.get("X-Custom"),
        )

    @app.get("/slow")
    def slow() -> t.Any:
        time.sleep(float(request.args.get("s", "2")))
        with lock:
            finished["slow"] += 1
        return jsonify(slept=True)

    @app.get("/slow/finished")
    def slow_finished() -> t.Any:
        return jsonify(finished["slow"])

    @app.get("/debug/blocks")
    def debug_blocks() -> t.Any:
        # The fault tests' leak check: every Python object, of any type,
        # is at least one block of the interpreter's allocator.
        gc.collect()
        return jsonify(sys.getallocatedblocks())

    @app.post("/upload")
    @csrf.exempt
    def upload() -> t.Any:
        return jsonify(size=len(request.get_data()))

    @app.get("/private")
    @exclude
    def private() -> str:
        return "private"

    @app.get("/public")
    @expose
    def public() -> str:
        return "public"

    admin = Blueprint("admin", __name__, url_prefix="/admin")

    @admin.get("/panel")
    def panel() -> str:
        return "panel"

    exclude(admin)
    app.register_blueprint(admin)
    return app
