"""The cookie jar a socket connection keeps, as a browser keeps one.

Seeded from the handshake's ``Cookie`` header, updated by the ``Set-Cookie``
headers of replayed responses (RFC 6265: expiry, deletion, ``Path`` and
``Domain``), and read for the ``Cookie`` header of every replayed request.
"""

from __future__ import annotations

import threading
import time
import typing as t
from email.utils import parsedate_to_datetime
from http.cookies import SimpleCookie

_Key = tuple[str, str, str]  # (domain, path, name)


class _Cookie(t.NamedTuple):
    name: str
    value: str
    domain: str
    host_only: bool
    path: str
    secure: bool
    expires: float | None


class CookieJar:
    """The cookies of one connection.

    :param header: The handshake's ``Cookie`` header. Its cookies have no
        known domain or path: they are kept as host cookies for ``/``.
    :param host: The host the connection was made to, without the port.
    """

    def __init__(self, header: str | None, host: str) -> None:
        self.host = host.lower()
        self._cookies: dict[_Key, _Cookie] = {}
        self._lock = threading.Lock()
        self._header = header or ""
        # The header is the handshake's as long as nothing was set: that is
        # the common case, and it costs nothing to serve.
        self._pristine = True
        if header:
            parsed = SimpleCookie()
            try:
                parsed.load(header)
            except Exception:  # a malformed header: keep it as sent
                return
            for name, morsel in parsed.items():
                key = (self.host, "/", name)
                self._cookies[key] = _Cookie(
                    name, morsel.coded_value, self.host, True, "/", False, None
                )

    def header_for(self, path: str, secure: bool) -> str | None:
        """The ``Cookie`` header for a request to ``path`` on this host."""
        if self._pristine:
            return self._header or None
        now = time.time()
        matches = []
        with self._lock:
            for key, cookie in list(self._cookies.items()):
                if cookie.expires is not None and cookie.expires <= now:
                    del self._cookies[key]
                    continue
                if cookie.secure and not secure:
                    continue
                if not _path_matches(path, cookie.path):
                    continue
                matches.append(cookie)
        if not matches:
            return None
        # Longer paths first, as browsers send them (RFC 6265, 5.4).
        matches.sort(key=lambda cookie: -len(cookie.path))
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in matches)

    def update(self, set_cookie_headers: list[str], path: str) -> None:
        """Apply the ``Set-Cookie`` headers of a response to ``path``."""
        for header in set_cookie_headers:
            cookie = _parse_set_cookie(header, self.host, path)
            if cookie is None:
                continue
            key = (cookie.domain, cookie.path, cookie.name)
            with self._lock:
                self._pristine = False
                if cookie.expires is not None and cookie.expires <= time.time():
                    self._cookies.pop(key, None)
                    if cookie.host_only is False:
                        # A handshake cookie of the same name is a host cookie.
                        self._cookies.pop((self.host, cookie.path, cookie.name), None)
                else:
                    self._cookies[key] = cookie

    def __len__(self) -> int:
        return len(self._cookies)


def _parse_set_cookie(header: str, host: str, request_path: str) -> _Cookie | None:
    name_value, *attributes = header.split(";")
    name, sep, value = name_value.partition("=")
    name = name.strip()
    if not sep or not name:
        return None
    value = value.strip()
    domain = host
    host_only = True
    path = None
    secure = False
    expires: float | None = None
    max_age: float | None = None
    for attribute in attributes:
        key, _, attr_value = attribute.partition("=")
        key = key.strip().lower()
        attr_value = attr_value.strip()
        if key == "domain" and attr_value:
            candidate = attr_value.lstrip(".").lower()
            if not _domain_matches(host, candidate):
                return None  # a browser ignores a cookie for another domain
            domain = candidate
            host_only = False
        elif key == "path" and attr_value.startswith("/"):
            path = attr_value
        elif key == "secure":
            secure = True
        elif key == "max-age":
            try:
                max_age = float(int(attr_value))
            except ValueError:
                continue
        elif key == "expires":
            try:
                expires = parsedate_to_datetime(attr_value).timestamp()
            except (TypeError, ValueError, IndexError, OverflowError):
                continue
    if max_age is not None:  # Max-Age wins over Expires
        expires = time.time() + max_age if max_age > 0 else 0.0
    if path is None:
        path = _default_path(request_path)
    return _Cookie(name, value, domain, host_only, path, secure, expires)


def _default_path(request_path: str) -> str:
    if not request_path.startswith("/") or request_path.count("/") == 1:
        return "/"
    return request_path[: request_path.rindex("/")]


def _path_matches(request_path: str, cookie_path: str) -> bool:
    if request_path == cookie_path:
        return True
    if request_path.startswith(cookie_path):
        return cookie_path.endswith("/") or request_path[len(cookie_path)] == "/"
    return False


def _domain_matches(host: str, domain: str) -> bool:
    return host == domain or host.endswith(f".{domain}")
