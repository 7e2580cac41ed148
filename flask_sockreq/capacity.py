"""Warnings for server limits that silently stop a process taking sockets.

A live socket holds resources that an HTTP request gives back at once: a
file descriptor, and under eventlet a green thread of the server's pool for
the connection's whole life. Two limits are easy to meet unawares, and past
either one a new socket waits or fails with no error on the server:

- eventlet's WSGI server holds at most ``max_size`` connections, 1,024 by
  default, which is what ``socketio.run()`` uses unless given ``max_size``;
- the process's open-files limit (``ulimit -n``), often 1,024: a socket
  keeps one file descriptor open, two under gevent.

Each check logs one warning per process, naming the setting to change. They
run when the first socket connects (eventlet) or sends its first request.
"""

from __future__ import annotations

import logging
import threading
import typing as t

logger = logging.getLogger("flask_sockreq")

#: Limits at or below this are small enough to warn about: eventlet's default
#: pool and the usual default ``ulimit -n`` are both 1,024.
SMALL_LIMIT = 1024

_warned: set[str] = set()
_lock = threading.Lock()


def _once(key: str) -> bool:
    with _lock:
        if key in _warned:
            return False
        _warned.add(key)
        return True


def check_eventlet_pool() -> None:
    """Warn if the eventlet server running the current green thread has a
    small pool. Call it from a connection's own green thread (as the
    WebSocket upgrade runs in)."""
    if "pool" in _warned:
        return
    size = _current_pool_size()
    if size is not None and size <= SMALL_LIMIT and _once("pool"):
        logger.warning(
            "This eventlet server holds at most %d connections at once, and"
            " each socket keeps one for its whole life: socket %d will wait,"
            " with no error, until another closes. Pass a larger max_size to"
            " socketio.run() or eventlet.wsgi.server(), such as"
            " max_size=20000.",
            size,
            size + 1,
        )


def check_open_files(async_mode: str) -> None:
    """Warn if this process may open few files, under eventlet or gevent (the
    threading mode is for development)."""
    if "files" in _warned or async_mode not in ("eventlet", "gevent"):
        return
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if 0 <= soft <= SMALL_LIMIT and _once("files"):
        logger.warning(
            "This process may open at most %d files, and each socket keeps one"
            " open, so it holds fewer than %d sockets; past that, new"
            " connections fail. Raise the limit before starting the server:"
            " 'ulimit -n %s' in its shell, LimitNOFILE= in a systemd unit, or"
            " resource.setrlimit() at start-up.",
            soft,
            soft,
            hard if hard > soft else 65536,
        )


def _current_pool_size() -> int | None:
    try:
        import eventlet.greenpool
        import eventlet.greenthread
    except ImportError:  # pragma: no cover - only called under eventlet
        return None
    # eventlet.wsgi.server() runs each connection in a green thread spawned by
    # its GreenPool, which links the thread back to itself to free its slot.
    current: t.Any = eventlet.greenthread.getcurrent()
    for link in getattr(current, "_exit_funcs", None) or ():
        pool = getattr(link[0], "__self__", None)
        if isinstance(pool, eventlet.greenpool.GreenPool):
            return int(pool.size)
    return None
