"""Which routes answer over the socket: ``exclude`` and ``expose``."""

from __future__ import annotations

import typing as t

from flask import current_app
from flask import request
from werkzeug.exceptions import NotFound

from .replay import SOCKET_KEY

_ATTR = "_sockreq_expose"

T = t.TypeVar("T")


def exclude(target: T) -> T:
    """Keep a view, a :class:`~flask.views.View` class or a blueprint off the
    socket: socket requests for it answer 404, HTTP requests are served as
    usual. Use it as a decorator, or call it on a blueprint.

    .. code-block:: python

        @app.post("/admin/reset")
        @exclude
        def reset(): ...

        exclude(admin_blueprint)
    """
    setattr(target, _ATTR, False)
    return target


def expose(target: T) -> T:
    """Make a view, a View class or a blueprint reachable over the socket when
    ``SOCKREQ_EXPOSE_ALL`` is False (opt-in). Over HTTP it changes nothing.
    """
    setattr(target, _ATTR, True)
    return target


def is_exposed(view: t.Any, blueprints: t.Iterable[t.Any], default: bool) -> bool:
    """Whether a socket request may reach ``view``: its own mark, else that of
    the innermost marked blueprint, else ``default``.
    """
    mark = getattr(view, _ATTR, None)
    if mark is None:
        mark = getattr(getattr(view, "view_class", None), _ATTR, None)
    if mark is not None:
        return bool(mark)
    for blueprint in blueprints:
        mark = getattr(blueprint, _ATTR, None)
        if mark is not None:
            return bool(mark)
    return default


def check_exposed() -> None:
    """A ``before_request`` function: 404 for a socket request to a route kept
    off the socket."""
    req = request._get_current_object()  # type: ignore[attr-defined]
    if SOCKET_KEY not in req.environ or req.url_rule is None:
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    decisions = app.extensions["sockreq"].exposed
    endpoint = req.endpoint
    exposed = decisions.get(endpoint)
    if exposed is None:
        view = app.view_functions.get(endpoint)
        blueprints = [app.blueprints.get(name) for name in req.blueprints]
        exposed = is_exposed(view, blueprints, app.extensions["sockreq"].expose_all)
        decisions[endpoint] = exposed
    if not exposed:
        raise NotFound()
