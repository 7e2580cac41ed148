"""What the browser tests need: Chromium, Playwright, node and npm, and the
test-only npm packages of ``tests/js``.

Each is checked with :func:`tests.helpers.require`: the tests skip with the
reason on a developer's machine that lacks it, and fail under
``SOCKREQ_TEST_REQUIRE_ALL=1`` (CI).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import typing as t

from tests.helpers import require
from tests.helpers import SERVE
from tests.helpers import ServerProcess
from tests.helpers import TESTS_DIR

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
]
JS_DIR = os.path.join(TESTS_DIR, "js")
NODE_MODULES = os.path.join(JS_DIR, "node_modules")

if t.TYPE_CHECKING:
    from playwright.sync_api import Browser
    from playwright.sync_api import Page


def require_node() -> str:
    node = shutil.which("node")
    require(node, "node is not installed: the JavaScript tests need Node.js 18+.")
    return str(node)


def require_js_modules() -> None:
    """Install ``tests/js``'s packages with npm unless they are there and
    match ``package-lock.json``."""
    require_node()
    npm = shutil.which("npm")
    require(npm, "npm is not installed: the JavaScript tests need it.")
    marker = os.path.join(NODE_MODULES, ".package-lock.json")
    lock = os.path.join(JS_DIR, "package-lock.json")
    if os.path.exists(marker) and os.path.getmtime(marker) >= os.path.getmtime(lock):
        return
    result = subprocess.run(
        [str(npm), "install", "--no-audit", "--no-fund"],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    require(
        result.returncode == 0,
        f"'npm install' in tests/js failed (no registry access?):\n{result.stderr}",
    )


def require_browser() -> None:
    require(
        os.path.exists(CHROMIUM),
        f"Chromium is not installed at {CHROMIUM}: apt-get install chromium.",
    )
    require(
        importlib.util.find_spec("playwright") is not None,
        "The playwright package is not installed: pip install -e '.[test]'.",
    )


class FixedPortServer(ServerProcess):
    """``tests/serve.py`` on a port chosen by the caller, so that a test can
    stop a server and start another where the first one was."""

    def __init__(self, mode: str, port: int, *options: str) -> None:
        self.mode = mode
        self.options = options
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.host = f"127.0.0.1:{port}"
        self._stderr = tempfile.NamedTemporaryFile(
            prefix=f"sockreq-{mode}-", suffix=".log", delete=False
        )
        self.process = subprocess.Popen(
            [sys.executable, SERVE, "--mode", mode, "--port", str(port), *options],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            cwd=os.path.dirname(TESTS_DIR),
        )
        self.pid = self.process.pid


@contextlib.contextmanager
def chromium() -> t.Iterator[Browser]:
    """Headless Chromium through Playwright, closed on exit: a test module
    launches one and shares it between its tests."""
    require_js_modules()
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser: Browser, server: ServerProcess, path: str = "/page") -> Page:
    """A page of ``server`` in a context of its own (its own cookies)."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{server.url}{path}")
    return page


def rss(pid: int) -> int:
    """The resident memory of a process, in bytes (Linux)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/{pid}/status has no VmRSS line.")
