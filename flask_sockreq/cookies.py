"""The cookie jar a socket connection keeps, as a browser keeps one.

Seeded from the handshake's ``Cookie`` header, updated by the ``Set-Cookie``
headers of replayed responses (RFC 6265: expiry, deletion, ``Path`` and
``Domain``), and read for the ``Cookie`` header of every replayed request.

The handshake header is split the way browsers write it and werkzeug reads
it, leniently: a space, an ``@``, a quote or an ``=`` in a cookie does not
lose it, and every value is kept exactly as the browser sent it, so that the
app sees the bytes it would see over HTTP.
"""

from __future__ import annotations

import threading
import time
import typing as t

from werkzeug.http import parse_date

_Key = tuple[str, str, str]  # (domain, path, name)

# The whitespace RFC 6265 strips around names and values. Never str.strip():
# a value is the latin-1 reading of the browser's bytes, and the UTF-8 of
# "à" ends in 0xA0, which str.strip() would take for a space.
_WSP = " \t"

# Taken only while the cookies of a connection's handshake are parsed, at the
# first response that sets a cookie: rare, and never around I/O.
_materialize_lock = threading.Lock()


def _now() -> float:
    return time.time()


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

    Until a response sets a cookie, the jar holds nothing but the handshake
    header it was given, and serves it as it is.

    :param header: The handshake's ``Cookie`` header. Its cookies have no
        known domain or path: they are kept as host cookies for ``/``.
    :param host: The host the connection was made to, without the port.
    """

    __slots__ = ("host", "_header", "_cookies")

    def __init__(self, header: str | None, host: str) -> None:
        self.host = host.lower()
        self._header = header or None
        # None while the jar is pristine: the header is the handshake's.
        self._cookies: dict[_Key, _Cookie] | None = None

    def header_for(self, path: str, secure: bool) -> str | None:
        """The ``Cookie`` header for a request to ``path`` on this host."""
        cookies = self._cookies
        if cookies is None:
            return self._header
        now = _now()
        matches = []
        for key, cookie in list(cookies.items()):
            if cookie.expires is not None and cookie.expires <= now:
                cookies.pop(key, None)
                continue
            if cookie.secure and not secure:
                continue
            if not _path_matches(path, cookie.path):
                continue
            matches.append(cookie)
        if not matches:
            return None
        # Longer paths first, then the older cookies, as browsers send them
        # (RFC 6265, 5.4); a dict keeps a replaced cookie in its old place.
        matches.sort(key=lambda cookie: -len(cookie.path))
        return "; ".join(
            f"{cookie.name}={cookie.value}" if cookie.name else cookie.value
            for cookie in matches
        )

    def update(self, set_cookie_headers: list[str], path: str) -> None:
        """Apply the ``Set-Cookie`` headers of a response to ``path``."""
        for header in set_cookie_headers:
            cookie = _parse_set_cookie(header, self.host, path)
            if cookie is None:
                continue
            cookies = self._cookies
            if cookies is None:
                cookies = self._materialize()
            key = (cookie.domain, cookie.path, cookie.name)
            if cookie.expires is not None and cookie.expires <= _now():
                cookies.pop(key, None)
                if not cookie.host_only:
                    # A handshake cookie of the same name is a host cookie.
                    cookies.pop((self.host, cookie.path, cookie.name), None)
            else:
                cookies[key] = cookie

    def __len__(self) -> int:
        if self._cookies is None:
            return len(parse_cookie_header(self._header))
        return len(self._cookies)

    def _materialize(self) -> dict[_Key, _Cookie]:
        with _materialize_lock:
            cookies = self._cookies
            if cookies is None:
                cookies = {}
                pairs = parse_cookie_header(self._header)
                last = {name: index for index, (name, _) in enumerate(pairs)}
                for index, (name, value) in enumerate(pairs):
                    # A name sent twice comes from two paths or domains the
                    # jar cannot know: browsers send the longer path first,
                    # so the last one is taken for the host cookie for "/",
                    # which a Set-Cookie replaces; the others are kept under
                    # a path no Set-Cookie can name.
                    scope = "/" if last[name] == index else f"#{index}"
                    cookies[(self.host, scope, name)] = _Cookie(
                        name, value, self.host, True, "/", False, None
                    )
                # The header stays: a request racing this one may still
                # have read the jar as pristine.
                self._cookies = cookies
            return cookies


def parse_cookie_header(header: str | None) -> list[tuple[str, str]]:
    """Split a ``Cookie`` header into ``(name, value)`` pairs, in order and
    with duplicates, the values exactly as sent (quotes, spaces, ``=`` and
    all). A pair without ``=`` is a nameless cookie, as browsers send one:
    its name is ``""``.

    :param header: The header, as a WSGI environ holds it (latin-1).
    """
    if not header:
        return []
    pairs = []
    for part in header.split(";"):
        part = part.strip(_WSP)
        if not part:
            continue
        name, sep, value = part.partition("=")
        if sep:
            pairs.append((name.rstrip(_WSP), value.lstrip(_WSP)))
        else:
            pairs.append(("", part))
    return pairs


def _parse_set_cookie(header: str, host: str, request_path: str) -> _Cookie | None:
    name_value, *attributes = header.split(";")
    name, sep, value = name_value.partition("=")
    name = name.strip(_WSP)
    if not sep or not name:
        return None
    value = value.strip(_WSP)
    domain = host
    host_only = True
    path = None
    secure = False
    expires: float | None = None
    max_age: float | None = None
    for attribute in attributes:
        key, _, attr_value = attribute.partition("=")
        key = key.strip(_WSP).lower()
        attr_value = attr_value.strip(_WSP)
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
            digits = attr_value[1:] if attr_value.startswith("-") else attr_value
            if digits.isascii() and digits.isdigit():  # RFC 6265, 5.2.2
                max_age = float(int(attr_value))
        elif key == "expires":
            expires = _parse_expires(attr_value)
    if max_age is not None:  # Max-Age wins over Expires
        expires = _now() + max_age if max_age > 0 else 0.0
    if path is None:
        path = _default_path(request_path)
    return _Cookie(name, value, domain, host_only, path, secure, expires)


def _parse_expires(value: str) -> float | None:
    # werkzeug's parser reads a date without a zone (asctime) or with
    # "-0000" as UTC, as RFC 6265 says, where the standard library's gives a
    # naive datetime that timestamp() would read in local time.
    try:
        date = parse_date(value)
        return None if date is None else date.timestamp()
    except (IndexError, OverflowError, ValueError):
        return None


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
    if host == domain:
        return True
    # An IP address matches only itself (RFC 6265, 5.1.3).
    if ":" in host or host.replace(".", "").isdigit():
        return False
    return host.endswith(f".{domain}")
