"""The ``flask sockreq`` commands: what answers over the socket, and the
configuration it runs with.

.. code-block:: text

    $ flask --app example_app sockreq routes
    $ flask --app example_app sockreq config --json

Installing Flask-SockReq registers the group through the ``flask.commands``
entry point; no code in the app is needed.
"""

from __future__ import annotations

import json
import typing as t
from operator import itemgetter

import click
from flask import current_app
from flask.cli import AppGroup

from .exposure import is_exposed
from .extension import _DEFAULTS
from .protocol import METHODS

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask
    from werkzeug.routing import Rule

    from .extension import SockReqState

#: The HTTP methods a socket request can have.
SOCKET_METHODS = frozenset(method.upper() for method in METHODS)

cli = AppGroup(
    "sockreq",
    help="Flask-SockReq: which routes answer over the socket, and its settings.",
)


@cli.command("routes", short_help="Show the routes and which answer over the socket.")
@click.option(
    "--sort",
    "-s",
    type=click.Choice(("endpoint", "methods", "domain", "rule", "match", "socket")),
    default="endpoint",
    help=(
        "Method to sort routes by. 'match' is the order that Flask will match routes"
        " when dispatching a request."
    ),
)
@click.option("--all-methods", is_flag=True, help="Show HEAD and OPTIONS methods.")
def routes_command(sort: str, all_methods: bool) -> None:
    """Show all registered routes with endpoints and methods, as
    ``flask routes`` does, and whether each answers socket requests.

    The Socket column says "yes", with the methods in parentheses when only
    some of the route's go over a socket, or "no" and why: excluded (an
    ``exclude`` mark on the view, its View class or a blueprint), not
    exposed (``SOCKREQ_EXPOSE_ALL`` is False and no ``expose`` mark lets it
    on), method (none of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS), or
    Socket.IO path. Routes of Flask-SockReq itself say so.
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    state = _state(app)
    rules = list(app.url_map.iter_rules())

    if not rules:
        click.echo("No routes were registered.")
        return

    ignored_methods = set() if all_methods else {"HEAD", "OPTIONS"}
    host_matching = app.url_map.host_matching
    has_domain = any(rule.host if host_matching else rule.subdomain for rule in rules)
    rows = []

    for rule in rules:
        row = [
            rule.endpoint,
            ", ".join(sorted((rule.methods or set()) - ignored_methods)),
        ]

        if has_domain:
            row.append((rule.host if host_matching else rule.subdomain) or "")

        row.append(rule.rule)
        row.append(socket_answer(app, state, rule, ignored_methods))
        rows.append(row)

    headers = ["Endpoint", "Methods"]
    sorts = ["endpoint", "methods"]

    if has_domain:
        headers.append("Host" if host_matching else "Subdomain")
        sorts.append("domain")

    headers.extend(("Rule", "Socket"))
    sorts.extend(("rule", "socket"))

    try:
        rows.sort(key=itemgetter(sorts.index(sort)))
    except ValueError:
        pass

    rows.insert(0, headers)
    widths = [max(len(row[i]) for row in rows) for i in range(len(headers))]
    rows.insert(1, ["-" * w for w in widths])
    template = "  ".join(f"{{{i}:<{w}}}" for i, w in enumerate(widths))

    for row in rows:
        click.echo(template.format(*row).rstrip())


@cli.command("config", short_help="Show the effective SOCKREQ_* settings.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def config_command(as_json: bool) -> None:
    """Show every ``SOCKREQ_*`` value of the app's config, sorted by key.

    Values are Python literals (JSON with ``--json``). A key Flask-SockReq
    does not know, such as a misspelt one, is marked: it has no effect.
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    _state(app)
    values = {
        key: app.config[key] for key in sorted(app.config) if key.startswith("SOCKREQ_")
    }

    if as_json:
        click.echo(json.dumps(values, indent=2, default=repr))
        return

    width = max(len(key) for key in values)
    for key, value in values.items():
        line = f"{key:<{width}}  {value!r}"
        if key not in _DEFAULTS:
            line += "  (unknown key, no effect)"
        click.echo(line)


def socket_answer(
    app: Flask, state: SockReqState, rule: Rule, ignored_methods: t.Collection[str]
) -> str:
    """Whether ``rule`` answers socket requests, for the Socket column: "yes"
    or "no", then details in parentheses.

    :param ignored_methods: Methods not shown, as for the Methods column.
    """
    notes: list[str] = []
    methods = rule.methods or set()
    socket_methods = methods & SOCKET_METHODS
    path = state.socketio_path
    view = app.view_functions.get(rule.endpoint)
    blueprints = [app.blueprints.get(name) for name in blueprint_names(rule.endpoint)]

    if rule.rule.startswith(path) or rule.rule == path.rstrip("/"):
        answer = "no"
        notes.append("Socket.IO path")
    elif not socket_methods:
        answer = "no"
        notes.append("method")
    elif not is_exposed(view, blueprints, state.expose_all):
        answer = "no"
        marked = is_exposed(view, blueprints, True) == is_exposed(
            view, blueprints, False
        )
        notes.append("excluded" if marked else "not exposed")
    else:
        answer = "yes"
        shown = methods - set(ignored_methods)
        shown_socket = (socket_methods & shown) or socket_methods
        if shown_socket != shown:
            notes.append(", ".join(sorted(shown_socket)))

    if getattr(view, "__module__", "").partition(".")[0] == __package__:
        notes.append("Flask-SockReq")

    return f"{answer} ({'; '.join(notes)})" if notes else answer


def blueprint_names(endpoint: str) -> list[str]:
    """The blueprints of an endpoint, innermost first, as Flask's
    ``request.blueprints`` gives them: ``"a.b.view"`` is in ``["a.b", "a"]``.
    """
    name = endpoint.rpartition(".")[0]
    names = []
    while name:
        names.append(name)
        name = name.rpartition(".")[0]
    return names


def _state(app: Flask) -> SockReqState:
    state: SockReqState | None = app.extensions.get("sockreq")
    if state is None:
        raise click.ClickException(
            f"Flask-SockReq is not set up on the app {app.name!r}: call"
            " 'SockReq(app, socketio)' or 'sockreq.init_app(app)' where the app"
            " is created, then run the command again."
        )
    return state
