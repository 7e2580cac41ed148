# ruff: noqa: E501 (the page scripts are JavaScript, in long lines)
"""The browser client's streams, in-flight queue and resubscription, in
headless Chromium against real servers: streamed response bodies with
credit, uploads of any size, cancellation, ``maxInflight`` and
``maxStreams`` queueing, and subscriptions sent again after a server
restart.

One browser for the module, one page per server (each test connects and
closes its own clients on it). Nothing here waits a fixed time to decide
an outcome: pages poll the server's trace records until a bounded deadline.
"""

from __future__ import annotations

import threading
import time
import typing as t
import uuid

import pytest
import requests

from tests.browser_support import chromium
from tests.browser_support import FixedPortServer
from tests.browser_support import open_page
from tests.browser_support import rss
from tests.helpers import free_port
from tests.helpers import ServerProcess

if t.TYPE_CHECKING:
    from playwright.sync_api import Browser
    from playwright.sync_api import Page

BROWSER_APP = ("--app", "browser", "--no-access-log")
# Low limits, so that the client's queue has to work.
LIMITED = (
    *BROWSER_APP,
    "--config",
    "SOCKREQ_MAX_INFLIGHT=8",
    "--config",
    "SOCKREQ_STREAM_MAX=4",
)

# Defined on each page: digests, trace polling.
HELPERS = """() => {
  window.helpers = {
    hex: (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join(""),
    sha256: async (data) => {
      if (data instanceof Blob) data = await data.arrayBuffer();
      return helpers.hex(await crypto.subtle.digest("SHA-256", data));
    },
    get: async (url) => (await fetch(url)).json(),
    // Poll url until predicate(json) holds, for at most 10 s.
    until: async (url, predicate) => {
      const deadline = performance.now() + 10000;
      for (;;) {
        const value = await helpers.get(url);
        if (predicate(value) || performance.now() > deadline) return value;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    hasFinally: (events) => events.some((event) => event[0] === "finally"),
    pieces: (events) => events.filter((event) => event[0] === "piece").length,
    random: (size) => {
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
      return bytes;
    },
    // Record what the client emits: the requests (their payloads) and the
    // frames, and count requests waiting for their ack.
    spy: (client) => {
      const log = {requests: [], frames: [], inflight: 0, maxInflight: 0, refused: 0};
      const emit = client.socket.emit.bind(client.socket);
      client.socket.emit = (event, ...args) => {
        if (event.startsWith("sockreq:")) {
          log.frames.push([event, args[0], args[1], args[2] && args[2].byteLength]);
        } else {
          log.requests.push(args[0]);
          const ack = args[args.length - 1];
          log.inflight++;
          log.maxInflight = Math.max(log.maxInflight, log.inflight);
          args[args.length - 1] = (jwr) => {
            log.inflight--;
            if (jwr && jwr.statusCode === 429) log.refused++;
            ack(jwr);
          };
        }
        return emit(event, ...args);
      };
      return log;
    },
  };
}"""


@pytest.fixture(scope="module")
def browser() -> t.Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def pages(
    browser: Browser, start_server: t.Callable[..., ServerProcess]
) -> t.Iterator[t.Callable[..., Page]]:
    """A page of the browser app served in a mode (with options), opened
    once for the module."""
    opened: dict[tuple[str, ...], Page] = {}

    def page_of(mode: str, *options: str) -> Page:
        key = (mode, *options)
        if key not in opened:
            page = open_page(browser, start_server(mode, *(options or BROWSER_APP)))
            page.evaluate(HELPERS)
            opened[key] = page
        return opened[key]

    yield page_of
    for page in opened.values():
        page.context.close()


def trace() -> str:
    return uuid.uuid4().hex


@pytest.mark.parametrize("mode", ["threading", "eventlet"])
def test_first_chunk_before_the_generator_ends(
    pages: t.Callable[..., Page], mode: str
) -> None:
    result = pages(mode).evaluate(
        """async (trace) => {
          const client = SockReq.connect();
          const records = "/records/" + trace;
          const response = await client.fetch("/stream/slow?n=3&delay=0.4&size=10", {headers: {"X-Trace": trace}});
          const atAnswer = await helpers.get(records);
          const reader = response.body.getReader();
          const first = await reader.read();
          const atFirst = await helpers.get(records);
          let rest = "";
          for (;;) {
            const {done, value} = await reader.read();
            if (done) break;
            rest += new TextDecoder().decode(value);
          }
          const atEnd = await helpers.until(records, helpers.hasFinally);
          client.close();
          return {
            status: response.status, type: response.headers.get("content-type"),
            streamed: response.jwr.body === null,
            answerFinished: helpers.hasFinally(atAnswer),
            first: new TextDecoder().decode(first.value), firstFinished: helpers.hasFinally(atFirst),
            firstPieces: helpers.pieces(atFirst), rest, pieces: helpers.pieces(atEnd),
            finished: helpers.hasFinally(atEnd),
          };
        }""",
        trace(),
    )
    assert result == {
        "status": 200,
        "type": "text/plain; charset=utf-8",
        "streamed": True,
        # fetch() resolved, and the first chunk was read, while the
        # generator was still running.
        "answerFinished": False,
        "first": "A" * 10,
        "firstFinished": False,
        "firstPieces": result["firstPieces"],
        "rest": "B" * 10 + "C" * 10,
        "pieces": 3,
        "finished": True,
    }
    assert result["firstPieces"] < 3


BODIES_SCRIPT = """async (cases) => {
  const client = SockReq.connect();
  const digest = helpers.sha256;
  const concat = (chunks) => {
    const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
    let offset = 0;
    for (const chunk of chunks) { bytes.set(chunk, offset); offset += chunk.byteLength; }
    return bytes;
  };
  const read = {
    json: async (res) => await res.json(),
    text: async (res) => await digest(new TextEncoder().encode(await res.text())),
    blob: async (res) => { const blob = await res.blob(); return [blob.size, blob.type, await digest(blob)]; },
    arrayBuffer: async (res) => await digest(await res.arrayBuffer()),
    reader: async (res) => {
      const reader = res.body.getReader();
      const chunks = [];
      for (;;) { const {done, value} = await reader.read(); if (done) break; chunks.push(value); }
      return await digest(concat(chunks));
    },
    forAwait: async (res) => {
      const chunks = [];
      for await (const chunk of res.body) chunks.push(chunk);
      return await digest(concat(chunks));
    },
  };
  const out = {};
  for (const [url, kinds] of cases) {
    for (const kind of kinds) {
      const viaSocket = await client.fetch(url);
      const viaHttp = await fetch(url);
      out[url + " " + kind] = {
        streamed: viaSocket.jwr.body === null,
        socket: [viaSocket.status, viaSocket.headers.get("content-type"), await read[kind](viaSocket)],
        http: [viaHttp.status, viaHttp.headers.get("content-type"), await read[kind](viaHttp)],
      };
    }
  }
  const events = async (url, init) => {
    const seen = [];
    const res = await client.fetch(url, {...init, onDownloadProgress: (e) => seen.push([e.loaded, e.total])});
    const size = (await res.arrayBuffer()).byteLength;
    return {size, count: seen.length, last: seen[seen.length - 1],
            increasing: seen.every((e, i) => i === 0 || e[0] > seen[i - 1][0])};
  };
  out.progress = {
    known: await events("/stream/bytes?size=300000"),
    unknown: await events("/stream/slow?n=3&size=70000"),
    buffered: await events("/hello/1"),
  };
  const unstreamed = await client.fetch("/stream/bytes?size=300000", {stream: false});
  out.unstreamed = [unstreamed.jwr.body instanceof ArrayBuffer, (await unstreamed.arrayBuffer()).byteLength];
  const jwr = await client.get("/stream/bytes?size=300000");
  out.jwr = [jwr.body instanceof ArrayBuffer, jwr.body.byteLength, "stream" in jwr, Object.keys(jwr).sort()];
  client.close();
  return out;
}"""


def test_fetch_bodies_buffered_and_streamed(pages: t.Callable[..., Page]) -> None:
    """Every way of reading a body gives what HTTP's fetch() gives, for
    answers that come buffered in the JWR and streamed in frames."""
    # Lists, not tuples: Playwright 1.40 passes a tuple as undefined.
    cases = [
        ["/hello/3", ["json"]],
        ["/browser/big-json?n=10000", ["json", "text", "forAwait"]],
        ["/text", ["text", "arrayBuffer", "blob"]],
        ["/stream/slow?n=3&size=70000", ["text", "reader", "forAwait", "blob"]],
        ["/binary", ["arrayBuffer", "blob", "reader"]],
        ["/stream/bytes?size=300000", ["arrayBuffer", "blob", "reader", "forAwait"]],
    ]
    result = pages("threading").evaluate(BODIES_SCRIPT, cases)
    # send_file's file wrapper is streamed whatever its size.
    streamed_urls = {
        "/binary",
        "/browser/big-json?n=10000",
        "/stream/slow?n=3&size=70000",
        "/stream/bytes?size=300000",
    }
    for url, kinds in cases:
        for kind in kinds:
            case = result[f"{url} {kind}"]
            assert case["socket"] == case["http"], (url, kind)
            assert case["streamed"] is (url in streamed_urls), (url, kind)
    assert result["/browser/big-json?n=10000 json"]["socket"][2][2999] == {
        "index": 2999,
        "name": "item 2999",
    }
    assert result["progress"] == {
        "known": {
            "size": 300000,
            "count": result["progress"]["known"]["count"],
            "last": [300000, 300000],
            "increasing": True,
        },
        "unknown": {
            "size": 210000,
            "count": result["progress"]["unknown"]["count"],
            "last": [210000, None],
            "increasing": True,
        },
        # A buffered JSON body is what the Response holds: re-serialised.
        "buffered": {"size": 17, "count": 1, "last": [17, 17], "increasing": True},
    }
    assert result["progress"]["known"]["count"] >= 2  # 300,000 bytes in 256 KiB chunks
    assert result["progress"]["unknown"]["count"] >= 1  # pieces may share frames
    assert result["unstreamed"] == [True, 300000]
    # request() and its shortcuts keep the buffered JWR of old.
    assert result["jwr"] == [
        True,
        300000,
        False,
        ["body", "headers", "ok", "statusCode"],
    ]


def test_formdata_upload_of_20_mb(pages: t.Callable[..., Page]) -> None:
    result = pages("threading").evaluate(
        """async () => {
          const client = SockReq.connect();
          const log = helpers.spy(client);
          const bytes = helpers.random(20 * 1024 * 1024);
          const file = new File([bytes], "big.bin", {type: "application/x-big"});
          const form = new FormData();
          form.append("note", "caf\u00e9");
          form.append("file", file);
          const events = [];
          const started = performance.now();
          const response = await client.fetch("/stream/upload?form=1", {
            method: "POST", body: form,
            onUploadProgress: (e) => events.push([e.loaded, e.total]),
          });
          const elapsed = performance.now() - started;
          const body = await response.json();
          const payload = log.requests[0];
          const chunks = log.frames.filter((f) => f[0] === "sockreq:chunk");
          const ends = log.frames.filter((f) => f[0] === "sockreq:end");
          client.close();
          return {
            status: response.status, body, sha256: await helpers.sha256(bytes), elapsed,
            hasData: "data" in payload, upload: payload.stream.upload,
            contentType: payload.headers["Content-Type"],
            chunks: chunks.length, biggest: Math.max(...chunks.map((f) => f[3])),
            contiguous: chunks.every((f, i) => i === 0 || f[2] === chunks[i - 1][2] + chunks[i - 1][3]),
            end: ends.map((f) => f[2]),
            events: events.length, first: events[0], last: events[events.length - 1],
            increasing: events.every((e, i) => i === 0 || e[0] > events[i - 1][0]),
            sameTotal: events.every((e) => e[1] === events[0][1]),
            chunkSize: client.limits.chunkSize,
          };
        }"""
    )
    total = result["upload"]["length"]
    assert result["status"] == 200
    assert result["body"] == {
        "files": {"file": {"sha256": result["sha256"], "filename": "big.bin"}},
        "form": {"note": "caf\u00e9"},
    }
    assert result["hasData"] is False
    assert total > 20 * 1024 * 1024
    assert result["contentType"].startswith("multipart/form-data; boundary=")
    chunk = result["chunkSize"]
    assert result["biggest"] == chunk == 262144
    assert result["chunks"] == -(-total // chunk)
    assert result["contiguous"] is True
    assert result["end"] == [total]
    assert result["events"] == result["chunks"]
    assert result["first"] == [chunk, total]
    assert result["last"] == [total, total]
    assert result["increasing"] and result["sameTotal"]


UPLOADS_SCRIPT = """async () => {
  const client = SockReq.connect();
  const log = helpers.spy(client);
  const post = async (body, init) => {
    const before = log.requests.length;
    const events = [];
    const response = await client.fetch("/browser/upload-info", {
      method: "POST", body, onUploadProgress: (e) => events.push([e.loaded, e.total]), ...init,
    });
    const payload = log.requests[before];
    return {
      ...(await response.json()),
      inline: "data" in payload,
      declared: payload.stream && payload.stream.upload ? payload.stream.upload.length : "none",
      last: events[events.length - 1],
    };
  };
  const streamOf = (pieces) => new ReadableStream({
    start(controller) { for (const piece of pieces) controller.enqueue(piece); controller.close(); },
  });
  const blobBytes = helpers.random(200000);
  const bufferBytes = helpers.random(150000);
  const typed = helpers.random(100010);
  const view = typed.subarray(10);
  const text = "\u00e9".repeat(100000);
  const textBytes = new TextEncoder().encode(text);
  const pieces = [helpers.random(70000), new Uint8Array(0), helpers.random(50001)];
  const joined = new Uint8Array(120001);
  joined.set(pieces[0], 0);
  joined.set(pieces[2], 70000);
  // Pulled on demand: 40 pieces of 64 KiB made as the client reads them.
  let pulls = 0;
  const pulled = new ReadableStream({
    pull(controller) {
      if (pulls === 40) { controller.close(); return; }
      controller.enqueue(new Uint8Array(65536).fill(pulls++ % 251));
    },
  });
  const out = {
    blob: await post(new Blob([blobBytes], {type: "application/x-thing"})),
    arrayBuffer: await post(bufferBytes.buffer),
    typedArray: await post(view),
    text: await post(text),
    urlSearchParams: await post(new URLSearchParams({a: "x".repeat(70000)})),
    readableStream: await post(streamOf(pieces)),
    typedStream: await post(streamOf([helpers.random(10)]), {headers: {"Content-Type": "application/x-ndjson"}}),
    emptyStream: await post(streamOf([])),
    pulled: await post(pulled),
    small: await post("small"),
    smallBlob: await post(new Blob(["tiny"], {type: "text/x-tiny"})),
  };
  out.expected = {
    blob: await helpers.sha256(blobBytes), arrayBuffer: await helpers.sha256(bufferBytes),
    typedArray: await helpers.sha256(view.slice()), text: await helpers.sha256(textBytes),
    readableStream: await helpers.sha256(joined),
    small: await helpers.sha256(new TextEncoder().encode("small")),
  };
  out.pulls = pulls;
  const failing = new ReadableStream({
    start(controller) { controller.enqueue(new Uint8Array(1000)); },
    pull(controller) { controller.error(new Error("the disk went away")); },
  });
  try {
    await client.fetch("/browser/upload-info", {method: "POST", body: failing});
    out.failing = "resolved";
  } catch (error) {
    out.failing = [error.name, error.code, error instanceof TypeError];
  }
  try {
    await client.fetch("/browser/upload-info", {method: "POST", body: "x".repeat(100000), stream: false});
    out.inlineLarge = "sent";
  } catch (error) {
    out.inlineLarge = error.code;
  }
  // A view that answers without reading the body ends the upload: the
  // client sends no more than the credit it had, and no end.
  const framesBefore = log.frames.length;
  const ignored = await client.fetch("/browser/ignore-body", {method: "POST", body: new Blob([new Uint8Array(5 * 1024 * 1024)])});
  const ignoredId = log.requests[log.requests.length - 1].stream.id;
  await client.get("/hello/1");  // frames sent after the answer would show by now
  const frames = log.frames.slice(framesBefore).filter((f) => f[1] === ignoredId);
  out.ignored = {
    text: await ignored.text(),
    sent: frames.filter((f) => f[0] === "sockreq:chunk").reduce((n, f) => n + f[3], 0),
    ends: frames.filter((f) => f[0] === "sockreq:end").length,
    window: client.limits.window,
  };
  // An endless ReadableStream: the answer cancels it.
  let cancelled = null;
  const endless = new ReadableStream({
    pull(controller) { controller.enqueue(new Uint8Array(65536)); },
    cancel(reason) { cancelled = String(reason); },
  });
  const answered = await client.fetch("/browser/ignore-body", {method: "POST", body: endless});
  out.endless = [await answered.text(), cancelled !== null];

  // A progress callback that sends a request: sent once, answered.
  let nested = null;
  const outer = await client.fetch("/browser/upload-info", {
    method: "POST", body: "re",
    onUploadProgress: () => { if (!nested) nested = client.get("/hello/6"); },
  });
  out.reentrant = [(await outer.json()).length, (await nested).body.n,
                   log.requests.filter((payload) => payload.url === "/hello/6").length];
  out.after = (await (await client.fetch("/hello/4")).json()).n;
  client.close();
  return out;
}"""


def test_upload_bodies(pages: t.Callable[..., Page]) -> None:
    """Each kind of body fetch() takes: small ones inline as before, larger
    ones and ReadableStreams in frames, with the Content-Type a browser
    sets."""
    result = pages("threading").evaluate(UPLOADS_SCRIPT)
    expected = result["expected"]
    octets = "application/octet-stream"
    assert result["blob"] == {
        "length": 200000,
        "sha256": expected["blob"],
        "content_type": "application/x-thing",
        "content_length": "200000",
        "inline": False,
        "declared": 200000,
        "last": [200000, 200000],
    }
    assert result["arrayBuffer"]["sha256"] == expected["arrayBuffer"]
    assert result["arrayBuffer"]["content_type"] == octets
    assert result["typedArray"]["sha256"] == expected["typedArray"]
    assert result["typedArray"]["length"] == 100000
    assert result["text"]["sha256"] == expected["text"]
    assert result["text"]["length"] == 200000
    assert result["text"]["content_type"] == "text/plain;charset=UTF-8"
    assert result["urlSearchParams"]["length"] == 70002
    assert (
        result["urlSearchParams"]["content_type"]
        == "application/x-www-form-urlencoded;charset=UTF-8"
    )
    assert result["readableStream"] == {
        "length": 120001,
        "sha256": expected["readableStream"],
        "content_type": octets,
        "content_length": None,
        "inline": False,
        "declared": None,
        "last": [120001, None],
    }
    assert result["typedStream"]["content_type"] == "application/x-ndjson"
    assert result["emptyStream"]["length"] == 0
    assert result["emptyStream"]["declared"] is None
    assert result["pulled"]["length"] == 40 * 65536
    assert result["pulls"] == 40
    assert result["small"] == {
        "length": 5,
        "sha256": expected["small"],
        "content_type": "text/plain;charset=UTF-8",
        "content_length": "5",
        "inline": True,
        "declared": "none",
        "last": [5, 5],
    }
    assert result["smallBlob"]["inline"] is True
    assert result["smallBlob"]["content_type"] == "text/x-tiny"
    assert result["failing"] == ["SockReqError", "upload_failed", True]
    assert result["inlineLarge"] == "sent"
    assert result["reentrant"] == [2, 6, 1]
    ignored = result["ignored"]
    assert ignored["text"] == "ignored"
    assert ignored["sent"] <= ignored["window"] < 5 * 1024 * 1024
    assert ignored["ends"] == 0
    assert result["endless"] == ["ignored", True]
    assert result["after"] == 4


CANCEL_SCRIPT = """async (trace) => {
  const client = SockReq.connect();
  const slow = "/stream/slow?n=100&delay=0.1&size=10";
  const records = (name) => "/records/" + trace + name;
  const traces = (name) => "/browser/traces/" + trace + name;
  const finished = async (url) => {
    const events = await helpers.until(url, helpers.hasFinally);
    return [helpers.hasFinally(events), helpers.pieces(events) < 100];
  };
  const out = {};

  // Abort while the body streams: the reader errors with the signal's reason.
  let controller = new AbortController();
  let response = await client.fetch(slow, {headers: {"X-Trace": trace + "a"}, signal: controller.signal});
  let reader = response.body.getReader();
  await reader.read();
  controller.abort();
  try { await reader.read(); out.abortBody = "read"; }
  catch (error) { out.abortBody = [error.name, error instanceof DOMException]; }
  out.abortBodyFinally = await finished(records("a"));

  // reader.cancel() and body.cancel().
  response = await client.fetch(slow, {headers: {"X-Trace": trace + "b"}});
  reader = response.body.getReader();
  await reader.read();
  await reader.cancel();
  out.readerCancelFinally = await finished(records("b"));
  response = await client.fetch(slow, {headers: {"X-Trace": trace + "c"}});
  await response.body.cancel();
  out.bodyCancelFinally = await finished(records("c"));

  // Abort before the answer, while the view waits: the fetch rejects, and
  // the stream the view then returns is cancelled.
  controller = new AbortController();
  const late = "/browser/late-stream?wait=0.5&n=100&delay=0.1";
  const early = client.fetch(late, {headers: {"X-Trace": trace + "d"}, signal: controller.signal});
  await helpers.until(traces("d"), (events) => events.length > 0);
  controller.abort();
  try { await early; out.abortEarly = "resolved"; }
  catch (error) { out.abortEarly = [error.name]; }
  out.abortEarlyFinally = await finished(traces("d"));

  // A timeout before the answer does the same.
  try { await client.fetch(late, {headers: {"X-Trace": trace + "e"}, timeout: 100}); out.timeout = "resolved"; }
  catch (error) { out.timeout = [error.name, error.code]; }
  out.timeoutFinally = await finished(traces("e"));

  // A generator that raises, and a disconnect, error the body: a reader
  // gets the SockReqError; arrayBuffer() and the like get the browser's own
  // TypeError, as for a network error over HTTP.
  response = await client.fetch("/browser/failing-stream");
  reader = response.body.getReader();
  try { for (;;) { if ((await reader.read()).done) break; } out.failed = "read"; }
  catch (error) { out.failed = [error.name, error.code, error instanceof TypeError]; }
  response = await client.fetch("/browser/failing-stream");
  try { await response.arrayBuffer(); out.failedBuffer = "read"; }
  catch (error) { out.failedBuffer = error instanceof TypeError; }

  out.after = (await (await client.fetch("/hello/8")).json()).n;
  // Every request and stream has been counted out.
  await helpers.until("/hello/1", () => client._inflightCount === 0 && client._streamCount === 0);
  out.counts = [client._inflightCount, client._streamCount, client._queue.length];

  response = await client.fetch(slow, {headers: {"X-Trace": trace + "f"}});
  reader = response.body.getReader();
  await reader.read();
  client.socket.disconnect();
  try { await reader.read(); out.disconnect = "read"; }
  catch (error) { out.disconnect = [error.name, error.code]; }
  out.disconnectFinally = await finished(records("f"));
  client.close();
  return out;
}"""


@pytest.mark.parametrize("mode", ["threading", "eventlet"])
def test_abort_and_cancel_stop_the_generator(
    pages: t.Callable[..., Page], mode: str
) -> None:
    result = pages(mode).evaluate(CANCEL_SCRIPT, trace())
    stopped = [True, True]  # the finally ran, before the 100 pieces
    assert result == {
        "abortBody": ["AbortError", True],
        "abortBodyFinally": stopped,
        "readerCancelFinally": stopped,
        "bodyCancelFinally": stopped,
        "abortEarly": ["AbortError"],
        "abortEarlyFinally": stopped,
        "timeout": ["SockReqError", "timeout"],
        "timeoutFinally": stopped,
        "failed": ["SockReqError", "stream_failed", True],
        "failedBuffer": True,
        "after": 8,
        "counts": [0, 0, 0],
        "disconnect": ["SockReqError", "disconnected"],
        "disconnectFinally": stopped,
    }


def test_slow_reader_keeps_server_memory_bounded(browser: Browser) -> None:
    """A 50 MiB streamed body read with a long pause: the generator stops a
    window ahead of the reader, and the server's memory stays flat."""
    server = ServerProcess("threading", *BROWSER_APP)
    server.wait_ready()
    page = open_page(browser, server)
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append(rss(server.pid))
            time.sleep(0.05)

    try:
        page.evaluate(HELPERS)
        # Warm up: the first stream allocates what every stream reuses.
        page.evaluate(
            """async () => {
              window.client = SockReq.connect();
              await (await client.fetch("/stream/slow?n=40&size=65536")).arrayBuffer();
            }"""
        )
        baseline = rss(server.pid)
        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            result = page.evaluate(
                """async (trace) => {
                  const size = 65536, pieces = 800;
                  const response = await client.fetch("/stream/slow?n=" + pieces + "&size=" + size, {headers: {"X-Trace": trace}});
                  const reader = response.body.getReader();
                  let read = 0, wrong = 0, atPause = null;
                  for (;;) {
                    const {done, value} = await reader.read();
                    if (done) break;
                    // Piece k is the letter 65 + k % 26, size times.
                    if (value[0] !== 65 + Math.floor(read / size) % 26) wrong++;
                    read += value.byteLength;
                    if (atPause === null && read >= 4 * 1024 * 1024) {
                      atPause = read;
                      await new Promise((resolve) => setTimeout(resolve, 1500));
                      const events = await helpers.get("/records/" + trace);
                      window.madeDuringPause = helpers.pieces(events);
                    }
                  }
                  client.close();
                  return {read, wrong, atPause, made: window.madeDuringPause, window: client.limits.window, chunk: client.limits.chunkSize};
                }""",
                trace(),
            )
        finally:
            stop.set()
            sampler.join()
    finally:
        page.context.close()
        server.stop()
    size = 65536
    assert result["read"] == 800 * size
    assert result["wrong"] == 0
    # Paused after 4 MiB: the generator made at most a window more, plus
    # the chunk the server gathers while it waits for credit and the piece
    # it holds.
    ahead = result["made"] * size - result["atPause"]
    assert 0 < ahead <= result["window"] + result["chunk"] + size
    growth = max(samples) - baseline
    assert growth < 12 * 1024 * 1024, f"RSS grew by {growth} bytes"


LIMITS_SCRIPT = """async () => {
  const out = {};
  // The limit is real: a socket that ignores it gets 429s.
  const raw = io({transports: ["websocket"], forceNew: true});
  await new Promise((resolve) => raw.on("connect", resolve));
  const rawStatuses = await Promise.all(Array.from({length: 12}, () =>
    new Promise((resolve) => raw.emit("get", {url: "/slow?s=0.3"}, (jwr) => resolve(jwr.statusCode)))));
  out.rawRefused = rawStatuses.filter((status) => status === 429).length;
  raw.disconnect();

  // Requests made before the socket connects wait for the hello's limits.
  const client = SockReq.connect();
  const log = helpers.spy(client);
  const early = await Promise.all(Array.from({length: 50}, (_, i) =>
    client.fetch("/slow?s=0.02").then((res) => res.status)));
  out.early = early.filter((status) => status === 200).length;
  out.limits = [client.limits.maxInflight, client.limits.maxStreams];

  const fetches = await Promise.all(Array.from({length: 200}, (_, i) =>
    client.fetch("/hello/" + i).then((res) => res.json())));
  out.fetches = fetches.filter((body, i) => body.n === i).length;
  const gets = await Promise.all(Array.from({length: 500}, (_, i) => client.get("/hello/" + i)));
  out.gets = gets.filter((jwr, i) => jwr.statusCode === 200 && jwr.body.n === i).length;

  // More streamed downloads than maxStreams, with plain requests among them.
  let live = 0, maxLive = 0;
  const downloads = Array.from({length: 12}, async () => {
    const response = await client.fetch("/stream/slow?n=3&size=70000");
    live++;
    maxLive = Math.max(maxLive, live);
    const size = (await response.arrayBuffer()).byteLength;
    live--;
    return size;
  });
  const mixed = Array.from({length: 20}, (_, i) => client.get("/hello/" + i).then((jwr) => jwr.statusCode));
  out.downloads = (await Promise.all(downloads)).filter((size) => size === 210000).length;
  out.mixed = (await Promise.all(mixed)).filter((status) => status === 200).length;
  out.maxLive = maxLive;

  // A request aborted while queued is never sent.
  const controller = new AbortController();
  const busy = Array.from({length: 16}, () => client.get("/slow", {s: 0.05}));
  const aborted = client.fetch("/hello/999", {signal: controller.signal});
  controller.abort();
  try { await aborted; out.aborted = "resolved"; } catch (error) { out.aborted = error.name; }
  await Promise.all(busy);
  out.abortedSent = log.requests.some((payload) => payload.url === "/hello/999");

  out.maxInflight = log.maxInflight;
  out.refused = log.refused;
  out.requests = log.requests.length;
  client.close();
  return out;
}"""


def test_parallel_requests_queue_within_the_limits(
    pages: t.Callable[..., Page],
) -> None:
    """With SOCKREQ_MAX_INFLIGHT=8 and SOCKREQ_STREAM_MAX=4, hundreds of
    parallel requests all succeed: the client never has more in flight than
    the hello allows, and never sees a 429."""
    result = pages("threading", *LIMITED).evaluate(LIMITS_SCRIPT)
    assert result["rawRefused"] >= 4
    assert result == {
        "rawRefused": result["rawRefused"],
        "early": 50,
        "limits": [8, 4],
        "fetches": 200,
        "gets": 500,
        "downloads": 12,
        "mixed": 20,
        "maxLive": result["maxLive"],
        "aborted": "AbortError",
        "abortedSent": False,
        "maxInflight": 8,
        "refused": 0,
        "requests": 50 + 200 + 500 + 12 + 20 + 16,
    }
    assert result["maxLive"] <= 4


def test_requests_refused_for_a_limit_are_sent_again(
    pages: t.Callable[..., Page],
) -> None:
    """After the server's deadline answers 504, it still counts the views
    that go on: the client's next requests are refused (429) until they
    end. The client sends them again, one probe at a time, and they
    succeed."""
    result = pages("threading", *LIMITED, "--config", "SOCKREQ_TIMEOUT=0.3").evaluate(
        """async () => {
          const client = SockReq.connect();
          const log = helpers.spy(client);
          const first = await Promise.all(Array.from({length: 8}, () => client.get("/slow", {s: 1})));
          const second = await Promise.all(Array.from({length: 8}, (_, i) => client.get("/hello/" + i)));
          client.close();
          return {
            first: first.map((jwr) => jwr.statusCode),
            second: second.map((jwr, i) => jwr.statusCode === 200 && jwr.body.n === i),
            refused: log.refused,
          };
        }"""
    )
    assert result["first"] == [504] * 8
    assert result["second"] == [True] * 8
    # Each of the second wave was refused once at most, then one probe at a
    # time (backing off from 5 ms) until the views ended.
    assert 1 <= result["refused"] <= 8 + 10


RESTART_SETUP = """async () => {
  window.marker = "the page was not reloaded";
  window.pushes = [];
  window.resubscribed = [];
  window.client = SockReq.connect(undefined, {
    reconnectionDelay: 100, reconnectionDelayMax: 300,
    onResubscribe: (results) => resubscribed.push(results),
  });
  client.on("live", (data) => pushes.push(data.room + ": " + data.text));
  const subscribed = [
    (await client.put("/browser/live/a")).statusCode,
    (await client.fetch("/browser/live/b", {method: "PUT", headers: {"X-Note": "b"}})).status,
    (await client.fetch("/browser/live/c?first=1", {method: "PUT"})).status,
    (await client.put("/browser/live/d")).statusCode,
  ];
  // The same request again is remembered once.
  await client.put("/browser/live/a");
  const remembered = client.subscriptions;
  // The answer of a view that left rooms forgets the requests of its path,
  // whatever their query; forget() does it by hand.
  await client["delete"]("/browser/live/c");
  const forgotten = client.forget("/browser/live/d?any=query");
  return {subscribed, remembered, forgotten, kept: client.subscriptions};
}"""


def test_subscriptions_resume_after_a_server_restart(browser: Browser) -> None:
    port = free_port()
    server = FixedPortServer("threading", port, *BROWSER_APP)
    server.wait_ready()
    page = open_page(browser, server)
    try:
        page.evaluate(HELPERS)
        setup = page.evaluate(RESTART_SETUP)
        assert setup == {
            "subscribed": [200, 200, 200, 200],
            "remembered": [
                {"method": "PUT", "url": "/browser/live/a"},
                {"method": "PUT", "url": "/browser/live/b"},
                {"method": "PUT", "url": "/browser/live/c?first=1"},
                {"method": "PUT", "url": "/browser/live/d"},
            ],
            "forgotten": 1,
            "kept": [
                {"method": "PUT", "url": "/browser/live/a"},
                {"method": "PUT", "url": "/browser/live/b"},
            ],
        }
        server.stop()
        page.wait_for_function("() => !client.connected")
        # Sent while the server is down: queued, and sent after the replays.
        page.evaluate(
            """() => {
              window.log = helpers.spy(client);
              window.queued = client.get("/hello/2");
            }"""
        )
        server = FixedPortServer("threading", port, *BROWSER_APP)
        server.wait_ready()
        page.wait_for_function("() => resubscribed.length === 1")
        # The new server's rooms hold the page's socket again: push to them,
        # and to the rooms it left or forgot, then a last marker.
        for room in ("c", "d", "b", "a"):
            response = requests.post(
                f"{server.url}/browser/live/{room}/say",
                json={"text": "after the restart"},
                timeout=5,
            )
            assert response.status_code == 200
        page.wait_for_function("() => pushes.some((push) => push.startsWith('a: '))")
        result = page.evaluate(
            """async () => ({
              marker: window.marker, pushes, resubscribed,
              queued: (await queued).body.n,
              sent: log.requests.map((payload) => [payload.method, payload.url, payload.headers["X-Note"] || null]),
            })"""
        )
        page.evaluate("() => client.close()")
    finally:
        page.context.close()
        server.stop()
    assert result == {
        "marker": "the page was not reloaded",
        "pushes": ["b: after the restart", "a: after the restart"],
        "resubscribed": [
            [
                {"method": "PUT", "url": "/browser/live/a", "statusCode": 200},
                {"method": "PUT", "url": "/browser/live/b", "statusCode": 200},
            ]
        ],
        "queued": 2,
        "sent": [
            ["put", "/browser/live/a", None],
            ["put", "/browser/live/b", "b"],
            ["get", "/hello/2", None],
        ],
    }


def test_json_answers_say_they_joined(pages: t.Callable[..., Page]) -> None:
    result = pages("threading").evaluate(
        """async () => {
          const client = SockReq.connect();
          const jwr = await client.get("/pets/1");
          const out = {rooms: jwr.body.rooms.includes("pet#1"), subscriptions: client.subscriptions};
          client.close();
          return out;
        }"""
    )
    assert result == {
        "rooms": True,
        "subscriptions": [{"method": "GET", "url": "/pets/1"}],
    }
