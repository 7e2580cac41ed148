"""The Sails.js peer: install it on demand and run it as a benchmark server.

The app lives in ``peers/sails/`` (``app.js``, with ``package.json`` and
``package-lock.json`` pinning sails 1.5.18 and sails-hook-sockets 3.0.2). It
serves ``GET /item``, ``POST /echo`` and ``GET /file`` like ``server.py``,
over HTTP and as socket virtual requests. Typical use from a benchmark::

    from peers import sails

    sails.ensure_installed()
    with sails.SailsServer(port) as server:
        ...  # loadgen.py --port PORT --query SDK_QUERY for --mode ws

Sails' socket.io 4 server speaks Engine.IO v4 to ``EIO=4`` clients (it also
accepts v3 ones), so the load generator needs no other protocol; but
sails-hook-sockets refuses every virtual request from a client that does not
announce a sails.io.js SDK version, hence :data:`SDK_QUERY`.

Only the standard library is used, and nothing here runs at import time:
the test suite never installs Node packages.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import tempfile
import time
import typing as t

if t.TYPE_CHECKING:
    from types import TracebackType

HOST = "127.0.0.1"
#: The Sails app: ``app.js``, ``package.json``, ``package-lock.json``.
APP_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sails")
#: The query string sails.io.js 1.2.1 adds to its handshake. Sails reads the
#: SDK version from it and answers every request of a client without one
#: (taken as 0.9) with a 400 parse error instead of serving it.
SDK_QUERY = (
    "__sails_io_sdk_version=1.2.1"
    "&__sails_io_sdk_platform=node"
    "&__sails_io_sdk_language=javascript"
)
#: ``npm ci`` takes about 10 s with a warm cache; a cold one downloads ~10 MB.
INSTALL_TIMEOUT = 600.0
STOP_TIMEOUT = 5.0
MIN_NODE_MAJOR = 18


class SailsError(RuntimeError):
    """Node or npm is missing, the install failed, or the server did not run."""


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SailsError(
            f"'{name}' was not found on PATH. The Sails benchmark peer needs"
            f" Node.js {MIN_NODE_MAJOR} or later with npm; install them, or"
            " leave the Sails peer out of the run."
        )
    return path


def node_version() -> str:
    """The version of ``node`` on PATH, such as ``v20.20.2``."""
    node = _tool("node")
    try:
        out = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SailsError(f"Could not run '{node} --version': {exc}") from exc
    version = out.stdout.strip()
    try:
        major = int(version.lstrip("v").split(".")[0])
    except ValueError:
        raise SailsError(f"'{node} --version' printed {version!r}.") from None
    if major < MIN_NODE_MAJOR:
        raise SailsError(
            f"The Sails benchmark peer needs Node.js {MIN_NODE_MAJOR} or later,"
            f" not {version}."
        )
    return version


def _installed_packages(lock_path: str) -> dict[str, str]:
    """``{"node_modules/x": version}`` from a lockfile, or {} if unreadable."""
    try:
        with open(lock_path, encoding="utf-8") as file:
            lock = json.load(file)
    except (OSError, ValueError):
        return {}
    packages = lock.get("packages", {})
    return {
        path: str(entry.get("version"))
        for path, entry in packages.items()
        if path and not entry.get("dev") and not entry.get("optional")
    }


def is_installed() -> bool:
    """Whether ``node_modules`` holds exactly what ``package-lock.json`` pins.

    npm (7 and later) records the tree it installed in the hidden lockfile
    ``node_modules/.package-lock.json``; comparing the two lockfiles' package
    versions is cheap and catches a missing, partial or outdated install.
    """
    wanted = _installed_packages(os.path.join(APP_DIR, "package-lock.json"))
    if not wanted:
        return os.path.isfile(
            os.path.join(APP_DIR, "node_modules", "sails", "package.json")
        )
    have = _installed_packages(
        os.path.join(APP_DIR, "node_modules", ".package-lock.json")
    )
    return all(have.get(path) == version for path, version in wanted.items())


def versions() -> str:
    """The installed versions, to print next to the figures."""
    found = []
    for name in ("sails", "sails-hook-sockets", "socket.io", "engine.io"):
        path = os.path.join(APP_DIR, "node_modules", name, "package.json")
        try:
            with open(path, encoding="utf-8") as file:
                found.append(f"{name} {json.load(file)['version']}")
        except (OSError, ValueError, KeyError):
            found.append(f"{name} ?")
    return ", ".join(found) + f", node {node_version()}"


def ensure_installed(quiet: bool = True) -> str:
    """Install the app's Node packages if they are missing or stale.

    Runs ``npm ci`` in :data:`APP_DIR` (``npm install`` if there is no
    lockfile), bounded by :data:`INSTALL_TIMEOUT`; does nothing when
    :func:`is_installed` says the tree is current. It needs the npm
    registry only when it installs.

    :param quiet: capture npm's output (shown only if it fails) instead of
        letting it through to the terminal.
    :return: the versions in use, such as ``"sails 1.5.18, sails-hook-sockets
        3.0.2, socket.io 4.8.1, engine.io 6.6.13, node v20.20.2"``.
    :raises SailsError: if node or npm is missing or the install fails.
    """
    node_version()
    npm = _tool("npm")
    if not is_installed():
        has_lock = os.path.isfile(os.path.join(APP_DIR, "package-lock.json"))
        command = [npm, "ci" if has_lock else "install", "--no-audit", "--no-fund"]
        try:
            done = subprocess.run(
                command,
                cwd=APP_DIR,
                stdin=subprocess.DEVNULL,
                capture_output=quiet,
                text=True,
                timeout=INSTALL_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise SailsError(
                f"'npm {command[1]}' in {APP_DIR} did not finish in"
                f" {INSTALL_TIMEOUT:.0f} s; is the npm registry reachable?"
            ) from None
        except OSError as exc:
            raise SailsError(f"Could not run npm in {APP_DIR}: {exc}") from exc
        if done.returncode != 0:
            output = ((done.stdout or "") + (done.stderr or "")).strip()
            raise SailsError(
                f"'npm {command[1]}' failed in {APP_DIR} (exit {done.returncode})."
                + (f" Its last output:\n{output[-2000:]}" if output else "")
            )
        if not is_installed():
            raise SailsError(
                f"'npm {command[1]}' succeeded but {APP_DIR}/node_modules still"
                " does not match package-lock.json."
            )
    return versions()


class SailsServer:
    """The Sails app as a child process on 127.0.0.1 and ``port``.

    ``node`` runs ``app.js`` directly (not through ``npm start``), so
    :attr:`pid` is the server itself: its CPU time and RSS are the app's.
    Its output goes to ``sails.log`` in a temporary directory, removed by
    :meth:`stop` unless ``keep_log`` is set.

    :param port: the TCP port to listen on.
    :param keep_log: leave the log file (see :attr:`log_path`) after stop.
    """

    def __init__(self, port: int, *, keep_log: bool = False) -> None:
        self.port = port
        self.keep_log = keep_log
        self.log_dir = ""
        self.log_path = ""
        self._log: t.IO[bytes] | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise SailsError("The Sails server has not been started.")
        return self._proc.pid

    def start(self) -> None:
        """Start the server; :meth:`wait_ready` then waits until it answers."""
        if self._proc is not None:
            raise SailsError("This Sails server has already been started.")
        if not is_installed():
            raise SailsError(
                f"The Sails app in {APP_DIR} is not installed; call"
                " ensure_installed() first."
            )
        node = _tool("node")
        self.log_dir = tempfile.mkdtemp(prefix="sockreq-bench-sails-log-")
        self.log_path = os.path.join(self.log_dir, "sails.log")
        self._log = open(self.log_path, "wb")
        self._proc = subprocess.Popen(
            [node, "app.js", "--port", str(self.port)],
            cwd=APP_DIR,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until the app says it has lifted and ``GET /item`` answers
        200, at most ``timeout`` seconds.

        :raises SailsError: if the process exits or does not answer in time,
            with the end of its log.
        """
        if self._proc is None:
            raise SailsError("Start the Sails server before waiting for it.")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise SailsError(
                    f"The Sails server exited with {self._proc.returncode}."
                    + self._log_tail()
                )
            if self._lifted() and self._answers():
                return
            time.sleep(0.1)
        raise SailsError(
            f"The Sails server did not answer on port {self.port} within"
            f" {timeout:.0f} s." + self._log_tail()
        )

    def _lifted(self) -> bool:
        # app.js prints this once Sails has lifted; without it a probe could
        # be answered by another server that already holds the port.
        try:
            with open(self.log_path, "rb") as file:
                return b"sails peer ready on %d\n" % self.port in file.read()
        except OSError:
            return False

    def _answers(self) -> bool:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=1.0)
        try:
            conn.request("GET", "/item")
            response = conn.getresponse()
            response.read()
            return response.status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def _log_tail(self) -> str:
        try:
            with open(self.log_path, "rb") as file:
                file.seek(max(0, os.path.getsize(self.log_path) - 2000))
                tail = file.read().decode(errors="replace").strip()
        except OSError:
            return ""
        return f" The end of {self.log_path}:\n{tail}" if tail else ""

    def stop(self) -> None:
        """Terminate the server by PID (SIGTERM lets Sails lower itself),
        kill it if it is still there after :data:`STOP_TIMEOUT` seconds."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_TIMEOUT)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.log_dir and not self.keep_log:
            shutil.rmtree(self.log_dir, ignore_errors=True)

    def __enter__(self) -> SailsServer:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
