"""``example_app.py`` end to end: the todo page in two headless Chromium
tabs against the app run both ways the README gives, ``python
example_app.py`` (eventlet) and ``flask --app example_app run`` (threading).

The page loads socket.io-client from ``SOCKETIO_JS``: no CDN is reachable
here, so the test serves the npm copy of ``tests/js`` itself.
"""

from __future__ import annotations

import concurrent.futures
import functools
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
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
from tests.helpers import STOP_TIMEOUT
from tests.helpers import TESTS_DIR

if t.TYPE_CHECKING:
    from playwright.sync_api import Browser
    from playwright.sync_api import Page
    from playwright.sync_api import ViewportSize

ROOT = os.path.dirname(TESTS_DIR)
ARTIFACTS = os.path.join(TESTS_DIR, "artifacts")
README_SCREENSHOT = os.path.join(ROOT, "docs", "screenshot.png")
SOCKETIO_DIST = os.path.join(NODE_MODULES, "socket.io-client", "dist")
VIEWPORT: ViewportSize = {"width": 900, "height": 700}
WAIT_MS = 5_000
SCENARIO_TIMEOUT = 120.0
MODES = ("eventlet", "threading")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: t.Any) -> None:
        pass


@pytest.fixture(scope="module")
def socketio_js() -> t.Iterator[str]:
    """The URL of socket.io-client's script, served from this process."""
    handler = functools.partial(_QuietHandler, directory=SOCKETIO_DIST)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/socket.io.min.js"
    server.shutdown()
    server.server_close()
    thread.join(STOP_TIMEOUT)


class ExampleServer:
    """``example_app.py`` in a subprocess, run as the README says."""

    def __init__(self, mode: str, socketio_js: str) -> None:
        self.mode = mode
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if mode == "eventlet":
            command = [sys.executable, "example_app.py"]
        else:
            flask = os.path.join(os.path.dirname(sys.executable), "flask")
            command = [flask, "--app", "example_app", "run", "--port", str(self.port)]
        env = {**os.environ, "SOCKETIO_JS": socketio_js, "PORT": str(self.port)}
        env.pop("FLASK_DEBUG", None)
        self._log = tempfile.NamedTemporaryFile(
            prefix=f"sockreq-example-{mode}-", suffix=".log", delete=False
        )
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
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
    request: pytest.FixtureRequest, socketio_js: str
) -> t.Iterator[ExampleServer]:
    if request.param == "threading":
        flask = os.path.join(os.path.dirname(sys.executable), "flask")
        require(os.path.exists(flask), f"There is no flask command at {flask}.")
    server = ExampleServer(request.param, socketio_js)
    server.wait_ready()
    yield server
    server.stop()


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


def _open(browser: Browser, url: str) -> Page:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    return page


def _two_tabs(browser: Browser, server: ExampleServer, mode: str) -> None:
    from playwright.sync_api import expect

    a = _open(browser, f"{server.url}/")
    b = _open(browser, f"{server.url}/")
    try:
        for page in (a, b):
            expect(page.locator("#state")).to_have_attribute(
                "data-state", "live", timeout=WAIT_MS
            )
            # The list came over the socket, so the tab now watches "todo".
            expect(page.locator("#log")).to_contain_text(
                "GET /todos → 200", timeout=WAIT_MS
            )
            expect(page.locator("#todos li")).to_have_count(2, timeout=WAIT_MS)

        def item(page: Page, title: str) -> t.Any:
            return page.locator("#todos li", has_text=title)

        # Created over A's socket: A renders its answer, B hears a push.
        title = "Write the end-to-end test"
        a.fill("#title", title)
        a.get_by_role("button", name="Add", exact=True).click()
        expect(item(a, title)).to_have_count(1, timeout=WAIT_MS)
        expect(item(b, title)).to_have_count(1, timeout=WAIT_MS)
        expect(a.locator("#title")).to_have_value("", timeout=WAIT_MS)
        todo_id = item(a, title).get_attribute("data-id")

        # Done over B's plain HTTP: the push reaches A all the same.
        b.click("#use-http")
        expect(b.locator("#use-http")).to_have_attribute(
            "aria-pressed", "true", timeout=WAIT_MS
        )
        expect(b.locator("#log span.http")).to_have_count(1, timeout=WAIT_MS)
        item(b, title).get_by_role("checkbox").check()
        expect(b.locator("#log")).to_contain_text(
            f"PATCH /todos/{todo_id} → 200", timeout=WAIT_MS
        )
        expect(a.locator("#todos li.done", has_text=title)).to_have_count(
            1, timeout=WAIT_MS
        )
        expect(item(a, title).get_by_role("checkbox")).to_be_checked(timeout=WAIT_MS)

        # Deleted over A's socket: gone from B.
        item(a, title).get_by_role("button", name="delete").click()
        expect(item(a, title)).to_have_count(0, timeout=WAIT_MS)
        expect(item(b, title)).to_have_count(0, timeout=WAIT_MS)

        # Created by curl: both tabs hear of it.
        curl_title = "Sent with curl"
        response = requests.post(
            f"{server.url}/todos", json={"title": curl_title}, timeout=5
        )
        assert response.status_code == 201, response.text
        for page in (a, b):
            expect(item(page, curl_title)).to_have_count(1, timeout=WAIT_MS)

        # One more done from B, for a screenshot with a done item in it.
        second = "Open this page twice"
        item(b, second).get_by_role("checkbox").check()
        expect(a.locator("#todos li.done", has_text=second)).to_have_count(
            1, timeout=WAIT_MS
        )

        a_log = a.locator("#log")
        expect(a_log).to_contain_text("POST /todos → 201", timeout=WAIT_MS)
        expect(a_log).to_contain_text(f"DELETE /todos/{todo_id} → 204")
        expect(a_log).to_contain_text(f"todo updated #{todo_id}")
        expect(a_log).to_contain_text("todo created #")
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
        with open(os.path.join(ARTIFACTS, f"example-{mode}.png"), "wb") as file:
            file.write(png)
    finally:
        a.context.close()
        b.context.close()


def test_two_tabs(chromium: BrowserThread, example_server: ExampleServer) -> None:
    chromium.run(_two_tabs, chromium.browser, example_server, example_server.mode)
    screenshot = os.path.join(ARTIFACTS, f"example-{example_server.mode}.png")
    assert 0 < os.path.getsize(screenshot) < 100_000
    # The README's picture is taken again only when asked for, since every
    # run differs (port, timings).
    if example_server.mode == "eventlet" and os.environ.get(
        "SOCKREQ_UPDATE_SCREENSHOT"
    ):
        shutil.copyfile(screenshot, README_SCREENSHOT)


def test_validation(example_server: ExampleServer) -> None:
    response = requests.post(
        f"{example_server.url}/todos", json={"title": ""}, timeout=5
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": "Bad Request",
        "message": "A todo needs a non-empty 'title' string.",
    }
    response = requests.patch(
        f"{example_server.url}/todos/999999", json={"done": True}, timeout=5
    )
    assert response.status_code == 404
    assert response.json() == {
        "error": "Not Found",
        "message": "There is no todo 999999.",
    }
