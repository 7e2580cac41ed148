"""``exclude`` and ``expose``: which routes answer over the socket, for view
functions, ``View`` classes and (nested) blueprints, over the in-process
test client; HTTP is never affected."""

from __future__ import annotations

import typing as t

import pytest
from flask import Blueprint
from flask import Flask
from flask.views import MethodView
from flask.views import View
from flask_socketio import SocketIO
from werkzeug.exceptions import NotFound

from flask_sockreq import exclude
from flask_sockreq import expose
from flask_sockreq import SockReq
from flask_sockreq.exposure import is_exposed


def make_app(expose_all: bool) -> Flask:
    app = Flask(__name__)
    app.config["SOCKREQ_EXPOSE_ALL"] = expose_all
    SockReq(app, SocketIO(app, async_mode="threading"))

    @app.get("/plain")
    def plain() -> str:
        return "plain"

    @app.get("/excluded")
    @exclude
    def excluded() -> str:
        return "excluded"

    @app.get("/exposed")
    @expose
    def exposed() -> str:
        return "exposed"

    @exclude
    class HiddenView(View):
        def dispatch_request(self) -> str:
            return "hidden view"

    @expose
    class ShownMethodView(MethodView):
        def get(self) -> str:
            return "shown view"

    class PlainView(View):
        def dispatch_request(self) -> str:
            return "plain view"

    app.add_url_rule("/hidden-view", view_func=HiddenView.as_view("hidden_view"))
    app.add_url_rule("/shown-view", view_func=ShownMethodView.as_view("shown_view"))
    app.add_url_rule("/plain-view", view_func=PlainView.as_view("plain_view"))
    # A mark on the view function wins over its class's.
    app.add_url_rule(
        "/exposed-hidden-view", view_func=expose(HiddenView.as_view("exposed_hidden"))
    )

    outer = Blueprint("outer", __name__, url_prefix="/outer")
    inner = Blueprint("inner", __name__, url_prefix="/inner")
    plain_inner = Blueprint("plain_inner", __name__, url_prefix="/plain-inner")

    @outer.get("/")
    def outer_index() -> str:
        return "outer"

    @outer.get("/exposed")
    @expose
    def outer_exposed() -> str:
        return "outer exposed"

    @inner.get("/")
    def inner_index() -> str:
        return "inner"

    @inner.get("/excluded")
    @exclude
    def inner_excluded() -> str:
        return "inner excluded"

    @plain_inner.get("/")
    def plain_inner_index() -> str:
        return "plain inner"

    exclude(outer)
    expose(inner)
    outer.register_blueprint(inner)
    outer.register_blueprint(plain_inner)
    app.register_blueprint(outer)
    return app


#: url -> over the socket with SOCKREQ_EXPOSE_ALL True, and False.
ROUTES = {
    "/plain": (True, False),
    "/excluded": (False, False),
    "/exposed": (True, True),
    "/hidden-view": (False, False),
    "/shown-view": (True, True),
    "/plain-view": (True, False),
    "/exposed-hidden-view": (True, True),
    "/outer/": (False, False),
    "/outer/exposed": (True, True),
    "/outer/inner/": (True, True),
    "/outer/inner/excluded": (False, False),
    "/outer/plain-inner/": (False, False),
}


@pytest.fixture(params=[True, False], ids=["expose_all", "opt_in"])
def app(request: pytest.FixtureRequest) -> Flask:
    return make_app(request.param)


@pytest.fixture
def socket_client(app: Flask) -> t.Iterator[t.Any]:
    client = app.extensions["sockreq"].extension.test_client(app)
    yield client
    client.disconnect()


def test_which_routes_answer_over_the_socket(app, socket_client):
    column = 0 if app.config["SOCKREQ_EXPOSE_ALL"] else 1
    for url, answers in ROUTES.items():
        response = socket_client.get(url)
        expected = 200 if answers[column] else 404
        assert response.status_code == expected, url
        if expected == 404:
            assert response.data == NotFound().get_body().encode()
    decisions = app.extensions["sockreq"].exposed
    assert decisions["excluded"] is False
    assert decisions["exposed"] is True
    assert decisions["plain"] is answers_of("/plain", column)
    # Asked again, from the cache: the same answers.
    for url, answers in ROUTES.items():
        assert socket_client.get(url).status_code == (200 if answers[column] else 404)


def answers_of(url: str, column: int) -> bool:
    return ROUTES[url][column]


def test_http_is_never_affected(app):
    client = app.test_client()
    for url in ROUTES:
        assert client.get(url).status_code == 200, url
    assert app.extensions["sockreq"].exposed == {}


def test_an_unknown_url_is_a_404_over_the_socket(app, socket_client):
    assert socket_client.get("/no/such/route").status_code == 404
    assert app.extensions["sockreq"].exposed == {}


def test_marks_return_their_target():
    def view() -> None:
        pass

    assert exclude(view) is view
    assert view._sockreq_expose is False  # type: ignore[attr-defined]
    assert expose(view) is view
    assert view._sockreq_expose is True  # type: ignore[attr-defined]


def test_is_exposed():
    class Marked:
        def __init__(self, mark: bool | None) -> None:
            if mark is not None:
                self._sockreq_expose = mark

    def view() -> None:
        pass

    assert is_exposed(view, [], True) is True
    assert is_exposed(view, [], False) is False
    assert is_exposed(None, [], True) is True
    assert is_exposed(view, [Marked(None), Marked(False), Marked(True)], True) is False
    assert is_exposed(view, [None, Marked(True)], False) is True
    assert is_exposed(Marked(True), [Marked(False)], False) is True
    assert is_exposed(Marked(False), [Marked(True)], True) is False
    view.view_class = Marked(False)  # type: ignore[attr-defined]
    assert is_exposed(view, [Marked(True)], True) is False
    view.view_class = Marked(None)  # type: ignore[attr-defined]
    assert is_exposed(view, [Marked(True)], False) is True
    # Truthy marks are read as booleans.
    assert is_exposed(Marked(1), [], False) is True  # type: ignore[arg-type]
    assert is_exposed(view, [Marked(0)], True) is False  # type: ignore[arg-type]


def test_a_decision_is_kept_as_first_looked_up():
    app = make_app(True)
    client = app.extensions["sockreq"].extension.test_client(app)
    try:
        assert client.get("/excluded").status_code == 404
        # Marks are read once per endpoint, at its first socket request.
        expose(app.view_functions["excluded"])
        assert client.get("/excluded").status_code == 404
        exclude(app.view_functions["plain"])
        assert client.get("/plain").status_code == 404
    finally:
        client.disconnect()
