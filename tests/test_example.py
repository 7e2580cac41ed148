"""``example_app.py`` end to end: the todo page in headless Chromium tabs
against the app run both ways the README gives, ``python example_app.py``
(eventlet) and ``flask --app example_app run`` (threading), each from a copy
of the file in a directory of its own, so that it starts with no instance
folder, as on a fresh clone. Then ``create_app`` in-process, over both
transports, on a database of the test's own.

The page loads socket.io-client from ``SOCKETIO_JS``: no CDN is reachable
here, so the servers get the path of the npm copy in ``tests/js``, which the
app then serves itself.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import io
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import typing as t

import pytest
import requests

from tests.browser_support import CHROMIUM
from tests.browser_support import CHROMIUM_ARGS
from tests.browser_support import NODE_MODULES
from tests.browser_support import require_browser
from tests.browser_support import require_js_modules
from tests.helpers import free_port
from tests.helpers import require
from tests.helpers import START_TIMEOUT
from tests.helpers import stop_process
from tests.helpers import TESTS_DIR

if t.TYPE_CHECKING:
    from playwright.sync_api import Browser
    from playwright.sync_api import Locator
    from playwright.sync_api import Page
    from playwright.sync_api import ViewportSize

ROOT = os.path.dirname(TESTS_DIR)
EXAMPLE_APP = os.path.join(ROOT, "example_app.py")
ARTIFACTS = os.path.join(TESTS_DIR, "artifacts")
README_SCREENSHOT = os.path.join(ROOT, "docs", "screenshot.png")
SOCKETIO_JS = os.path.join(NODE_MODULES, "socket.io-client", "dist", "socket.io.min.js")
VIEWPORT: ViewportSize = {"width": 900, "height": 700}
WAIT_MS = 5_000
SCENARIO_TIMEOUT = 120.0
MODES = ("eventlet", "threading")
FIRST_TODOS = ["Serve one API over HTTP and sockets", "Open this page twice"]
#: The attachment the browser uploads: a few MB, many chunks over the socket.
UPLOAD_SIZE = 3_000_000
#: Over the example's MAX_CONTENT_LENGTH of 50 MB.
TOO_LARGE = 51_000_000
TOO_LARGE_MESSAGE = "That file is too large: an attachment can be at most 50 MB."


class FirstStart(t.NamedTuple):
    """What a server's first start left: whether its instance folder existed
    before it, the titles in the database file and whether the upload
    folder exists after it."""

    instance_before: bool
    titles: list[str]
    upload_folder: bool


class ExampleServer:
    """``example_app.py`` in a subprocess, run as the README says, from a
    copy of the file in ``directory``."""

    def __init__(self, mode: str, directory: str) -> None:
        self.mode = mode
        self.directory = directory
        self.instance = os.path.join(directory, "instance")
        self.port = free_port()
        #: What the first start found and left, see :meth:`wait_ready`.
        self.first_start: FirstStart | None = None
        self.url = f"http://127.0.0.1:{self.port}"
        shutil.copy(EXAMPLE_APP, directory)
        self._instance_before = os.path.exists(self.instance)
        if mode == "eventlet":
            command = [sys.executable, "example_app.py"]
        else:
            flask = os.path.join(os.path.dirname(sys.executable), "flask")
            command = [flask, "--app", "example_app", "run", "--port", str(self.port)]
        env = {**os.environ, "SOCKETIO_JS": SOCKETIO_JS, "PORT": str(self.port)}
        env.pop("FLASK_DEBUG", None)
        self._log = tempfile.NamedTemporaryFile(
            prefix=f"sockreq-example-{mode}-", suffix=".log", delete=False
        )
        self.process = subprocess.Popen(
            command,
            cwd=directory,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def output(self) -> str:
        with open(self._log.name, encoding="utf-8", errors="replace") as file:
            return file.read()

    def wait_ready(self) -> None:
        """Wait until the app answers, then note what its first start did."""
        self._wait_answer()
        database = os.path.join(self.instance, "todos.sqlite3")
        titles = []
        if os.path.exists(database):
            connection = sqlite3.connect(database)
            try:
                titles = [
                    row[0] for row in connection.execute("SELECT title FROM todo")
                ]
            finally:
                connection.close()
        self.first_start = FirstStart(
            self._instance_before,
            titles,
            os.path.isdir(os.path.join(self.instance, "attachments")),
        )

    def _wait_answer(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if requests.get(f"{self.url}/todos", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        output = self.output
        self.stop()
        raise RuntimeError(
            f"example_app.py ({self.mode}) did not answer GET /todos within"
            f" {START_TIMEOUT}s:\n{output}"
        )

    def stop(self) -> None:
        stop_process(self.process)
        self._log.close()
        os.unlink(self._log.name)


@pytest.fixture(scope="module", params=MODES)
def example_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> t.Iterator[ExampleServer]:
    if request.param == "threading":
        flask = os.path.join(os.path.dirname(sys.executable), "flask")
        require(os.path.exists(flask), f"There is no flask command at {flask}.")
    require(
        os.path.exists(SOCKETIO_JS),
        f"There is no {SOCKETIO_JS}: run 'npm install' in tests/js.",
    )
    server = ExampleServer(request.param, str(tmp_path_factory.mktemp(request.param)))
    server.wait_ready()
    yield server
    output = server.output
    server.stop()
    # Whatever the page did, nothing failed on the server.
    assert "Traceback" not in output, output


def test_first_start(example_server: ExampleServer) -> None:
    """No set-up step: the first start creates the database, with its two
    todos, and the upload folder, in the instance folder."""
    assert example_server.first_start == (False, FIRST_TODOS, True)


class BrowserThread:
    """Headless Chromium, driven from a thread of its own.

    Playwright's sync API refuses to start in a thread where another instance
    runs, and ``test_browser.py`` keeps one for the whole session: this module
    runs its own in a worker thread, and every page call goes through
    :meth:`run`.
    """

    def __init__(self) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="example-chromium"
        )
        self._playwright: t.Any = None
        self.browser: Browser | None = None

    def run(self, function: t.Callable[..., t.Any], *args: t.Any) -> t.Any:
        return self._executor.submit(function, *args).result(SCENARIO_TIMEOUT)

    def start(self) -> None:
        def launch() -> None:
            from playwright.sync_api import sync_playwright

            self._playwright = sync_playwright().start()
            self.browser = self._playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS
            )

        self.run(launch)

    def close(self) -> None:
        def close() -> None:
            if self.browser is not None:
                self.browser.close()
            if self._playwright is not None:
                self._playwright.stop()

        try:
            self.run(close)
        finally:
            self._executor.shutdown(wait=False)


@pytest.fixture(scope="module")
def chromium() -> t.Iterator[BrowserThread]:
    require_js_modules()
    require_browser()
    browser = BrowserThread()
    try:
        browser.start()
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="module")
def too_large_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A file over the upload limit, sparse: it costs no disk."""
    path = tmp_path_factory.mktemp("upload") / "too-large.bin"
    with open(path, "wb") as file:
        file.truncate(TOO_LARGE)
    return str(path)


def _open(browser: Browser, url: str, block_socketio: bool = False) -> Page:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    if block_socketio:
        # As when the CDN cannot be reached.
        page.route(
            "**/socket.io.min.js",
            lambda route: route.fulfill(status=404, body="Not Found"),
        )
    page.goto(url)
    return page


def _item(page: Page, title: str) -> Locator:
    return page.locator("#todos li", has_text=title)


def _download(page: Page, title: str, name: str) -> bytes:
    """Click a todo's attachment link and return the bytes the page offers."""
    with page.expect_download(timeout=WAIT_MS) as info:
        _item(page, title).get_by_role("link", name=name).click()
    download = info.value
    assert download.suggested_filename == name
    with open(download.path(), "rb") as file:
        return file.read()


def _live_changes(a: Page, b: Page, server: ExampleServer) -> None:
    from playwright.sync_api import expect

    # Created over A's socket: A renders its answer, B hears a push.
    title = "Write the end-to-end test"
    a.fill("#title", title)
    a.get_by_role("button", name="Add", exact=True).click()
    expect(_item(a, title)).to_have_count(1)
    expect(_item(b, title)).to_have_count(1)
    expect(a.locator("#title")).to_have_value("")
    todo_id = _item(a, title).get_attribute("data-id")

    # Done over B's plain HTTP: the push reaches A all the same.
    b.click("#use-http")
    expect(b.locator("#use-http")).to_have_attribute("aria-pressed", "true")
    expect(b.locator("#log span.http")).to_have_count(1)
    _item(b, title).get_by_role("checkbox").check()
    expect(b.locator("#log")).to_contain_text(f"PATCH /todos/{todo_id} → 200")
    expect(a.locator("#todos li.done", has_text=title)).to_have_count(1)
    expect(_item(a, title).get_by_role("checkbox")).to_be_checked()

    # Deleted over A's socket: gone from B.
    _item(a, title).get_by_role("button", name="delete").click()
    expect(_item(a, title)).to_have_count(0)
    expect(_item(b, title)).to_have_count(0)
    expect(a.locator("#log")).to_contain_text(f"DELETE /todos/{todo_id} → 204")
    expect(a.locator("#log")).to_contain_text(f"todo updated #{todo_id}")

    # Created by curl: both tabs hear of it.
    curl_title = "Sent with curl"
    response = requests.post(
        f"{server.url}/todos", json={"title": curl_title}, timeout=5
    )
    assert response.status_code == 201, response.text
    for page in (a, b):
        expect(_item(page, curl_title)).to_have_count(1)
    expect(a.locator("#log")).to_contain_text("todo created #")


def _attachments(a: Page, b: Page, server: ExampleServer, too_large: str) -> None:
    from playwright.sync_api import expect

    title = FIRST_TODOS[0]
    data = os.urandom(UPLOAD_SIZE)
    todo_id = _item(a, title).get_attribute("data-id")
    assert todo_id is not None
    url = f"/todos/{todo_id}/attachment"

    # Uploaded over A's socket, with progress up to 100 %: its answer shows
    # the file in A, the "updated" push in B.
    _item(a, title).get_by_label("attach a file").set_input_files(
        {"name": "notes.bin", "mimeType": "application/octet-stream", "buffer": data}
    )
    expect(a.locator("#log")).to_contain_text(f"POST {url} → 200")
    transfer = _item(a, title).locator(".transfer.done")
    expect(transfer).to_contain_text("↑ 100 % · 3.0 MB in ")
    loaded, total = transfer.locator("progress").evaluate("bar => [bar.value, bar.max]")
    # The progress events' count of the whole multipart body, not a value
    # the page set when the answer came.
    assert loaded == total > UPLOAD_SIZE
    for page in (a, b):
        expect(_item(page, title).locator(".file")).to_have_text("notes.bin · 3.0 MB")
    expect(b.locator("#log")).to_contain_text(f"todo updated #{todo_id}")

    # Too large, over A's socket and B's HTTP: the server's 413, in words.
    other = _item(a, FIRST_TODOS[1]).get_attribute("data-id")
    for page, via in ((a, "socket"), (b, "http")):
        row = _item(page, FIRST_TODOS[1])
        row.get_by_label("attach a file").set_input_files(too_large)
        expect(page.locator("#error")).to_have_text(TOO_LARGE_MESSAGE)
        line = page.locator("#log > div").first
        expect(line).to_contain_text(f"POST /todos/{other}/attachment → 413")
        expect(line.locator(f"span.{via}")).to_have_count(1)
        expect(row.locator(".transfer")).to_have_count(0)
        expect(row.locator(".file")).to_have_count(0)

    # Downloaded back, streamed, over A's socket and B's HTTP: the bytes the
    # page offers as a download are those uploaded.
    expected = f"GET {url} → 200"
    for page, via in ((a, "socket"), (b, "http")):
        assert _download(page, title, "notes.bin") == data
        line = page.locator("#log > div").first
        expect(line).to_contain_text(expected)
        expect(line).to_contain_text("· 3.0 MB · sha-256 ok")
        expect(line.locator(f"span.{via}")).to_have_count(1)
        expect(_item(page, title).locator(".transfer.done")).to_contain_text("↓ 100 %")
        expect(page.locator("#error")).to_have_text("")

    # The link is a plain HTTP download too.
    href = _item(b, title).get_by_role("link", name="notes.bin").get_attribute("href")
    assert href == url
    response = requests.get(f"{server.url}{href}", timeout=5)
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["Content-Disposition"] == "attachment; filename=notes.bin"
    todos = requests.get(f"{server.url}/todos", timeout=5).json()
    listed = {todo["id"]: todo for todo in todos}
    assert listed[int(todo_id)]["attachment"] == {
        "name": "notes.bin",
        "size": UPLOAD_SIZE,
        "type": "application/octet-stream",
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def _two_tabs(browser: Browser, server: ExampleServer, too_large: str) -> None:
    from playwright.sync_api import expect

    a = _open(browser, f"{server.url}/")
    b = _open(browser, f"{server.url}/")
    try:
        for page in (a, b):
            expect(page.locator("#state")).to_have_attribute("data-state", "live")
            # The list came over the socket, so the tab now watches "todo".
            expect(page.locator("#log")).to_contain_text("GET /todos → 200")
            expect(page.locator("#todos li")).to_have_count(2)
            expect(page.locator("#notice")).to_be_hidden()

        _live_changes(a, b, server)
        _attachments(a, b, server, too_large)

        # One more done from B, for a screenshot with a done item in it.
        second = FIRST_TODOS[1]
        _item(b, second).get_by_role("checkbox").check()
        expect(a.locator("#todos li.done", has_text=second)).to_have_count(1)

        expect(a.locator("#log")).to_contain_text("POST /todos → 201")
        assert a.locator("#log span.socket").count() >= 3
        assert a.locator("#log span.push").count() >= 3
        assert a.locator("#log span.http").count() == 0
        assert b.locator("#log span.http").count() >= 3
        assert b.locator("#log span.push").count() >= 2
        expect(a.locator("#error")).to_have_text("")
        expect(b.locator("#error")).to_have_text("")

        os.makedirs(ARTIFACTS, exist_ok=True)
        a.mouse.move(0, 0)
        png = a.screenshot(animations="disabled")
        with open(os.path.join(ARTIFACTS, f"example-{server.mode}.png"), "wb") as file:
            file.write(png)
    finally:
        a.context.close()
        b.context.close()


def test_two_tabs(
    chromium: BrowserThread, example_server: ExampleServer, too_large_file: str
) -> None:
    chromium.run(_two_tabs, chromium.browser, example_server, too_large_file)
    screenshot = os.path.join(ARTIFACTS, f"example-{example_server.mode}.png")
    assert 0 < os.path.getsize(screenshot) < 150_000
    # The README's picture is taken again only when asked for, since every
    # run differs (port, timings).
    if example_server.mode == "eventlet" and os.environ.get(
        "SOCKREQ_UPDATE_SCREENSHOT"
    ):
        shutil.copyfile(screenshot, README_SCREENSHOT)


def _without_socketio_client(browser: Browser, server: ExampleServer) -> None:
    from playwright.sync_api import expect

    page = _open(browser, f"{server.url}/", block_socketio=True)
    try:
        notice = page.locator("#notice")
        expect(notice).to_be_visible()
        expect(notice).to_contain_text("socket.io-client could not be loaded from")
        expect(notice).to_contain_text("/vendor/socket.io.min.js")
        expect(notice).to_contain_text("set SOCKETIO_JS to a local copy")
        expect(page.locator("#state")).to_have_text("HTTP only")
        expect(page.locator("#use-socket")).to_be_disabled()
        expect(page.locator("#use-http")).to_have_attribute("aria-pressed", "true")

        # Everything works over HTTP: the list, changes, an upload (with no
        # progress events: window.fetch has none) and its download.
        count = len(requests.get(f"{server.url}/todos", timeout=5).json())
        expect(page.locator("#todos li")).to_have_count(count)
        title = "Made without a socket"
        page.fill("#title", title)
        page.get_by_role("button", name="Add", exact=True).click()
        expect(_item(page, title)).to_have_count(1)
        _item(page, title).get_by_role("checkbox").check()
        expect(page.locator("#todos li.done", has_text=title)).to_have_count(1)
        data = b"plain text over plain HTTP\n"
        _item(page, title).get_by_label("attach a file").set_input_files(
            {"name": "plain.txt", "mimeType": "text/plain", "buffer": data}
        )
        expect(_item(page, title).locator(".file")).to_have_text("plain.txt · 27 B")
        expect(_item(page, title).locator(".transfer.done")).to_contain_text("↑ 100 %")
        assert _download(page, title, "plain.txt") == data
        expect(page.locator("#log")).to_contain_text("· 27 B · sha-256 ok")
        assert page.locator("#log span.http").count() == 5
        assert page.locator("#log span.socket").count() == 0
        expect(page.locator("#error")).to_have_text("")
    finally:
        page.context.close()


def test_without_socketio_client(
    chromium: BrowserThread, example_server: ExampleServer
) -> None:
    chromium.run(_without_socketio_client, chromium.browser, example_server)


def test_validation(example_server: ExampleServer) -> None:
    url = example_server.url
    response = requests.post(f"{url}/todos", json={"title": ""}, timeout=5)
    assert response.status_code == 400
    assert response.json() == {
        "error": "Bad Request",
        "message": "A todo needs a non-empty 'title' string.",
    }
    response = requests.patch(f"{url}/todos/999999", json={"done": True}, timeout=5)
    assert response.status_code == 404
    assert response.json() == {
        "error": "Not Found",
        "message": "There is no todo 999999.",
    }


# In-process: create_app on a database and folder of the test's own, over
# HTTP and over the socket, without a server or a browser.


@pytest.fixture(params=["http", "socket"])
def in_process(
    request: pytest.FixtureRequest, tmp_path: t.Any
) -> t.Iterator[tuple[t.Any, t.Any, t.Any]]:
    import example_app

    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'todos.sqlite3'}",
        "UPLOAD_FOLDER": str(tmp_path / "files"),
        "MAX_CONTENT_LENGTH": 200_000,
    }
    app = example_app.create_app(config)
    client: t.Any
    if request.param == "http":
        client = app.test_client()
    else:
        client = example_app.sockreq.test_client(app)
    try:
        yield app, client, config
    finally:
        if request.param == "socket":
            client.disconnect()
        with app.app_context():
            example_app.db.engine.dispose()


def test_in_process(in_process: tuple[t.Any, t.Any, t.Any], tmp_path: t.Any) -> None:
    import example_app

    app, client, config = in_process
    assert [todo["title"] for todo in client.get("/todos").json] == FIRST_TODOS
    assert os.path.isfile(tmp_path / "todos.sqlite3")

    created = client.post("/todos", json={"title": "  In process  "})
    assert created.status_code == 201
    todo = created.json
    assert todo == {
        "id": 3,
        "title": "In process",
        "done": False,
        "attachment": None,
    }
    errors = [
        (client.post("/todos", data="x", content_type="text/plain"), 400),
        (client.patch("/todos/3", json={"done": "yes"}), 400),
        (client.patch("/todos/3", json={}), 400),
        (client.delete("/todos/99"), 404),
        (client.get("/todos/3/attachment"), 404),
        (client.post("/todos/3/attachment", data={"other": "x"}), 400),
        (
            client.post("/todos/99/attachment", data={"file": (io.BytesIO(b"x"), "a")}),
            404,
        ),
        (
            client.post(
                "/todos/3/attachment",
                data={"file": (io.BytesIO(bytes(300_000)), "big.bin")},
            ),
            413,
        ),
    ]
    for response, status in errors:
        assert response.status_code == status
        assert set(response.json) == {"error", "message"}
    assert errors[-1][0].json["message"] == (
        "That file is too large: an attachment can be at most 0.2 MB."
    )

    data = os.urandom(150_000)
    response = client.post(
        "/todos/3/attachment",
        data={"file": (io.BytesIO(data), "dir/notes.txt", "text/plain")},
    )
    assert response.status_code == 200
    assert response.json["attachment"] == {
        "name": "notes.txt",
        "size": len(data),
        "type": "text/plain",
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    stored = os.path.join(config["UPLOAD_FOLDER"], "3")
    assert os.listdir(config["UPLOAD_FOLDER"]) == ["3"]
    response = client.get("/todos/3/attachment")
    assert response.status_code == 200
    assert response.get_data() == data
    assert response.headers["Content-Disposition"] == "attachment; filename=notes.txt"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    response.close()

    assert client.delete("/todos/3").status_code == 204
    assert not os.path.exists(stored)

    # A second start on the same database keeps its todos, and seeds none.
    client.post("/todos", json={"title": "Kept"})
    again = example_app.create_app(config)
    try:
        with again.test_client() as http:
            titles = [todo["title"] for todo in http.get("/todos").json or ()]
        assert titles == [*FIRST_TODOS, "Kept"]
    finally:
        with again.app_context():
            example_app.db.engine.dispose()
