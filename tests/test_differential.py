"""The same requests over HTTP and over a socket give the same answers.

Status, body (JSON parsed, text decoded, bytes as they are) and headers are
compared; only the headers a server adds for its own connection differ.
"""

from __future__ import annotations

import json
import typing as t

import pytest
import requests

#: Headers set by the HTTP server for the connection, not by the app.
SERVER_HEADERS = {
    "date",
    "server",
    "connection",
    "set-cookie",
    "keep-alive",
    "transfer-encoding",
}

#: (method, url, payload data, payload headers)
CASES: list[tuple[str, str, t.Any, dict[str, str]]] = [
    ("get", "/hello/3?x=1&x=2&y=%C3%A9", None, {}),
    ("get", "/list", None, {}),
    ("get", "/text", None, {}),
    ("get", "/html", None, {}),
    ("get", "/charset", None, {}),
    ("get", "/binary", None, {}),
    ("get", "/download.txt", None, {}),
    ("get", "/stream?name=diff", None, {}),
    ("get", "/redirect", None, {}),
    ("get", "/boom", None, {}),
    ("get", "/teapot", None, {}),
    ("get", "/no/such/page", None, {}),
    ("post", "/hello/3", None, {}),
    ("options", "/echo", None, {}),
    ("head", "/hello/3", None, {}),
    ("head", "/binary", None, {}),
    ("get", "/empty", None, {}),
    ("get", "/not-modified", None, {}),
    ("get", "/set-cookie", None, {}),
    ("get", "/environ", None, {}),
    ("get", "/g", None, {}),
    ("post", "/echo?q=1", {"a": [1, 2], "b": {"c": None}}, {}),
    ("put", "/echo", "plain text body", {"Content-Type": "text/plain; charset=utf-8"}),
    (
        "patch",
        "/echo",
        {"a": "1"},
        {"Content-Type": "application/x-www-form-urlencoded"},
    ),
    # Not DELETE /echo: requests sends Content-Length: 0 for a bodyless
    # DELETE and eventlet then fills in Content-Type: text/plain.
    ("delete", "/empty", None, {}),
    ("delete", "/echo?q=2", {"ids": [1, 2]}, {}),
    ("put", "/api/v1/items/5", {"name": "lamp"}, {}),
    ("get", "/things/2", None, {}),
    ("delete", "/things/2", None, {}),
    ("post", "/things/2", None, {}),
]


def http_body(response: requests.Response, method: str) -> t.Any:
    """Decode an HTTP response body the way the JWR is specified."""
    if method == "head" or response.status_code in (204, 304):
        return None
    content_type = response.headers.get("Content-Type", "")
    mimetype, _, params = content_type.partition(";")
    mimetype = mimetype.strip().lower()
    charset = "utf-8"
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip()
    if mimetype == "application/json":
        return response.json()
    if mimetype.startswith("text/") or "charset=" in params.lower():
        return response.content.decode(charset)
    return response.content


def app_headers(headers: t.Mapping[str, str]) -> dict[str, str]:
    return {
        name.lower(): value
        for name, value in headers.items()
        if name.lower() not in SERVER_HEADERS
    }


def http_request(server, method, url, data, headers) -> requests.Response:
    kwargs: dict[str, t.Any] = {"headers": dict(headers), "allow_redirects": False}
    if isinstance(data, str):
        kwargs["data"] = data.encode("utf-8")
    elif data is not None and "form-urlencoded" in headers.get("Content-Type", ""):
        kwargs["data"] = data
    elif data is not None:
        # Compact, as the socket side encodes it, so the bodies are equal.
        kwargs["data"] = json.dumps(data, separators=(",", ":")).encode("utf-8")
        kwargs["headers"]["Content-Type"] = "application/json"
    # The socket client sends no Accept-Encoding: nor should this one.
    kwargs["headers"].setdefault("Accept-Encoding", "identity")
    return requests.request(method.upper(), server.url + url, timeout=5, **kwargs)


@pytest.mark.parametrize(
    ("method", "url", "data", "headers"),
    CASES,
    ids=[f"{method.upper()} {url}" for method, url, _, _ in CASES],
)
def test_same_answer_over_http_and_socket(
    sio_client, server, method, url, data, headers
):
    payload: dict[str, t.Any] = {"url": url}
    if data is not None:
        payload["data"] = data
    if headers:
        payload["headers"] = headers
    jwr = sio_client.call(method, payload, timeout=5)
    response = http_request(server, method, url, data, headers)

    assert jwr["statusCode"] == response.status_code
    expected_body = http_body(response, method)
    assert jwr["body"] == expected_body
    assert type(jwr["body"]) is type(expected_body)
    assert app_headers(jwr["headers"]) == app_headers(response.headers)
