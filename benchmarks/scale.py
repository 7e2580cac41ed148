"""Capacity: N live sockets on one server process, side by side with the floor.

``python benchmarks/scale.py [--sizes 1000,5000,10000]
[--servers floor,sockreq-eventlet,sockreq-gevent,example,gunicorn]
[--client-procs 2]
[--redis] [--json]``

Servers
-------
Each server runs in its own process on a free port of 127.0.0.1, a fresh one
for every N, and is stopped by its PID whatever happens.

``floor``
    A bare python-socketio ``Server(async_mode="eventlet")`` (no Flask) served
    by ``eventlet.wsgi.server`` with its pool raised (``max_size`` 100,000) and a
    listen backlog of 4,096. Its ``get`` handler returns a constant JWR, its
    ``post`` handler puts the socket in the room; ``POST /bench/broadcast``
    calls ``sio.emit(...)``.
``sockreq-eventlet``
    A Flask app with Flask-SocketIO (``async_mode="eventlet"``) and
    ``SockReq(app, socketio)`` in its default configuration, ``GET /item``
    answering a small ``jsonify`` body, ``POST /bench/join`` calling
    ``flask_sockreq.join(request, room)`` and ``POST /bench/broadcast``
    calling ``flask_sockreq.broadcast(room, ...)`` (``blast(...)`` with
    ``--fanout all``), through ``socketio.run(app, ..., max_size=100_000)``
    (its listen backlog is ``eventlet.listen``'s default, 50).
``sockreq-gevent``
    The same app with ``async_mode="gevent"`` (``monkey.patch_all()`` first),
    through ``socketio.run`` (gevent's pywsgi: no pool, backlog 128).
``gunicorn``
    The ``sockreq-gevent`` app under gunicorn as ``docs/deployment.rst``
    recommends: ``gunicorn -k gevent -w 1 --worker-connections 20000`` (its
    default backlog, 2,048). RSS, CPU and descriptors are the worker's.
``example``
    The repository's ``example_app.py`` started as the README says, ``python
    example_app.py`` with ``PORT`` set. The wave asks ``GET /todos`` (which
    also subscribes the socket and makes it watch ``todo``); the broadcast is
    ``POST /todos`` over HTTP, whose ``publish_created`` reaches every
    watching socket. The event's ``t0`` is the driver's clock just before
    that HTTP call and ``call ms`` the call's round trip.

Method
------
1. Start the server, wait (bounded) until it answers HTTP, warm it up with 8
   sockets that each send two requests (and join), one broadcast, then close
   them. Record its RSS (``VmRSS`` from ``/proc/PID/status``).
2. Open N raw Engine.IO v4 / Socket.IO v5 WebSocket connections
   (``/socket.io/?EIO=4&transport=websocket``, then ``40``) from
   ``--client-procs`` client processes, each with at most ``--inflight``
   handshakes in flight, every socket non-blocking on one selector per
   process (framing from ``loadgen.py``); pings (``2``) are answered with
   ``3`` all along. A handshake not done in 15 s counts as not held; when no
   handshake has completed for 10 s the process stops trying and counts the
   rest as not held ("held X of N (stall)": eventlet's default pool of 1,024
   stalls this way, with no error). ``conn s``: from the first connect to the
   last completed handshake.
3. RSS again: ``KiB/sock`` is the growth divided by the sockets held.
4. Two waves: every client process sends ``42<w>["get",{"url":"/item"}]`` on
   each of its sockets at one agreed instant; ``wave s`` is from the first
   send to the last ack (over all processes), ``lost`` the requests with no
   ack after 60 s (or on a closed socket); acks without statusCode 200 are
   counted as ``bad`` in the JSON. ``x floor`` divides the mean of the two
   waves by the floor's at the same N. ``+KiB/sock``: RSS growth over the two
   waves divided by the sockets.
5. Broadcast (one warm-up round, then ``--rounds``): the sockets join one room
   with a socket request (a third wave, ``POST /bench/join``; none with
   ``--fanout all``), then an HTTP request makes the server call
   ``broadcast``/``emit`` with an event carrying the server's
   ``time.time()`` taken just before the call and a round marker. Each client
   process timestamps the read that brought the event on each socket.
   ``p50``/``p99``/``max`` are over all sockets of all measured rounds (max:
   the last socket served); ``x floor`` divides max by the floor's max;
   ``call ms`` is the median time the call took in the server.

``--redis`` adds a case per N: two ``sockreq-eventlet`` processes sharing a
``redis-server`` message queue (started here on a free port, no
persistence), N/2 sockets on each; the broadcast is called on the first and
must reach all N sockets: ``delivered`` is the worst round's count.

Where the time goes
-------------------
The second table gives, per server and N:

* ``fds/sock``: open file descriptors the server gained per socket (1; 2
  under gevent before Flask-SockReq stopped simple-websocket's duplicate);
* ``objs/sock``: objects Python's cyclic collector tracks per connected
  socket, and ``+2 waves`` how many more per socket remain after the waves
  (counted after a ``gc.collect()`` the server runs at each measuring point,
  through ``GET /bench/gc``; not for the example). Every full collection
  walks all of them;
* ``backlog drops``: the kernel's ``TcpExt ListenDrops`` during the connect
  phase (machine-wide): SYNs dropped at a full listen backlog, each retried
  by the client a second or more later;
* ``conn srv``/``srv``: the server's CPU seconds (utime + stime from
  ``/proc/PID/stat``) for the connect phase and per wave, ``gc`` the part of
  it spent in the cyclic garbage collector (``gc.callbacks``), ``srv/wall``
  the server's CPU over the wave's wall time (near 100%: the server is the
  limit);
* ``others``: cores used meanwhile by processes other than the server and
  the clients (``/proc/stat``; the worst wave): above ~0.5 the wall times of
  that row are disturbed, compare CPU seconds instead;
* ``client``: the busiest client process's CPU over the phase's wall time
  (near 100% would mean the client is the limit).

``--gc-threshold G0,G1,G2`` runs ``gc.set_threshold(G0, G1, G2)`` in the
floor and sockreq servers (not the example), to measure what the collector
costs. ``--example-app PATH`` runs another script as the example (an older
``example_app.py`` taken with ``git show``, to show its stall).

Rerun: ``.venv/bin/python benchmarks/scale.py --sizes 1000,5000,10000 --redis``
on an otherwise idle machine (everything on 127.0.0.1; this raises its own
``RLIMIT_NOFILE`` to the hard limit, which the servers inherit: N + a few
hundred must fit under it;
``net.core.somaxconn`` caps every backlog). About 12 minutes for these
sizes. ``--json`` prints the rows as JSON instead of the tables; progress
goes to stderr. Every wait is bounded.
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and "--serve" in sys.argv:
    import warnings

    # eventlet warns that it is deprecated on import; that is not our news.
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    if sys.argv[sys.argv.index("--serve") + 1] == "sockreq-gevent":
        from gevent import monkey

        monkey.patch_all()
    else:
        import eventlet

        eventlet.monkey_patch()

import argparse  # noqa: E402
import base64  # noqa: E402
import errno  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import select  # noqa: E402
import selectors  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from collections.abc import Callable  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from typing import Any  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from loadgen import BenchError  # noqa: E402
from loadgen import ws_frame  # noqa: E402
from loadgen import ws_parse  # noqa: E402

HOST = "127.0.0.1"
SERVERS = (
    "floor",
    "sockreq-eventlet",
    "sockreq-gevent",
    "naive",
    "example",
    "gunicorn",
)
#: The documented gunicorn recipe (docs/deployment.rst).
GUNICORN_CONNECTIONS = 20_000
ITEM = {"id": 1, "name": "widget", "tags": ["a", "b"], "price": 9.5}
ROOM = "scale"
MARK = b"scale-mark-"
#: eventlet's pool (its default, 1,024, is what this benchmark shows stalling).
MAX_SIZE = 100_000
BACKLOG = 4096

READY_TIMEOUT = 30.0
HANDSHAKE_TIMEOUT = 15.0
STALL_TIMEOUT = 10.0
WAVE_TIMEOUT = 60.0
ROUND_TIMEOUT = 30.0
HTTP_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0
REPLY_SLACK = 30.0
WARM_SOCKETS = 8
#: Cores used by other processes during a wave above which it is disturbed.
DISTURBED = 0.5
EXAMPLE_APP = os.path.join(REPO, "example_app.py")
#: The versions printed with the figures.
PACKAGES = (
    "python-socketio",
    "python-engineio",
    "flask-socketio",
    "eventlet",
    "gevent",
    "orjson",
)


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- the servers (``--serve KIND``) ----------------------------------------------


def gc_clock() -> dict[str, float]:
    """Time the server spends in Python's cyclic garbage collector, counted
    from now on: ``{"s": seconds, "runs": n, "full": n of generation 2}``."""
    spent = {"s": 0.0, "runs": 0, "full": 0}
    started = [0.0]

    def clock(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        spent["s"] += time.perf_counter() - started[0]
        spent["runs"] += 1
        spent["full"] += info["generation"] == 2

    gc.callbacks.append(clock)
    return spent


def gc_report(spent: dict[str, float]) -> dict[str, float]:
    """The collector's time so far, and how many live objects it tracks (each
    full collection walks them all): garbage is collected first, a
    collection that is not counted in the time."""
    report = dict(spent)
    gc.collect()
    spent.update(report)
    return {**report, "objects": len(gc.get_objects())}


def serve(kind: str, port: int, message_queue: str | None, channel: str) -> None:
    if kind == "floor":
        serve_floor(port)
    elif kind == "naive":
        serve_naive(port)
    else:
        serve_sockreq(kind.split("-", 1)[1], port, message_queue, channel)


def serve_floor(port: int) -> None:
    import eventlet
    import eventlet.wsgi
    import socketio

    sio = socketio.Server(async_mode="eventlet")
    spent = gc_clock()
    headers = {"Content-Type": "application/json"}
    item = {"body": ITEM, "headers": headers, "statusCode": 200}
    joined = {"body": {"joined": True}, "headers": headers, "statusCode": 200}

    @sio.on("get")  # type: ignore[untyped-decorator]
    def get(sid: str, payload: Any = None) -> dict[str, Any]:
        return item

    @sio.on("post")  # type: ignore[untyped-decorator]
    def post(sid: str, payload: Any = None) -> dict[str, Any]:
        sio.enter_room(sid, ROOM)
        return joined

    def http(
        environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> list[bytes]:
        path = environ["PATH_INFO"]
        if path == "/health":
            body = b"ok"
        elif path == "/bench/gc":
            body = json.dumps(gc_report(spent)).encode()
        elif path == "/bench/broadcast":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            params = json.loads(environ["wsgi.input"].read(length) or b"{}")
            t0 = time.time()
            data = {"t0": t0, "mark": params["mark"]}
            sio.emit("tick", data, to=params.get("room"))
            body = json.dumps({"t0": t0, "call": time.time() - t0}).encode()
        else:
            start_response("404 Not Found", [("Content-Length", "0")])
            return []
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]

    listener = eventlet.listen((HOST, port), backlog=BACKLOG)
    eventlet.wsgi.server(
        listener, socketio.WSGIApp(sio, http), log_output=False, max_size=MAX_SIZE
    )


def serve_naive(port: int) -> None:
    """python-socketio and Flask glued by hand, no Flask-SockReq: the ``get``
    handler runs ``GET /item`` through ``app.wsgi_app`` on an environ made
    from the handshake's."""
    import io

    import eventlet
    import eventlet.wsgi
    import socketio
    from flask import Flask
    from flask import jsonify

    app = Flask(__name__)
    sio = socketio.Server(async_mode="eventlet")
    spent = gc_clock()
    keep = (
        "SERVER_NAME",
        "SERVER_PORT",
        "SERVER_PROTOCOL",
        "REMOTE_ADDR",
        "wsgi.url_scheme",
        "wsgi.errors",
        "wsgi.version",
        "wsgi.multithread",
        "wsgi.multiprocess",
        "wsgi.run_once",
        "HTTP_HOST",
        "HTTP_COOKIE",
    )

    @app.get("/item")
    def item() -> Any:
        return jsonify(ITEM)

    @sio.on("get")  # type: ignore[untyped-decorator]
    def get(sid: str, payload: Any = None) -> dict[str, Any]:
        handshake = sio.get_environ(sid)
        environ = {key: handshake[key] for key in keep if key in handshake}
        environ.update(
            REQUEST_METHOD="GET",
            PATH_INFO=payload["url"],
            QUERY_STRING="",
            SCRIPT_NAME="",
        )
        environ["wsgi.input"] = io.BytesIO()
        response: list[Any] = []

        def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
            response[:] = [int(status[:3]), dict(headers)]

        chunks = app.wsgi_app(environ, start_response)
        try:
            body = json.loads(b"".join(chunks))
        finally:
            getattr(chunks, "close", lambda: None)()
        return {"body": body, "headers": response[1], "statusCode": response[0]}

    @sio.on("post")  # type: ignore[untyped-decorator]
    def post(sid: str, payload: Any = None) -> dict[str, Any]:
        sio.enter_room(sid, ROOM)
        return {"body": {"joined": True}, "headers": {}, "statusCode": 200}

    def http(
        environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> list[bytes]:
        path = environ["PATH_INFO"]
        if path == "/health":
            body = b"ok"
        elif path == "/bench/gc":
            body = json.dumps(gc_report(spent)).encode()
        elif path == "/bench/broadcast":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            params = json.loads(environ["wsgi.input"].read(length) or b"{}")
            t0 = time.time()
            sio.emit("tick", {"t0": t0, "mark": params["mark"]}, to=params.get("room"))
            body = json.dumps({"t0": t0, "call": time.time() - t0}).encode()
        else:
            start_response("404 Not Found", [("Content-Length", "0")])
            return []
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]

    listener = eventlet.listen((HOST, port), backlog=BACKLOG)
    eventlet.wsgi.server(
        listener, socketio.WSGIApp(sio, http), log_output=False, max_size=MAX_SIZE
    )


def sockreq_app(
    async_mode: str, message_queue: str | None = None, channel: str = ""
) -> tuple[Any, Any]:
    """The Flask app of the sockreq servers and its SocketIO."""
    from flask import Flask
    from flask import jsonify
    from flask import request
    from flask_socketio import SocketIO

    import flask_sockreq

    app = Flask(__name__)
    options: dict[str, Any] = {}
    if message_queue:
        options = {"message_queue": message_queue, "channel": channel}
    socketio = SocketIO(app, async_mode=async_mode, **options)
    flask_sockreq.SockReq(app, socketio)

    spent = gc_clock()

    @app.get("/health")
    def health() -> str:
        return "ok"

    @app.get("/bench/gc")
    def gc_spent() -> dict[str, float]:
        return gc_report(spent)

    @app.get("/item")
    def item() -> Any:
        return jsonify(ITEM)

    @app.post("/bench/join")
    def join() -> dict[str, bool]:
        flask_sockreq.join(request, ROOM)
        return {"joined": True}

    @app.post("/bench/broadcast")
    def broadcast() -> dict[str, float]:
        params = request.get_json()
        t0 = time.time()
        data = {"t0": t0, "mark": params["mark"]}
        if params.get("room"):
            flask_sockreq.broadcast(params["room"], "tick", data)
        else:
            flask_sockreq.blast("tick", data)
        return {"t0": t0, "call": time.time() - t0}

    return app, socketio


def serve_sockreq(
    async_mode: str, port: int, message_queue: str | None, channel: str
) -> None:
    app, socketio = sockreq_app(async_mode, message_queue, channel)
    extra = {"max_size": MAX_SIZE} if async_mode == "eventlet" else {}
    socketio.run(app, host=HOST, port=port, log_output=False, **extra)


def gunicorn_app() -> Any:
    """The sockreq app for gunicorn's gevent worker (``scale:gunicorn_app()``),
    which has patched the standard library before it imports this."""
    threshold = os.environ.get("SCALE_GC_THRESHOLD")
    if threshold:
        gc.set_threshold(*(int(n) for n in threshold.split(",")))
    return sockreq_app("gevent")[0]


# -- the client: N raw sockets on one selector -------------------------------------

CONNECTING, UPGRADING, OPENING, JOINING, HELD = range(5)


class Link:
    """One raw Engine.IO / Socket.IO WebSocket connection."""

    __slots__ = ("sock", "fd", "buf", "state", "started", "index", "acked", "alive")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.buf = bytearray()
        self.state = CONNECTING
        self.started = time.monotonic()
        self.index = -1
        self.acked = False
        self.alive = True


class Swarm:
    """Many raw Socket.IO connections read through one selector.

    :param targets: ``(port, count)`` pairs: how many sockets to open where.
    :param inflight: Handshakes in flight at once.
    """

    def __init__(self, targets: Sequence[tuple[int, int]], inflight: int = 64) -> None:
        self.targets = list(targets)
        self.inflight = inflight
        self.sel = selectors.DefaultSelector()
        self.held: list[Link] = []
        self.closed = 0
        self.now = time.time()
        #: round marker -> {socket index: time.time() the event was read}
        self.marks: dict[int, dict[int, float]] = {}
        key = base64.b64encode(os.urandom(16)).decode()
        self._upgrade = {
            port: (
                "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                f"Host: {HOST}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
            for port, _ in self.targets
        }
        self._pong = ws_frame(b"3")

    @property
    def alive(self) -> int:
        return len(self.held) - self.closed

    # connect ----------------------------------------------------------------

    def connect(
        self,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
        stall_timeout: float = STALL_TIMEOUT,
        limit: float = 120.0,
    ) -> dict[str, Any]:
        """Open every socket; return what was held and how long it took."""
        ports = [port for port, count in self.targets for _ in range(count)]
        ports.reverse()
        wanted = len(ports)
        pending: dict[int, tuple[Link, int]] = {}
        errors: dict[str, int] = {}
        first = time.time()
        last = first
        deadline = time.monotonic() + limit
        progress = time.monotonic()
        stalled = False
        cpu0 = cpu_self()

        def fail(link: Link, reason: str) -> None:
            errors[reason] = errors.get(reason, 0) + 1
            pending.pop(link.fd, None)
            self._close(link)

        while ports or pending:
            while ports and len(pending) < self.inflight:
                port = ports.pop()
                try:
                    link = self._open(port)
                except OSError as exc:
                    reason = exc.strerror or str(exc)
                    errors[reason] = errors.get(reason, 0) + 1
                    continue
                pending[link.fd] = (link, port)
            now = time.monotonic()
            if now > deadline or now - progress > stall_timeout:
                stalled = True
                break
            for key, _ in self.sel.select(0.1):
                link = key.data
                if not link.alive:
                    continue
                if link.state == HELD:
                    self._pump(link)
                    continue
                try:
                    done = self._handshake(link, pending[link.fd][1])
                except (OSError, BenchError) as exc:
                    fail(link, str(exc))
                    continue
                if done:
                    del pending[link.fd]
                    link.index = len(self.held)
                    self.held.append(link)
                    last = self.now
                    progress = time.monotonic()
            now = time.monotonic()
            for link, _ in list(pending.values()):
                if now - link.started > handshake_timeout:
                    fail(link, "handshake timed out")
        for link, _ in list(pending.values()):
            self._close(link)
        if pending:
            errors["in flight when stopped"] = len(pending)
        if ports:
            errors["never tried"] = len(ports)
        return {
            "wanted": wanted,
            "held": self.alive,
            "not_held": wanted - self.alive,
            "stalled": stalled,
            "pending_at_stop": len(pending),
            "first": first,
            "last": last,
            "errors": errors,
            "cpu": cpu_self() - cpu0,
            "wall": time.time() - first,
        }

    def _open(self, port: int) -> Link:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        err = sock.connect_ex((HOST, port))
        link = Link(sock)
        if err == 0:
            self._send(link, self._upgrade[port])
            link.state = UPGRADING
            self.sel.register(sock, selectors.EVENT_READ, link)
        elif err in (errno.EINPROGRESS, errno.EAGAIN):
            self.sel.register(sock, selectors.EVENT_WRITE, link)
        else:
            sock.close()
            raise OSError(err, os.strerror(err))
        return link

    def _handshake(self, link: Link, port: int) -> bool:
        sock = link.sock
        if link.state == CONNECTING:
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise OSError(err, os.strerror(err))
            self._send(link, self._upgrade[port])
            link.state = UPGRADING
            self.sel.modify(sock, selectors.EVENT_READ, link)
            return False
        data = sock.recv(65536)
        if not data:
            raise BenchError("the server closed the connection during the handshake")
        self.now = time.time()
        buf = link.buf
        buf += data
        if link.state == UPGRADING:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return False
            status = bytes(buf[: buf.find(b"\r\n")])
            if b" 101 " not in status + b" ":
                raise BenchError(f"upgrade refused: {status[:60]!r}")
            del buf[: end + 4]
            link.state = OPENING
        for opcode, payload in ws_parse(buf):
            if opcode == 8:
                raise BenchError("the server closed the WebSocket during the handshake")
            if opcode != 1:
                continue
            if payload == b"2":
                self._send(link, self._pong)
            elif link.state == OPENING:
                if not payload.startswith(b"0{"):
                    raise BenchError(f"expected an Engine.IO open: {payload[:60]!r}")
                self._send(link, ws_frame(b"40"))
                link.state = JOINING
            elif link.state == JOINING:
                if not payload.startswith(b"40"):
                    raise BenchError(f"expected a Socket.IO connect: {payload[:60]!r}")
                link.state = HELD
        return link.state == HELD

    # reading ----------------------------------------------------------------

    def _send(self, link: Link, data: bytes) -> None:
        if link.sock.send(data) != len(data):
            raise BenchError("short send (a full socket buffer)")

    def _close(self, link: Link) -> None:
        if not link.alive:
            return
        link.alive = False
        if link.state == HELD:
            self.closed += 1
        try:
            self.sel.unregister(link.sock)
        except (KeyError, ValueError):
            pass
        link.sock.close()

    def _pump(self, link: Link) -> list[bytes] | None:
        """Read a held socket: answer pings, timestamp marked events, and
        return the other text payloads (None once the socket is closed)."""
        try:
            data = link.sock.recv(262144)
        except BlockingIOError:
            return []
        except OSError:
            data = b""
        self.now = now = time.time()
        if not data:
            self._close(link)
            return None
        link.buf += data
        texts = []
        for opcode, payload in ws_parse(link.buf):
            if opcode == 1:
                if payload == b"2":
                    self._send(link, self._pong)
                    continue
                if payload[:2] == b"42":
                    at = payload.find(MARK)
                    if at >= 0:
                        start = at + len(MARK)
                        end = start
                        while payload[end : end + 1].isdigit():
                            end += 1
                        marks = self.marks.setdefault(int(payload[start:end]), {})
                        marks.setdefault(link.index, now)
                texts.append(payload)
            elif opcode == 9:
                self._send(link, ws_frame(payload, 10))
            elif opcode == 8:
                self._close(link)
                return None
        return texts

    def idle(self, fd: int, timeout: float) -> bool:
        """Keep the sockets served until ``fd`` is readable (True) or
        ``timeout`` passes (False)."""
        self.sel.register(fd, selectors.EVENT_READ, None)
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                for key, _ in self.sel.select(1.0):
                    if key.data is None:
                        return True
                    self._pump(key.data)
            return False
        finally:
            self.sel.unregister(fd)

    # waves and broadcasts -----------------------------------------------------

    def wave(
        self,
        wave_id: int,
        url: str | Sequence[str],
        at: float = 0.0,
        timeout: float = WAVE_TIMEOUT,
        method: str = "get",
        keep: bool = False,
    ) -> dict[str, Any]:
        """Send one request on every held socket at ``at`` (``time.time()``);
        wait (bounded) for every ack.

        :param url: One URL, or one per held socket (by index).
        :param keep: Return the ack payloads by socket index.
        """
        links = [link for link in self.held if link.alive]
        urls = [url] * len(self.held) if isinstance(url, str) else list(url)
        frames = [
            ws_frame(
                b'42%d["%s",{"url":%s}]'
                % (wave_id, method.encode(), json.dumps(urls[link.index]).encode())
            )
            for link in links
        ]
        prefix = b"43%d[" % wave_id
        for link in links:
            link.acked = False
        time.sleep(max(0.0, at - time.time()))
        cpu0 = cpu_self()
        first = time.time()
        for link, frame in zip(links, frames, strict=True):
            try:
                self._send(link, frame)
            except OSError:
                self._close(link)
        last_send = time.time()
        waiting = sum(1 for link in links if link.alive)
        acked = bad = 0
        last_ack = first
        payloads: dict[int, bytes] = {}
        deadline = time.monotonic() + timeout
        while waiting:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            for key, _ in self.sel.select(min(1.0, remaining)):
                link = key.data
                texts = self._pump(link)
                if texts is None:
                    if not link.acked:
                        waiting -= 1
                    continue
                for payload in texts:
                    if link.acked or not payload.startswith(prefix):
                        continue
                    link.acked = True
                    acked += 1
                    waiting -= 1
                    last_ack = self.now
                    if b'"statusCode":200' not in payload.replace(b" ", b""):
                        bad += 1
                    if keep:
                        payloads[link.index] = payload
        result: dict[str, Any] = {
            "sent": len(links),
            "acked": acked,
            "lost": len(links) - acked,
            "bad": bad,
            "first": first,
            "last_send": last_send,
            "last_ack": last_ack,
            "cpu": cpu_self() - cpu0,
        }
        if keep:
            result["payloads"] = payloads
        return result

    def collect(self, mark: int, timeout: float = ROUND_TIMEOUT) -> dict[str, Any]:
        """Wait (bounded) until every live socket has had the event marked
        ``mark``; return the read times."""
        cpu0 = cpu_self()
        start = time.time()
        deadline = time.monotonic() + timeout
        got = self.marks.setdefault(mark, {})
        while len(got) < self.alive:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            for key, _ in self.sel.select(min(1.0, remaining)):
                self._pump(key.data)
        times = list(self.marks.pop(mark).values())
        return {
            "times": times,
            "missing": max(0, self.alive - len(times)),
            "cpu": cpu_self() - cpu0,
            "wall": time.time() - start,
        }

    def close(self) -> None:
        for link in self.held:
            self._close(link)
        self.sel.close()


def client_main(targets: list[tuple[int, int]], inflight: int) -> None:
    """A client process: commands on stdin, one JSON reply per line."""
    swarm = Swarm(targets, inflight)
    stdin = sys.stdin.fileno()
    pending = b""

    def reply(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    reply({"ready": True})
    try:
        while True:
            while b"\n" not in pending:
                if not swarm.idle(stdin, 600.0):
                    raise BenchError("no word from the driver in 600 s")
                data = os.read(stdin, 65536)
                if not data:
                    return
                pending += data
            line, _, pending = pending.partition(b"\n")
            command = json.loads(line)
            name = command.pop("cmd")
            if name == "exit":
                return
            if name == "connect":
                reply(swarm.connect(**command))
            elif name == "wave":
                reply(swarm.wave(**command))
            elif name == "collect":
                reply(swarm.collect(**command))
            else:
                raise BenchError(f"unknown command {name!r}")
    finally:
        swarm.close()


# -- the driver ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise BenchError(f"{what} within {timeout:.0f}s")


def http(port: int, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://{HOST}:{port}{path}",
        data=data,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
        return json.loads(response.read() or b"null")


def proc_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as file:
        for line in file:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError(f"no VmRSS for PID {pid}")


def proc_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as file:
        fields = file.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def listen_drops() -> int:
    """The kernel's count of connections dropped at a full listen backlog
    (``TcpExt: ListenDrops``, machine-wide)."""
    with open("/proc/net/netstat") as file:
        lines = file.readlines()
    for names, values in zip(lines[::2], lines[1::2], strict=True):
        if names.startswith("TcpExt:"):
            fields = dict(zip(names.split(), values.split(), strict=True))
            return int(fields.get("ListenDrops", 0))
    return 0


def machine_busy() -> float:
    """CPU seconds all processes have used, all cores together, and the time
    stolen by the hypervisor (interrupts left out: loopback traffic is ours)."""
    with open("/proc/stat") as file:
        ticks = [int(field) for field in file.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = ticks
    busy = user + nice + system + steal
    return busy / os.sysconf("SC_CLK_TCK")


def gunicorn_worker(arbiter: int) -> int:
    """The PID of the one worker of a gunicorn arbiter."""
    path = f"/proc/{arbiter}/task/{arbiter}/children"
    with open(path) as file:
        children = [int(pid) for pid in file.read().split()]
    if len(children) != 1:
        raise BenchError(f"gunicorn {arbiter} has workers {children}, not one")
    return children[0]


class Process:
    """A subprocess stopped by its PID; its output goes to a log file."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.log = tempfile.NamedTemporaryFile(prefix="sockreq-scale-", suffix=".log")
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env=env,
        )
        self.pid = self.proc.pid

    def tail(self, lines: int = 15) -> str:
        with open(self.log.name, errors="replace") as file:
            return "".join(file.readlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
        self.log.close()


class Server(Process):
    """One server under test."""

    def __init__(
        self,
        kind: str,
        message_queue: str | None = None,
        channel: str = "",
        example_app: str = EXAMPLE_APP,
        gc_threshold: str | None = None,
    ) -> None:
        self.kind = kind
        self.port = free_port()
        env = None
        if kind == "example":
            args = [sys.executable, example_app]
            env = {**os.environ, "PORT": str(self.port)}
        elif kind == "gunicorn":
            args = [
                os.path.join(os.path.dirname(sys.executable), "gunicorn"),
                *("-k", "gevent", "-w", "1"),
                *("--worker-connections", str(GUNICORN_CONNECTIONS)),
                *("-b", f"{HOST}:{self.port}", "--chdir", HERE),
                "scale:gunicorn_app()",
            ]
            env = {**os.environ, "SCALE_GC_THRESHOLD": gc_threshold or ""}
        else:
            args = [sys.executable, __file__, "--serve", kind, "--port", str(self.port)]
            if message_queue:
                args += ["--message-queue", message_queue, "--channel", channel]
            if gc_threshold:
                args += ["--gc-threshold", gc_threshold]
        super().__init__(args, env)
        try:
            wait_for(self._ready, READY_TIMEOUT, f"the {kind} server did not answer")
            if kind == "gunicorn":
                # Measure the worker, which serves; the arbiter only watches.
                self.pid = gunicorn_worker(self.proc.pid)
        except BaseException:
            self.stop()
            raise

    @property
    def wave_url(self) -> str:
        return "/todos" if self.kind == "example" else "/item"

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise BenchError(f"the {self.kind} server exited:\n{self.tail()}")
        try:
            path = "/todos" if self.kind == "example" else "/health"
            with urllib.request.urlopen(f"http://{HOST}:{self.port}{path}", timeout=1):
                return True
        except OSError:
            return False

    def broadcast(self, mark: int, room: str | None) -> tuple[float, float]:
        """Make the server broadcast round ``mark``: (t0, call seconds)."""
        label = f"{MARK.decode()}{mark}"
        if self.kind == "example":
            t0 = time.time()
            http(self.port, "/todos", {"title": label})
            return t0, time.time() - t0
        reply = http(self.port, "/bench/broadcast", {"mark": label, "room": room})
        return float(reply["t0"]), float(reply["call"])

    def gc(self) -> dict[str, float] | None:
        """The server's garbage collector time so far and the objects it
        tracks (None for the example, which has no route to tell)."""
        if self.kind == "example":
            return None
        try:
            return dict(http(self.port, "/bench/gc"))
        except OSError:  # a server that no longer answers HTTP
            return None

    def rss(self) -> int:
        return proc_rss_kib(self.pid)

    def cpu(self) -> float:
        return proc_cpu(self.pid)


def start_redis() -> tuple[Process, str]:
    port = free_port()
    redis = Process(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            HOST,
            "--save",
            "",
            "--appendonly",
            "no",
        ]
    )

    def ready() -> bool:
        try:
            with socket.create_connection((HOST, port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    try:
        wait_for(ready, READY_TIMEOUT, "redis-server did not answer")
    except BaseException:
        redis.stop()
        raise
    return redis, f"redis://{HOST}:{port}/0"


class Client:
    """A client process (``--client``) driven over its stdin and stdout."""

    def __init__(self, targets: list[tuple[int, int]], inflight: int) -> None:
        spec = ",".join(f"{port}:{count}" for port, count in targets)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--client",
                "--targets",
                spec,
                "--inflight",
                str(inflight),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.pid = self.proc.pid
        self.buf = b""

    def send(self, cmd: str, **options: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"cmd": cmd, **options}).encode() + b"\n")
        self.proc.stdin.flush()

    def reply(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BenchError(f"no reply from client process {self.pid}")
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                data = os.read(fd, 1 << 20)
                if not data:
                    raise BenchError(f"client process {self.pid} exited")
                self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return dict(json.loads(line))

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("exit")
                self.proc.wait(STOP_TIMEOUT)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.terminate()
                try:
                    self.proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(STOP_TIMEOUT)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


class Clients:
    """``procs`` client processes sharing the sockets of ``targets``."""

    def __init__(
        self, targets: list[tuple[int, int]], procs: int, inflight: int
    ) -> None:
        self.procs: list[Client] = []
        try:
            for n in range(procs):
                share = [
                    (port, count // procs + (1 if n < count % procs else 0))
                    for port, count in targets
                ]
                self.procs.append(Client(share, inflight))
            self.all(READY_TIMEOUT)
        except BaseException:
            self.stop()
            raise

    def all(
        self, wait: float, cmd: str = "", /, **options: Any
    ) -> list[dict[str, Any]]:
        """Send ``cmd`` to every process (if given); wait for their replies."""
        if cmd:
            for client in self.procs:
                client.send(cmd, **options)
        return [client.reply(wait) for client in self.procs]

    def stop(self) -> None:
        for client in self.procs:
            client.stop()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Case:
    """One server kind at one N: everything measured, in order."""

    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        self.wave_ids = iter(range(1, 1_000_000))
        self.marks = iter(range(1, 1_000_000))

    def warm_up(self, server: Server, room: str | None) -> None:
        swarm = Swarm([(server.port, WARM_SOCKETS)], inflight=WARM_SOCKETS)
        try:
            held = swarm.connect(limit=30.0)["held"]
            if held != WARM_SOCKETS:
                raise BenchError(f"{server.kind}: only {held} warm-up sockets held")
            for _ in range(2):
                wave = swarm.wave(next(self.wave_ids), server.wave_url, timeout=30.0)
                if wave["lost"] or wave["bad"]:
                    raise BenchError(f"{server.kind}: the warm-up requests failed")
            if room:
                swarm.wave(next(self.wave_ids), "/bench/join", method="post")
            mark = next(self.marks)
            server.broadcast(mark, room)
            swarm.collect(mark, timeout=10.0)
        finally:
            swarm.close()
        time.sleep(0.5)

    def connect(self, clients: Clients, limit: float) -> dict[str, Any]:
        replies = clients.all(
            limit + REPLY_SLACK,
            "connect",
            handshake_timeout=HANDSHAKE_TIMEOUT,
            stall_timeout=STALL_TIMEOUT,
            limit=limit,
        )
        errors: dict[str, int] = {}
        for reply in replies:
            for reason, count in reply["errors"].items():
                errors[reason] = errors.get(reason, 0) + count
        held = sum(reply["held"] for reply in replies)
        return {
            "held": held,
            "stalled": any(reply["stalled"] for reply in replies),
            "connect_s": max(r["last"] for r in replies)
            - min(r["first"] for r in replies),
            "connect_errors": errors,
            "connect_client_cpu": max(r["cpu"] / r["wall"] for r in replies),
        }

    def wave(
        self, clients: Clients, server: Server, url: str, method: str = "get"
    ) -> dict[str, Any]:
        at = time.time() + 0.3
        server_cpu = server.cpu()
        busy = machine_busy()
        window = time.monotonic()
        replies = clients.all(
            WAVE_TIMEOUT + REPLY_SLACK,
            "wave",
            wave_id=next(self.wave_ids),
            url=url,
            at=at,
            timeout=WAVE_TIMEOUT,
            method=method,
        )
        server_cpu = server.cpu() - server_cpu
        busy = machine_busy() - busy
        window = time.monotonic() - window
        client_cpu = sum(r["cpu"] for r in replies)
        first = min(r["first"] for r in replies)
        last = max(r["last_ack"] for r in replies)
        return {
            "s": last - first,
            "server_cpu": server_cpu,
            "other_cores": max(0.0, busy - server_cpu - client_cpu) / window,
            "send_s": max(r["last_send"] for r in replies) - first,
            "lost": sum(r["lost"] for r in replies),
            "bad": sum(r["bad"] for r in replies),
            "client_cpu": max(r["cpu"] for r in replies) / max(last - first, 1e-9),
        }

    def broadcasts(
        self, clients: Clients, server: Server, room: str | None, expected: int
    ) -> dict[str, Any]:
        latencies: list[float] = []
        calls: list[float] = []
        delivered: list[int] = []
        error = None
        for number in range(self.options.rounds + 1):  # round 0 warms up
            mark = next(self.marks)
            try:
                t0, call = server.broadcast(mark, room)
            except OSError as exc:
                error = f"the HTTP call that broadcasts got no answer ({exc})"
                break
            replies = clients.all(
                ROUND_TIMEOUT + REPLY_SLACK, "collect", mark=mark, timeout=ROUND_TIMEOUT
            )
            times = [at for reply in replies for at in reply["times"]]
            if number:
                latencies += [at - t0 for at in times]
                calls.append(call)
                delivered.append(len(times))
            time.sleep(0.2)
        result: dict[str, Any] = {"bc_error": error}
        if latencies:
            result.update(
                bc_p50=percentile(latencies, 0.50) * 1000,
                bc_p99=percentile(latencies, 0.99) * 1000,
                bc_max=max(latencies) * 1000,
                bc_call=statistics.median(calls) * 1000,
                bc_delivered=min(delivered),
                bc_expected=expected,
            )
        return result

    def run(self, kind: str, size: int) -> dict[str, Any]:
        options = self.options
        room = ROOM if options.fanout == "room" else None
        if kind == "example":
            room = None
        row: dict[str, Any] = {"server": kind, "N": size, **conditions()}
        server = Server(
            kind, example_app=options.example_app, gc_threshold=options.gc_threshold
        )
        clients: Clients | None = None
        try:
            self.warm_up(server, room)
            server.gc()  # its first answer allocates: before the baseline
            clients = Clients(
                [(server.port, size)], options.client_procs, options.inflight
            )
            gc0 = server.gc()
            rss0 = server.rss()
            cpu0 = server.cpu()
            fds0 = proc_fds(server.pid)
            drops0 = listen_drops()
            row.update(self.connect(clients, connect_limit(size)))
            row["connect_server_cpu"] = server.cpu() - cpu0
            row["listen_drops"] = listen_drops() - drops0
            time.sleep(0.5)
            rss1 = server.rss()
            gc1 = server.gc()
            gc_connect = gc_delta(gc0, gc1)
            row["connect_gc_s"] = gc_connect.get("s")
            rss1_after_gc_call = server.rss()
            held = row["held"]
            row["fds_per_socket"] = (proc_fds(server.pid) - fds0) / max(held, 1)
            if gc_connect:
                row["gc_objects_per_socket"] = gc_connect["objects"] / max(held, 1)
            row["rss_before_mib"] = rss0 / 1024
            row["rss_kib_per_socket"] = (rss1 - rss0) / max(held, 1)
            if not held:
                return row
            waves = [self.wave(clients, server, server.wave_url) for _ in range(2)]
            time.sleep(0.5)
            rss2 = server.rss()
            gc_waves = gc_delta(gc1, server.gc())
            if gc_waves:
                row["wave_gc_s"] = gc_waves["s"] / 2
                row["wave_gc_full"] = gc_waves["full"] / 2
                row["gc_objects_growth_per_socket"] = gc_waves["objects"] / held
            row["wave_server_cpu"] = statistics.mean(w["server_cpu"] for w in waves)
            row["wave_other_cores"] = max(w["other_cores"] for w in waves)
            row["waves_s"] = [wave["s"] for wave in waves]
            row["wave_s"] = statistics.mean(row["waves_s"])
            row["wave_send_s"] = max(wave["send_s"] for wave in waves)
            row["lost"] = sum(wave["lost"] for wave in waves)
            row["bad"] = sum(wave["bad"] for wave in waves)
            row["wave_client_cpu"] = max(wave["client_cpu"] for wave in waves)
            # From after the /bench/gc call, whose answer allocates too.
            row["rss_growth_kib_per_socket"] = (rss2 - rss1_after_gc_call) / held
            row["rss_after_mib"] = rss2 / 1024
            if room:
                join = self.wave(clients, server, "/bench/join", method="post")
                row["join_s"] = join["s"]
                row["lost"] += join["lost"]
            row.update(self.broadcasts(clients, server, room, held))
        finally:
            if row.get("connect_errors") or row.get("lost") or row.get("bc_error"):
                row["server_log"] = server.tail()
                if "Too many open files" in row["server_log"]:
                    row["note"] = "the server ran out of file descriptors (EMFILE)"
            server.stop()
            if clients:
                clients.stop()
        return row

    def run_redis(self, redis_url: str, size: int) -> dict[str, Any]:
        options = self.options
        room = ROOM if options.fanout == "room" else None
        channel = f"scale-{os.getpid()}-{size}"
        row: dict[str, Any] = {
            "server": "sockreq-eventlet x2, redis",
            "N": size,
            **conditions(),
        }
        servers: list[Server] = []
        clients: Clients | None = None
        try:
            for _ in range(2):
                servers.append(
                    Server(
                        "sockreq-eventlet",
                        redis_url,
                        channel,
                        gc_threshold=options.gc_threshold,
                    )
                )
            for server in servers:
                self.warm_up(server, room)
            half = size // 2
            targets = [(servers[0].port, size - half), (servers[1].port, half)]
            clients = Clients(targets, options.client_procs, options.inflight)
            row.update(self.connect(clients, connect_limit(size)))
            if room:
                join = self.wave(clients, servers[0], "/bench/join", method="post")
                row["join_s"] = join["s"]
                row["lost"] = join["lost"]
            row.update(self.broadcasts(clients, servers[0], room, row["held"]))
        finally:
            for server in servers:
                server.stop()
            if clients:
                clients.stop()
        return row


def gc_delta(
    before: dict[str, float] | None, after: dict[str, float] | None
) -> dict[str, float]:
    """What changed from ``before`` to ``after`` ({} when the server cannot
    tell)."""
    if before is None or after is None:
        return {}
    return {key: after[key] - before[key] for key in before}


def connect_limit(size: int) -> float:
    return max(60.0, size / 100)


# -- output --------------------------------------------------------------------


def add_ratios(rows: list[dict[str, Any]]) -> None:
    floors = {row["N"]: row for row in rows if row["server"] == "floor"}
    for row in rows:
        floor = floors.get(row["N"])
        if floor is None or floor["held"] < floor["N"] or row["held"] < row["N"]:
            continue
        if "wave_s" in row and "wave_s" in floor:
            row["wave_x_floor"] = row["wave_s"] / floor["wave_s"]
        if "bc_max" in row and "bc_max" in floor:
            row["bc_x_floor"] = row["bc_max"] / floor["bc_max"]


def cell(row: dict[str, Any], key: str, spec: str) -> str:
    value = row.get(key)
    return "-" if value is None else format(value, spec)


def held_cell(row: dict[str, Any]) -> str:
    if row["held"] == row["N"]:
        return str(row["held"])
    return f"{row['held']} of {row['N']}" + (" (stall)" if row.get("stalled") else "")


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"{'server':<18} {'N':>6} {'held':>22} {'conn s':>7} {'KiB/sock':>8}"
        f" {'wave s (1/2)':>12} {'x floor':>7} {'lost':>5} {'+KiB/sock':>9}"
        f" {'bc p50':>7} {'p99':>7} {'max ms':>7} {'x floor':>7} {'call ms':>7}"
    ]
    disturbed = False
    for row in rows:
        waves = "/".join(f"{s:.2f}" for s in row.get("waves_s", [])) or "-"
        if row.get("wave_other_cores", 0) > DISTURBED:
            waves += "*"
            disturbed = True
        lines.append(
            f"{row['server']:<18} {row['N']:>6} {held_cell(row):>22}"
            f" {cell(row, 'connect_s', '.1f'):>7}"
            f" {cell(row, 'rss_kib_per_socket', '.1f'):>8} {waves:>12}"
            f" {cell(row, 'wave_x_floor', '.2f'):>7} {cell(row, 'lost', 'd'):>5}"
            f" {cell(row, 'rss_growth_kib_per_socket', '.1f'):>9}"
            f" {cell(row, 'bc_p50', '.0f'):>7} {cell(row, 'bc_p99', '.0f'):>7}"
            f" {cell(row, 'bc_max', '.0f'):>7} {cell(row, 'bc_x_floor', '.2f'):>7}"
            f" {cell(row, 'bc_call', '.0f'):>7}"
        )
        for note in (row.get("note"), row.get("bc_error")):
            if note:
                lines.append(f"{'':<18} {'':>6} {note}")
    if disturbed:
        lines.append(
            f"* other processes used more than {DISTURBED} of a core during"
            " these waves: compare their server CPU seconds, not wall times."
        )
    return "\n".join(lines)


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def time_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "where the time goes: server CPU s (per wave), of which in Python's"
        " garbage collector (gc), and its share of the wave;"
        " cores used by other processes meanwhile (worst wave); busiest client"
        " process as % of wall",
        f"{'server':<18} {'N':>6} {'fds/sock':>8} {'objs/sock':>9} {'+2 waves':>8}"
        f" {'backlog drops':>13} {'conn srv':>8} {'gc':>5}"
        f" {'client':>6} {'wave s':>7} {'srv':>6} {'gc':>5} {'srv/wall':>8}"
        f" {'others':>6} {'client':>6}",
    ]
    for row in rows:
        share = None
        if row.get("wave_s"):
            share = row["wave_server_cpu"] / row["wave_s"]
        lines.append(
            f"{row['server']:<18} {row['N']:>6}"
            f" {cell(row, 'fds_per_socket', '.2f'):>8}"
            f" {cell(row, 'gc_objects_per_socket', '.0f'):>9}"
            f" {cell(row, 'gc_objects_growth_per_socket', '.0f'):>8}"
            f" {cell(row, 'listen_drops', 'd'):>13}"
            f" {cell(row, 'connect_server_cpu', '.1f'):>8}"
            f" {cell(row, 'connect_gc_s', '.1f'):>5}"
            f" {percent(row.get('connect_client_cpu')):>6}"
            f" {cell(row, 'wave_s', '.2f'):>7}"
            f" {cell(row, 'wave_server_cpu', '.2f'):>6}"
            f" {cell(row, 'wave_gc_s', '.2f'):>5} {percent(share):>8}"
            f" {cell(row, 'wave_other_cores', '.2f'):>6}"
            f" {percent(row.get('wave_client_cpu')):>6}"
        )
    return "\n".join(lines)


def redis_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"{'2 processes via redis':<26} {'N':>6} {'held':>14} {'delivered':>10}"
        f" {'bc p50':>7} {'p99':>7} {'max ms':>7} {'call ms':>7}"
    ]
    for row in rows:
        lines.append(
            f"{'sockreq-eventlet x2':<26} {row['N']:>6} {held_cell(row):>14}"
            f" {cell(row, 'bc_delivered', 'd'):>10} {cell(row, 'bc_p50', '.0f'):>7}"
            f" {cell(row, 'bc_p99', '.0f'):>7} {cell(row, 'bc_max', '.0f'):>7}"
            f" {cell(row, 'bc_call', '.0f'):>7}"
        )
        if row.get("bc_error"):
            lines.append(f"{'':<26} {row['bc_error']}")
    return "\n".join(lines)


def conditions() -> dict[str, Any]:
    """What may differ between the rows of one run: the code measured (other
    work may commit meanwhile) and the machine's load."""
    return {"commit": commit(), "load": round(os.getloadavg()[0], 2)}


def commit() -> str:
    """The repository's commit, ``+dirty`` when the code measured has
    uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "flask_sockreq", "example_app.py"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return head + ("+dirty" if dirty else "")


def describe() -> dict[str, Any]:
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "commit": commit(),
        **versions,
    }


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--serve", choices=SERVERS[:4], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--message-queue", help=argparse.SUPPRESS)
    parser.add_argument("--channel", default="", help=argparse.SUPPRESS)
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--targets", help=argparse.SUPPRESS)
    parser.add_argument(
        "--sizes", default="1000,5000,10000", help="socket counts (default %(default)s)"
    )
    parser.add_argument(
        "--servers",
        default=",".join(SERVERS),
        help="servers to measure (default %(default)s)",
    )
    parser.add_argument(
        "--client-procs", type=int, default=2, help="client processes (default 2)"
    )
    parser.add_argument(
        "--inflight",
        type=int,
        default=64,
        help="handshakes in flight per client process (default 64)",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="measured broadcast rounds (default 3)"
    )
    parser.add_argument(
        "--fanout",
        choices=("room", "all"),
        default="room",
        help="broadcast to a room all sockets joined, or emit/blast to all",
    )
    parser.add_argument(
        "--redis", action="store_true", help="add the 2-process Redis case"
    )
    parser.add_argument(
        "--example-app",
        default=EXAMPLE_APP,
        help="the script the example server runs (default: the repository's)",
    )
    parser.add_argument(
        "--gc-threshold",
        metavar="G0,G1,G2",
        help="gc.set_threshold() in the floor and sockreq servers (not the example)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON rows")
    args = parser.parse_args()
    raise_nofile()
    if args.serve:
        if args.gc_threshold:
            gc.set_threshold(*(int(n) for n in args.gc_threshold.split(",")))
        serve(args.serve, args.port, args.message_queue, args.channel)
        return
    if args.client:
        targets = [
            (int(port), int(count))
            for port, count in (item.split(":") for item in args.targets.split(","))
        ]
        client_main(targets, args.inflight)
        return
    kinds = [kind for kind in args.servers.split(",") if kind]
    unknown = set(kinds) - set(SERVERS)
    if unknown:
        parser.error(f"unknown servers {sorted(unknown)}; choose from {SERVERS}")
    kinds.sort(key=lambda kind: kind != "floor")  # the floor first
    sizes = [int(size) for size in args.sizes.split(",")]
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if max(sizes) + 200 > limit:
        parser.error(f"N={max(sizes)} needs more file descriptors than {limit}")
    if args.redis and not shutil.which("redis-server"):
        parser.error("--redis needs redis-server on the PATH")
    meta = describe()
    log(f"scale: {json.dumps(meta)}")
    case = Case(args)
    rows: list[dict[str, Any]] = []
    redis_rows: list[dict[str, Any]] = []
    for size in sizes:
        for kind in kinds:
            log(f"{kind} N={size} ...")
            row = case.run(kind, size)
            rows.append(row)
            log(json.dumps(row))
    if args.redis:
        redis, url = start_redis()
        try:
            for size in sizes:
                log(f"redis N={size} ...")
                row = case.run_redis(url, size)
                redis_rows.append(row)
                log(json.dumps(row))
        finally:
            redis.stop()
    add_ratios(rows)
    if args.json:
        print(json.dumps({"meta": meta, "rows": rows, "redis": redis_rows}, indent=2))
        return
    print(
        f"N sockets per server, {args.client_procs} client processes; {meta}",
        flush=True,
    )
    print(table(rows))
    print()
    print(time_table(rows))
    if redis_rows:
        print()
        print(redis_table(redis_rows))


if __name__ == "__main__":
    try:
        main()
    except BenchError as exc:
        print(f"scale: {exc}", file=sys.stderr)
        sys.exit(1)
