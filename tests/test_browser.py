# ruff: noqa: E501 (the page scripts are JavaScript, in long lines)
"""The browser client, ``sockreq.js``, in headless Chromium against real
servers, and sails.io.js (through the shim) in Node.js.

One browser per module, one server per mode; each test gets a fresh page.
The streams, the queue and the resubscription are in test_browser_streams.py.
"""

from __future__ import annotations

import json
import subprocess
import typing as t

import pytest

from tests.browser_support import chromium
from tests.browser_support import FixedPortServer
from tests.browser_support import JS_DIR
from tests.browser_support import open_page
from tests.browser_support import require_js_modules
from tests.browser_support import require_node
from tests.helpers import free_port
from tests.helpers import MODES
from tests.helpers import ServerProcess

if t.TYPE_CHECKING:
    from playwright.sync_api import Browser
    from playwright.sync_api import Page


@pytest.fixture(scope="session")
def js_modules() -> None:
    require_js_modules()


@pytest.fixture(scope="module")
def browser(js_modules: None) -> t.Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="session")
def browser_server(start_server: t.Callable[..., ServerProcess]) -> ServerProcess:
    """The browser app in threading mode, for the tests that need one mode."""
    return start_server("threading", "--app", "browser", "--no-access-log")


@pytest.fixture(scope="session", params=MODES)
def mode_server(
    start_server: t.Callable[..., ServerProcess], request: pytest.FixtureRequest
) -> ServerProcess:
    """The browser app in each mode."""
    return start_server(request.param, "--app", "browser", "--no-access-log")


@pytest.fixture
def page(browser: Browser, browser_server: ServerProcess) -> t.Iterator[Page]:
    page = open_page(browser, browser_server)
    yield page
    page.context.close()


# The page code of the parity test: one function of a fetch-like function,
# run once with window.fetch and once with client.fetch.
PARITY_SCRIPT = """
async (which) => {
  const client = SockReq.connect();
  const f = which === "http" ? window.fetch.bind(window) : client.fetch.bind(client);
  const bytes = async (res) => Array.from(new Uint8Array(await res.arrayBuffer()));
  const summary = async (res, read) => ({
    status: res.status,
    ok: res.ok,
    contentType: res.headers.get("content-type"),
    body: await read(res),
  });
  const json = (res) => res.json();
  const text = (res) => res.text();
  const form = new FormData();
  form.append("name", "caf\u00e9");
  form.append("many", "1");
  form.append("many", "2");
  form.append("upload", new Blob(["file body"], {type: "text/plain"}), "a.txt");
  const results = {
    getJson: await summary(await f("/hello/3?x=1&x=2"), json),
    postJson: await summary(await f("/echo", {
      method: "POST", body: JSON.stringify({a: [1, "b"]}),
      headers: {"Content-Type": "application/json"},
    }), async (res) => (await res.json()).json),
    putText: await summary(await f("/echo", {method: "PUT", body: "plain"}),
      async (res) => { const b = await res.json(); return [b.body_hex, b.content_type]; }),
    text: await summary(await f("/text"), text),
    html: await summary(await f("/html"), text),
    binary: await summary(await f("/binary"), bytes),
    blob: await summary(await f("/binary"), async (res) => {
      const blob = await res.blob(); return [blob.size, blob.type];
    }),
    formData: await summary(await f("/form-echo", {method: "POST", body: form}), json),
    urlSearchParams: await summary(await f("/echo", {
      method: "POST", body: new URLSearchParams({a: "1 2", b: "\u00e9"}),
    }), async (res) => { const b = await res.json(); return [b.form, b.content_type]; }),
    blobBody: await summary(await f("/raw-echo", {
      method: "POST", body: new Blob([new Uint8Array([0, 1, 255])], {type: "application/x-raw"}),
    }), json),
    arrayBufferBody: await summary(await f("/raw-echo", {
      method: "PATCH" === "x" ? "PATCH" : "POST", body: new Uint8Array([7, 8]).buffer,
      headers: {"Content-Type": "application/octet-stream"},
    }), json),
    typedArrayBody: await summary(await f("/raw-echo", {
      method: "POST", body: new Uint8Array([1, 2, 3, 4]).subarray(1, 3),
      headers: new Headers({"Content-Type": "application/octet-stream"}),
    }), json),
    notFound: await summary(await f("/nowhere"), (res) => res.status),
    teapot: await summary(await f("/teapot"), json),
    serverError: await summary(await f("/boom"), (res) => res.status),
    empty: await summary(await f("/empty", {method: "DELETE"}), text),
    head: await summary(await f("/text", {method: "HEAD"}), text),
    redirect: await summary(await f("/redirect"), text),
    requestObject: await summary(await f(new Request("/api/v1/items/4", {
      method: "PUT", body: JSON.stringify({n: 1}), headers: {"Content-Type": "application/json"},
    })), json),
    headers: await summary(await f("/headers", {headers: [["X-Custom", "seven"]]}),
      async (res) => (await res.json())["X-Custom"]),
  };
  const absolute = await f(location.origin + "/hello/1");
  results.url = absolute.url;
  client.close();
  return results;
}
"""


def test_fetch_parity(browser: Browser, mode_server: ServerProcess) -> None:
    page = open_page(browser, mode_server)
    try:
        over_http = page.evaluate(PARITY_SCRIPT, "http")
        over_socket = page.evaluate(PARITY_SCRIPT, "socket")
    finally:
        page.context.close()
    assert over_socket == over_http
    # And the results are what they should be, not just equal.
    assert over_socket["getJson"]["body"] == {"n": 3, "args": {"x": ["1", "2"]}}
    assert over_socket["binary"]["body"][:4] == [0x89, 0x50, 0x4E, 0x47]
    assert over_socket["blob"]["body"][1] == "image/png"
    assert over_socket["formData"]["body"] == {
        "form": {"name": ["caf\u00e9"], "many": ["1", "2"]},
        "files": {
            "upload": {
                "filename": "a.txt",
                "content_type": "text/plain",
                "content": "file body",
            }
        },
        "mimetype": "multipart/form-data",
    }
    assert over_socket["urlSearchParams"]["body"][0] == {
        "a": ["1 2"],
        "b": ["\u00e9"],
    }
    assert over_socket["blobBody"]["body"] == {
        "hex": "0001ff",
        "mimetype": "application/x-raw",
    }
    assert over_socket["typedArrayBody"]["body"]["hex"] == "0203"
    assert over_socket["teapot"]["status"] == 418
    assert over_socket["empty"] == {
        "status": 204,
        "ok": True,
        "contentType": "text/html; charset=utf-8",
        "body": "",
    }
    assert over_socket["redirect"]["body"] == "Caf\u00e9 au lait"
    assert over_socket["headers"]["body"] == "seven"
    assert over_socket["url"] == f"{mode_server.url}/hello/1"


def test_socket_fetch_is_a_socket_request(page: Page) -> None:
    result = page.evaluate(
        """async () => {
          const client = SockReq.connect();
          const viaSocket = await (await client.fetch("/whoami")).json();
          const viaHttp = await (await fetch("/whoami")).json();
          const redirected = await client.fetch("/redirect");
          const manual = await client.fetch("/redirect", {redirect: "manual"});
          const out = {
            socket: viaSocket.is_socket, sid: viaSocket.sid === client.id,
            http: viaHttp.is_socket, redirected: redirected.redirected,
            manual: [manual.status, manual.headers.get("location")],
          };
          client.close();
          return out;
        }"""
    )
    assert result == {
        "socket": True,
        "sid": True,
        "http": False,
        "redirected": True,
        "manual": [302, "/text"],
    }


def test_jwr_helpers(page: Page) -> None:
    result = page.evaluate(
        """async () => {
          const client = SockReq.connect(undefined, {headers: {"X-Default": "d"}});
          const get = await client.get("/hello/5", {q: [1, 2], flag: true});
          const post = await client.post("/echo", {a: 1});
          const put = await client.put("/api/v1/items/3", {b: 2});
          const patch = await client.patch("/things/4", {c: 3});
          const del = await client["delete"]("/things/5");
          const head = await client.head("/text");
          const missing = await client.get("/nowhere");
          const request = await client.request({
            method: "post", url: "/echo", data: "raw text",
            headers: {"Content-Type": "text/x-note", "X-Default": "override"},
          });
          const headers = await client.get("/headers");
          const binary = await client.get("/binary");
          let invalid;
          try { await client.request({method: "TRACE", url: "/x"}); }
          catch (error) { invalid = [error.name, error.code, error instanceof SockReq.SockReqError, error instanceof TypeError]; }
          client.headers["X-Later"] = "l";
          const later = await client.get("/headers");
          client.close();
          return {
            get, post: post.body.json, put: put.body, patch: patch.body, del: del.body,
            head: [head.statusCode, head.body, head.ok], missing: [missing.statusCode, missing.ok],
            request: [request.body.body_hex, request.body.content_type],
            defaultHeader: headers.body["X-Default"],
            binary: [binary.body instanceof ArrayBuffer, binary.body.byteLength > 60],
            invalid, later: later.body["X-Later"],
          };
        }"""
    )
    assert result["get"] == {
        "body": {"n": 5, "args": {"q": ["1", "2"], "flag": ["true"]}},
        "headers": {"Content-Type": "application/json", "Content-Length": "47"},
        "statusCode": 200,
        "ok": True,
    }
    assert result["post"] == {"a": 1}
    assert result["put"]["json"] == {"b": 2}
    assert result["patch"]["json"] == {"c": 3}
    assert result["del"] == {"view": "ThingAPI", "verb": "delete", "id": 5}
    assert result["head"] == [200, None, True]
    assert result["missing"] == [404, False]
    assert result["request"] == [b"raw text".hex(), "text/x-note"]
    assert result["defaultHeader"] == "d"
    assert result["binary"] == [True, True]
    assert result["invalid"] == ["SockReqError", "invalid", True, True]
    assert result["later"] == "l"


def test_pushes(page: Page) -> None:
    result = page.evaluate(
        """async () => {
          const client = SockReq.connect();
          const seen = [];
          const handler = (data) => seen.push(data);
          client.on("pushed", handler);
          await client.post("/socket-emit");
          await client.post("/join/lobby");
          await new Promise((r) => setTimeout(r, 100));
          client.off("pushed", handler);
          await client.post("/socket-emit");
          await new Promise((r) => setTimeout(r, 100));
          client.close();
          return seen;
        }"""
    )
    assert result == [{"via": "request.socket.emit"}]


def test_queue_before_connect(page: Page) -> None:
    result = page.evaluate(
        """async () => {
          const client = SockReq.connect(undefined, {ioOptions: {autoConnect: false}});
          const before = client.connected;
          const order = [];
          const requests = [1, 2, 3].map((n) =>
            client.get("/hello/" + n).then((jwr) => { order.push(jwr.body.n); return jwr.statusCode; }));
          await new Promise((r) => setTimeout(r, 200));
          const answeredWhileDown = order.length;
          client.socket.connect();
          const statuses = await Promise.all(requests);
          client.close();
          // Sent in order; the server may answer them in any order.
          return {before, answeredWhileDown, statuses, order: order.sort()};
        }"""
    )
    assert result == {
        "before": False,
        "answeredWhileDown": 0,
        "statuses": [200, 200, 200],
        "order": [1, 2, 3],
    }


def test_timeout_abort_and_close(page: Page) -> None:
    result = page.evaluate(
        """async () => {
          const client = SockReq.connect(undefined, {timeout: 300});
          const describe = (error) => [error.name, error.code || null, error instanceof TypeError];
          const out = {};
          try { await client.get("/slow", {s: 1}); } catch (e) { out.request = describe(e); }
          try { await client.fetch("/slow?s=1", {timeout: 100}); } catch (e) { out.fetch = describe(e); }
          const controller = new AbortController();
          const aborted = client.fetch("/slow?s=1", {signal: controller.signal});
          controller.abort();
          try { await aborted; } catch (e) { out.abort = e.name; }
          out.fast = (await client.get("/hello/1", undefined, {timeout: 5000})).statusCode;
          const pending = client.get("/slow", {s: 1}, {timeout: 0});
          client.close();
          try { await pending; } catch (e) { out.close = describe(e); }
          try { await client.get("/hello/1"); } catch (e) { out.afterClose = describe(e); }
          return out;
        }"""
    )
    assert result == {
        "request": ["SockReqError", "timeout", True],
        "fetch": ["SockReqError", "timeout", True],
        "abort": "AbortError",
        "fast": 200,
        "close": ["SockReqError", "closed", True],
        "afterClose": ["SockReqError", "closed", True],
    }


def test_no_socket_io(browser: Browser, browser_server: ServerProcess) -> None:
    page = open_page(browser, browser_server, "/health")
    try:
        page.add_script_tag(url="/sockreq.js")
        message = page.evaluate(
            "() => { try { SockReq.connect(); } catch (e) { return e.message; } }"
        )
    finally:
        page.context.close()
    assert "SockReq needs socket.io-client 4" in message


def test_existing_socket_and_namespace_option(page: Page) -> None:
    result = page.evaluate(
        """async () => {
          const socket = io({transports: ["websocket"]});
          const client = SockReq.connect(undefined, {socket});
          const jwr = await client.get("/hello/9");
          client.close();
          return [jwr.body.n, socket.connected];
        }"""
    )
    assert result == [9, True]


def test_es_module(browser: Browser, browser_server: ServerProcess) -> None:
    page = open_page(browser, browser_server, "/module-page")
    try:
        result = page.evaluate("() => window.moduleResult")
    finally:
        page.context.close()
    assert result == {
        "body": {"n": 2, "args": {"via": ["module"]}},
        "sameConnect": True,
        "errorIsTypeError": True,
        "globalSet": True,
    }


def test_cookie_sync(page: Page) -> None:
    result = page.evaluate(
        """async () => {
          const client = SockReq.connect();
          const before = await (await fetch("/session-user")).json();
          const login = await client.fetch("/login", {
            method: "POST", body: JSON.stringify({user: "ada"}),
            headers: {"Content-Type": "application/json"},
          });
          const headerVisible = login.headers.has("X-SockReq-Cookie-Sync");
          // The session cookie is now in the browser: HTTP sees the login.
          const after = await (await fetch("/session-user")).json();
          const overSocket = (await client.get("/session-user")).body;
          client.close();
          return {before: before.user, after: after.user, overSocket: overSocket.user,
                  headerVisible, cookieHidden: !document.cookie.includes("session=")};
        }"""
    )
    assert result == {
        "before": None,
        "after": "ada",
        "overSocket": "ada",
        "headerVisible": False,
        "cookieHidden": True,
    }


def test_server_restart_and_reconnection(browser: Browser) -> None:
    port = free_port()
    options = ("--app", "browser", "--no-access-log")
    server = FixedPortServer("threading", port, *options)
    server.wait_ready()
    page = open_page(browser, server)
    try:
        page.evaluate(
            """() => {
              window.client = SockReq.connect(undefined, {
                reconnectionDelay: 100, reconnectionDelayMax: 300, timeout: 20000,
              });
              window.events = [];
              client.socket.on("connect", () => events.push("connect"));
              client.socket.on("disconnect", () => events.push("disconnect"));
              window.inflight = client.get("/slow", {s: 10}).then(
                (jwr) => ["resolved", jwr.statusCode],
                (error) => ["rejected", error.code, error.message]);
              return client.get("/hello/1");
            }"""
        )
        server.stop()
        inflight = page.evaluate("() => window.inflight")
        assert inflight[:2] == ["rejected", "disconnected"]
        assert "disconnected" in inflight[2]
        # Sent while the server is down: queued, then sent on reconnection.
        page.evaluate("() => { window.queued = client.get('/hello/2'); }")
        server = FixedPortServer("threading", port, *options)
        server.wait_ready()
        queued = page.evaluate("() => window.queued")
        assert queued["body"] == {"n": 2, "args": {}}
        events = page.evaluate("() => window.events")
        assert events[-2:] == ["disconnect", "connect"]
        page.evaluate("() => client.close()")
    finally:
        page.context.close()
        server.stop()


def test_sails_io_js(js_modules: None, server: ServerProcess) -> None:
    """sails.io.js 1.2.1 on socket.io-client 4 through the shim, in Node."""
    node = require_node()
    result = subprocess.run(
        [node, "sails_client.js", server.url],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    results = json.loads(result.stdout)["results"]
    assert results["get"]["body"] == {"n": 7, "args": {"q": ["x"]}}
    assert results["get"]["statusCode"] == 200
    assert results["post"]["body"]["json"] == {"a": [1, 2]}
    assert results["request"]["body"] == {
        "blueprint": "items",
        "id": 3,
        "method": "PUT",
        "json": {"b": True},
    }
    assert results["headers"]["body"]["X-Default"] == "from-io.sails.headers"
    assert results["notFound"]["statusCode"] == 404
    assert results["notFound"]["error"] is True
    assert results["push"] == {"via": "flask_socketio.emit", "data": {"n": 1}}
