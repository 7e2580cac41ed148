"""Cookie sync: carry the cookies a socket response set over to the browser.

The browser cannot see the cookies set by a replayed response (they never
reach a script). With ``SOCKREQ_COOKIE_SYNC`` on, such a response carries a
single-use token in its ``X-SockReq-Cookie-Sync`` header (and the URL to
redeem it at, ``SOCKREQ_COOKIE_SYNC_URL`` under the script root, in
``X-SockReq-Cookie-Sync-Url``); the browser client redeems it with one small
HTTP request, whose response sets the same cookies in the browser's own
store.
"""

from __future__ import annotations

import secrets
import threading
import time
import typing as t
from collections import OrderedDict

from flask import current_app
from flask import jsonify
from flask import request
from flask import Response

#: The JWR header that carries the token.
SYNC_HEADER = "X-SockReq-Cookie-Sync"
#: The JWR header that says where to redeem it (``SOCKREQ_COOKIE_SYNC_URL``).
SYNC_URL_HEADER = "X-SockReq-Cookie-Sync-Url"
#: How many unredeemed tokens a process keeps at most.
MAX_PENDING = 10_000


class _Pending(t.NamedTuple):
    sid: str
    set_cookies: list[str]
    expires: float


class CookieSync:
    """The unredeemed tokens of one app, in this process."""

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._lock = threading.Lock()

    def issue(self, sid: str, set_cookies: list[str]) -> str:
        """Keep ``set_cookies`` for the socket ``sid`` under a new token."""
        token = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            # Tokens expire in issue order: drop the stale ones at the front.
            while self._pending:
                oldest = next(iter(self._pending.values()))
                if oldest.expires > now and len(self._pending) < MAX_PENDING:
                    break
                self._pending.popitem(last=False)
            self._pending[token] = _Pending(sid, set_cookies, now + self.max_age)
        return token

    def redeem(self, token: str, sid: str) -> list[str] | None:
        """The cookies for ``token`` if it is live and was issued to ``sid``.
        A token is good for one try only.
        """
        with self._lock:
            pending = self._pending.pop(token, None)
        if pending is None or pending.expires <= time.monotonic():
            return None
        if not secrets.compare_digest(pending.sid, sid):
            return None
        return pending.set_cookies


def redeem_view() -> Response:
    """``GET SOCKREQ_COOKIE_SYNC_URL?token=...&sid=...``: answers 204 with the
    cookies of the token, or 403 if it is unknown, used, expired or was
    issued to another socket.
    """
    sync: CookieSync = current_app.extensions["sockreq"].cookie_sync
    token = request.args.get("token", "")
    sid = request.args.get("sid", "")
    set_cookies = sync.redeem(token, sid) if token and sid else None
    if set_cookies is None:
        response = jsonify(
            error="invalid_token",
            message="The cookie sync token is unknown, used, expired or was"
            " issued to another socket.",
        )
        response.status_code = 403
    else:
        response = Response(status=204)
        for header in set_cookies:
            response.headers.add("Set-Cookie", header)
    response.headers["Cache-Control"] = "no-store"
    return response
