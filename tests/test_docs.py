"""The documentation is true of the code: README.rst and the pages of docs/.

Every ``.. code-block:: python`` of a page runs, in the page's order, in one
namespace per page: a module, as if the page's code were one file. A block
with ``>>>`` is a doctest whose output must match (with ``...`` matching
anything); any other block is executed. A sample that stops working, or an
output that changes, fails here.

The samples run as a reader would run them under ``flask run``: with
``FLASK_RUN_FROM_CLI`` set, so that ``SocketIO(app)`` takes the threading
mode, in a temporary working directory. A page's blocks may add views after
its doctests have sent requests, as if the reader had put all the page's
definitions in one module first (Flask refuses setup methods after an app's
first request, so the harness lets it take more between blocks).

An rst comment just before a block says how else to run it:

``.. test: skip (why)``
    Not run: it needs what a test here cannot have (a Redis server, an
    entry point that patches the standard library).
``.. test: server``
    A Python block run against the page's app served for real: the page's
    module (its plain Python blocks so far) runs in a subprocess, patched by
    eventlet and served by ``socketio.run(app)``; ``http://127.0.0.1:5000``
    in the block is that server.
``.. test: browser``
    An HTML block loaded in headless Chromium from that server; the
    socket.io-client CDN URL is replaced by the copy in ``tests/js``. It must
    raise no error, and each ``console.log(...)`` line must log what its
    ``// ...`` comment says (double quotes aside, as Chromium shows strings).
``.. test: file NAME``
    Written to the page's working directory as ``NAME`` (a ``conftest.py``)
    instead of being run.

``console`` blocks: ``$ flask ... sockreq ...`` commands run with the page's
``app`` and must print what follows them; ``$ pytest ...`` runs pytest in
the page's working directory, whose test lines (``file::test[id] PASSED``)
must be those shown. Other commands (installing, starting a server) are not
run. JavaScript blocks are not run: the browser tests cover the client, and
the tests below check the options, ``fetch`` members and error codes that
docs/clients.rst names against ``sockreq.js``.

Other statements are checked against the code they describe: every
``SOCKREQ_*`` key and its default (docs/configuration.rst), the
``sockreq:hello`` a server sends (docs/protocol.rst), the extras
(docs/quickstart.rst), the README's commands (the one CI runs, and one that
installs what ``example_app.py`` imports), its links, and that it renders
as PyPI renders it.
"""

from __future__ import annotations

import ast
import configparser
import contextlib
import doctest
import io
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
import time
import types
import typing as t

import pytest
import requests
from flask import Flask

import flask_sockreq.cli
from flask_sockreq.extension import _DEFAULTS
from tests.helpers import free_port
from tests.helpers import require
from tests.helpers import stop_process

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
README = os.path.join(ROOT, "README.rst")
SOCKREQ_JS = os.path.join(ROOT, "flask_sockreq", "static", "sockreq.js")
PAGES = [README] + sorted(
    os.path.join(DOCS, name) for name in os.listdir(DOCS) if name.endswith(".rst")
)
#: The address the samples name for a running server.
SAMPLE_URL = "http://127.0.0.1:5000"
SOCKETIO_CDN = re.compile(r"https://cdn\.socket\.io/[0-9.]+/socket\.io\.min\.js")
SERVER_START_TIMEOUT = 20.0

_DIRECTIVE = re.compile(r"^(?P<indent> *)\.\. code-block:: *(?P<language>\S+) *$")
_MARKER = re.compile(r"^ *\.\. test: *(?P<marker>.+?) *$")


class Block(t.NamedTuple):
    """One code block of a page."""

    path: str
    #: The line of its first line of code, from 1.
    line: int
    language: str
    code: str
    #: The ``.. test:`` comment just before it, if any.
    marker: str | None

    @property
    def where(self) -> str:
        return f"{os.path.relpath(self.path, ROOT)}:{self.line}"


def read_blocks(path: str) -> list[Block]:
    """The ``code-block`` directives of an rst file, in order."""
    with open(path, encoding="utf-8") as file:
        lines = file.read().splitlines()
    blocks = []
    index = 0
    while index < len(lines):
        match = _DIRECTIVE.match(lines[index])
        if match is None:
            index += 1
            continue
        indent = len(match["indent"])
        marker = None
        before = index - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        if before >= 0:
            found = _MARKER.match(lines[before])
            marker = found["marker"] if found else None
        index += 1
        # Options (":caption: ...") and the blank line before the code.
        while index < len(lines) and (
            not lines[index].strip() or lines[index].strip().startswith(":")
        ):
            index += 1
        start = index
        while index < len(lines) and (
            not lines[index].strip()
            or len(lines[index]) - len(lines[index].lstrip()) > indent
        ):
            index += 1
        code = textwrap.dedent("\n".join(lines[start:index])).strip("\n") + "\n"
        blocks.append(Block(path, start + 1, match["language"], code, marker))
    return blocks


def _page_id(path: str) -> str:
    return os.path.relpath(path, ROOT)


# -- running a page ---------------------------------------------------------


class SampleServer:
    """The page's module, served by ``socketio.run`` under eventlet in a
    subprocess, with the harness's own routes for the browser samples."""

    def __init__(self, directory: str, source: str) -> None:
        self.source = source
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        script = os.path.join(directory, f"docs_server_{self.port}.py")
        with open(script, "w", encoding="utf-8") as file:
            file.write(_SERVER_TEMPLATE.format(source=source, port=self.port))
        self.log = open(script + ".log", "w+", encoding="utf-8")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, script],
            cwd=directory,
            env=_server_environ(),
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                requests.get(f"{self.url}/__docs__/ready", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.05)
        output = self.output
        self.stop()
        raise AssertionError(f"The page's app did not start:\n{output}")

    @property
    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        stop_process(self.process)
        self.log.close()


_SERVER_TEMPLATE = """\
import warnings

warnings.filterwarnings("ignore", message=r"\\s*Eventlet is deprecated")

import eventlet

eventlet.monkey_patch()

{source}

import os as _os
import flask as _flask

_PAGES = {{}}


@app.post("/__docs__/page")
def _docs_put_page():
    _PAGES["page"] = _flask.request.get_data(as_text=True)
    return "", 204


@app.get("/__docs__/page")
def _docs_page():
    return _PAGES["page"]


@app.get("/__docs__/ready")
def _docs_ready():
    return "ok"


@app.get("/__docs__/socket.io.min.js")
def _docs_socketio_js():
    return _flask.send_file(_os.environ["DOCS_SOCKETIO_JS"])


socketio.run(app, host="127.0.0.1", port={port}, log_output=False)
"""


def _server_environ() -> dict[str, str]:
    environ = {**os.environ, "DOCS_SOCKETIO_JS": _socketio_js()}
    # Served as 'python app.py' is, not as 'flask run': eventlet, not threads.
    environ.pop("FLASK_RUN_FROM_CLI", None)
    return environ


def _socketio_js() -> str:
    from tests.browser_support import NODE_MODULES

    return os.path.join(NODE_MODULES, "socket.io-client", "dist", "socket.io.min.js")


class PageRun:
    """The state of one page's run: its namespace, working directory, and
    the server and browser its blocks started."""

    def __init__(self, path: str, directory: str, stack: contextlib.ExitStack):
        self.path = path
        self.directory = directory
        self.stack = stack
        name = "docs_" + re.sub(r"\W", "_", _page_id(path))
        module = types.ModuleType(name)
        module.__file__ = os.path.join(directory, f"{name}.py")
        sys.modules[name] = module
        stack.callback(sys.modules.pop, name, None)
        self.namespace = module.__dict__
        #: The plain Python blocks so far: the page's module.
        self.module_source: list[str] = []
        self.server: SampleServer | None = None
        self.browser: t.Any = None
        #: The blocks that could not run here, and why.
        self.skipped: list[str] = []

    def run(self, block: Block) -> None:
        marker = block.marker or ""
        if marker.startswith("skip"):
            return
        if marker.startswith("file "):
            name = marker[len("file ") :].strip()
            with open(os.path.join(self.directory, name), "w", encoding="utf-8") as f:
                f.write(block.code)
            return
        if block.language == "python":
            code = block.code
            if marker == "server":
                code = code.replace(SAMPLE_URL, self.serve().url)
            self.run_python(block, code)
        elif block.language == "console":
            self.run_console(block)
        elif block.language == "html" and marker == "browser":
            self.run_browser(block)

    def run_python(self, block: Block, code: str) -> None:
        if ">>>" in code:
            self.run_doctest(block, code)
            return
        _allow_setup(self.namespace)
        # Blank lines first, so that a traceback names the page's own line.
        source = "\n" * (block.line - 1) + code
        exec(compile(source, block.path, "exec"), self.namespace)
        self.module_source.append(code)

    def run_doctest(self, block: Block, code: str) -> None:
        test = doctest.DocTestParser().get_doctest(
            code, self.namespace, block.where, block.path, block.line - 1
        )
        runner = doctest.DocTestRunner(
            optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
        )
        report = io.StringIO()
        runner.run(test, out=report.write, clear_globs=False)
        # DocTest ran in a copy of the namespace: keep what it defined.
        self.namespace.update(test.globs)
        if runner.failures:
            pytest.fail(f"{block.where}: the doctest failed\n{report.getvalue()}")

    def serve(self) -> SampleServer:
        source = "\n".join(self.module_source)
        if self.server is None or self.server.source != source:
            if self.server is not None:
                self.server.stop()
            self.server = SampleServer(self.directory, source)
            self.stack.callback(self.server.stop)
        return self.server

    def run_console(self, block: Block) -> None:
        for command, expected in _commands(block.code):
            words = shlex.split(command)
            if words[0] == "flask" and "sockreq" in words:
                args = words[words.index("sockreq") + 1 :]
                runner = self.namespace["app"].test_cli_runner()
                result = runner.invoke(flask_sockreq.cli.cli, args)
                assert result.exit_code == 0, result.output
                assert _lines(result.output) == _lines(expected), (
                    f"{block.where}: {command}\n{result.output}"
                )
            elif words[0] == "pytest":
                self.run_pytest(block, words[1:], expected)

    def run_pytest(self, block: Block, args: list[str], expected: str) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=300,
        )
        output = result.stdout + result.stderr
        assert _test_lines(output) == _test_lines(expected), f"{block.where}:\n{output}"

    def run_browser(self, block: Block) -> None:
        from tests.browser_support import chromium

        if self.browser is None:
            try:
                self.browser = self.stack.enter_context(chromium())
            except pytest.skip.Exception as skip:
                # Run the page's other blocks; the test skips at its end.
                self.skipped.append(f"{block.where}: {skip.msg}")
                return
        server = self.serve()
        html = SOCKETIO_CDN.sub("/__docs__/socket.io.min.js", block.code)
        requests.post(f"{server.url}/__docs__/page", data=html, timeout=5)
        expected = [
            comment.replace('"', "")
            for comment in re.findall(r"console\.log\(.*\);\s*//\s*(.+)", block.code)
        ]
        page = self.browser.new_page()
        logged: list[str] = []
        errors: list[str] = []
        page.on(
            "console",
            lambda message: message.type == "log" and logged.append(message.text),
        )
        page.on("pageerror", lambda error: errors.append(str(error)))
        try:
            page.goto(f"{server.url}/__docs__/page")
            deadline = time.monotonic() + 10
            while len(logged) < len(expected) and not errors:
                assert time.monotonic() < deadline, f"{block.where}: logged {logged}"
                page.wait_for_timeout(50)
        finally:
            page.close()
        assert not errors, f"{block.where}: {errors}"
        assert logged == expected, f"{block.where}"


def _allow_setup(namespace: dict[str, t.Any]) -> None:
    """Let the page's apps take more views, as one module defining them all
    would have before its first request."""
    for value in list(namespace.values()):
        if isinstance(value, Flask):
            value._got_first_request = False


def _commands(code: str) -> t.Iterator[tuple[str, str]]:
    """The ``$ command`` lines of a console block, with what follows each."""
    command = None
    output: list[str] = []
    for line in code.splitlines():
        if line.startswith("$ "):
            if command is not None:
                yield command, "\n".join(output)
            command, output = line[2:], []
        elif command is not None:
            output.append(line)
    if command is not None:
        yield command, "\n".join(output)


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip("\n").splitlines()]


def _test_lines(text: str) -> list[str]:
    """pytest's ``-v`` result lines, without their progress column."""
    found = re.findall(
        r"^(\S+::\S+) (PASSED|FAILED|SKIPPED|ERROR|XFAIL|XPASS)", text, re.M
    )
    return [f"{test} {outcome}" for test, outcome in found]


def _pages_with_samples() -> list[str]:
    return [
        path
        for path in PAGES
        if any(
            block.language in ("python", "console", "html")
            for block in read_blocks(path)
        )
    ]


@pytest.mark.parametrize("path", _pages_with_samples(), ids=_page_id)
def test_the_samples_run(
    path: str, tmp_path: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    monkeypatch.chdir(tmp_path)
    with contextlib.ExitStack() as stack:
        run = PageRun(path, str(tmp_path), stack)
        for block in read_blocks(path):
            run.run(block)
    if run.skipped:
        require(False, "; ".join(run.skipped))


# -- statements checked against the code --------------------------------------


def test_configuration_documents_every_key_with_its_default() -> None:
    with open(os.path.join(DOCS, "configuration.rst"), encoding="utf-8") as file:
        text = file.read()
    documented = dict(
        re.findall(r"^\.\. py:data:: (SOCKREQ_\w+)\n\n +Default: ``(.+?)``", text, re.M)
    )
    assert sorted(documented) == sorted(_DEFAULTS)
    for key, default in documented.items():
        assert ast.literal_eval(default) == _DEFAULTS[key], key


def test_the_json_samples_are_json() -> None:
    for path in PAGES:
        for block in read_blocks(path):
            if block.language == "json":
                json.loads(block.code)


def test_the_protocol_page_shows_the_hello_a_server_sends() -> None:
    from flask_socketio import SocketIO

    from flask_sockreq import SockReq
    from flask_sockreq.streams import hello

    app = Flask(__name__)
    SockReq(app, SocketIO(app, async_mode="threading"))
    (sample,) = [
        json.loads(block.code)
        for block in read_blocks(os.path.join(DOCS, "protocol.rst"))
        if block.language == "json" and '"maxInflight"' in block.code
    ]
    assert sample == hello(app.extensions["sockreq"])


def _js_defaults() -> dict[str, str]:
    with open(SOCKREQ_JS, encoding="utf-8") as file:
        source = file.read()
    body = re.search(r"var DEFAULTS = \{(.*?)\};", source, re.S)
    assert body is not None
    return dict(re.findall(r"^\s*(\w+): (.+?),?$", body[1], re.M))


def _clients_page() -> str:
    with open(os.path.join(DOCS, "clients.rst"), encoding="utf-8") as file:
        return file.read()


def test_the_browser_client_options_and_their_defaults() -> None:
    """The table of ``SockReq.connect()`` options in docs/clients.rst: every
    option of ``sockreq.js``, with the default it has there."""
    table = re.search(
        r"^\.\. connect-options\n\n(.*?)\n\n(?=\S)", _clients_page(), re.S | re.M
    )
    assert table is not None, "docs/clients.rst lost its '.. connect-options' table"
    rows = re.findall(r"^``(\w+)``\s+(\S.*?)\s{2,}", table[1], re.M)
    documented = dict(rows)
    with open(SOCKREQ_JS, encoding="utf-8") as file:
        source = file.read()
    defaults = _js_defaults()
    for name, default in defaults.items():
        assert name in documented, f"connect() option {name!r} is not documented"
        assert documented[name] == f"``{default}``", name
    for name, default in documented.items():
        if name not in defaults:
            assert f"options.{name}" in source, f"{name!r} is no connect() option"
            assert default == "—", name


def test_the_fetch_members_and_error_codes_are_documented() -> None:
    with open(SOCKREQ_JS, encoding="utf-8") as file:
        source = file.read()
    page = _clients_page()
    for member in sorted(set(re.findall(r"\binit\.(\w+)", source))):
        assert f"``{member}``" in page, f"fetch() init member {member!r}"
    codes = set(re.findall(r'SockReqError\(\s*"(\w+)"', source))
    codes |= set(re.findall(r'"(\w+)" : "stream_failed"', source))
    assert codes >= {"disconnected", "timeout", "closed", "invalid", "upload_failed"}
    for code in sorted(codes | {"stream_failed"}):
        assert f'``"{code}"``' in page, f"SockReqError code {code!r}"


def test_the_extras_are_those_of_setup_cfg() -> None:
    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "setup.cfg"))
    extras = set(config["options.extras_require"])
    with open(os.path.join(DOCS, "quickstart.rst"), encoding="utf-8") as file:
        table = re.findall(r"^``([\w-]+)`` {2,}", file.read(), re.M)
    assert sorted(table) == sorted(extras)


# -- README.rst ---------------------------------------------------------------


def _readme() -> str:
    with open(README, encoding="utf-8") as file:
        return file.read()


def test_the_readme_renders_without_a_warning() -> None:
    """As PyPI renders ``long_description``: plain docutils, no Sphinx."""
    import docutils.core as docutils_core

    docutils_core.publish_doctree(
        _readme(),
        source_path=README,
        settings_overrides={"report_level": 2, "halt_level": 2},
    )


def test_the_readme_links_to_files_that_exist() -> None:
    targets = re.findall(r"<([^<>:]+?)>`_", _readme())
    targets += re.findall(r"^\.\. (?:image|figure):: (\S+)", _readme(), re.M)
    assert targets
    for target in targets:
        assert os.path.exists(os.path.join(ROOT, target.split("#")[0])), target


def test_the_readme_test_command_is_the_one_ci_runs() -> None:
    command = (
        "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]'"
        " && .venv/bin/python -m pytest"
    )
    assert f"\n    {command}\n" in _readme()
    with open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8") as file:
        assert f"\n{command}\n" in file.read()


#: The distributions that bring the modules example_app.py imports.
_PROVIDERS = {
    "flask": "flask",
    "werkzeug": "werkzeug",
    "flask_socketio": "flask-socketio",
    "socketio": "python-socketio",
    "engineio": "python-engineio",
    "eventlet": "eventlet",
    "gevent": "gevent",
    "flask_sqlalchemy": "flask-sqlalchemy",
    "sqlalchemy": "flask-sqlalchemy",
}


def test_the_readme_install_command_brings_what_the_example_imports() -> None:
    match = re.search(
        r"\n    (python3 -m venv \.venv && \.venv/bin/pip install -e '\.\[([\w,]*)\]'"
        r" && \.venv/bin/python example_app\.py)\n",
        _readme(),
    )
    assert match is not None, "README.rst lost the command that runs example_app.py"
    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "setup.cfg"))
    installed = set()
    for line in config["options"]["install_requires"].split("\n"):
        if line.strip():
            installed.add(re.split(r"[ <>=\[]", line.strip())[0].lower())
    extras = config["options.extras_require"]
    for extra in match[2].split(","):
        for line in extras[extra].split("\n"):
            if line.strip():
                installed.add(re.split(r"[ <>=\[]", line.strip())[0].lower())
    with open(os.path.join(ROOT, "example_app.py"), encoding="utf-8") as file:
        tree = ast.parse(file.read())
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    for module in sorted(modules - set(sys.stdlib_module_names) - {"flask_sockreq"}):
        assert module in _PROVIDERS, f"example_app.py imports {module!r}: add it here"
        assert _PROVIDERS[module] in installed, (
            f"example_app.py imports {module!r}, which the README's command does"
            f" not install ({_PROVIDERS[module]})"
        )
