// The options of SockReq.connect() (docs/clients.rst, "Options") that no
// browser test sets, each against a fake socket.io-client: what reaches
// io(), and what the client does with the rest. No server, no timers that
// decide an outcome: every check waits for an event or a later marker.
// Run by tests/test_client_js.py: `node tests/js/client_options.js`.
"use strict";

const assert = require("node:assert/strict");
const path = require("node:path");

const SockReq = require(path.join(__dirname, "..", "..", "flask_sockreq", "static", "sockreq.js"));

/** A socket.io-client socket that records what the client emits. */
class FakeSocket {
  constructor() {
    this.connected = false;
    this.id = "sid-1";
    this.handlers = {};
    this.emitted = [];
    this.waiters = [];
  }
  on(event, handler) {
    (this.handlers[event] = this.handlers[event] || []).push(handler);
    return this;
  }
  off() { return this; }
  emit(event, payload, ack) {
    this.emitted.push({ event, payload, ack });
    this.waiters.slice().forEach((waiter) => waiter());
    return this;
  }
  disconnect() { this.connected = false; return this; }
  close() { return this.disconnect(); }
  /** Deliver an event from the server. */
  fire(event, ...args) {
    (this.handlers[event] || []).forEach((handler) => handler(...args));
  }
  connect(hello) {
    this.connected = true;
    this.fire("connect");
    if (hello !== undefined) this.fire("sockreq:hello", hello);
  }
  /** Resolves once `count` events have been emitted. */
  emittedCount(count) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${this.emitted.length} emits`)), 5000);
      const check = () => {
        if (this.emitted.length >= count) {
          clearTimeout(timer);
          this.waiters = this.waiters.filter((waiter) => waiter !== check);
          resolve(this.emitted.slice(0, count));
        }
      };
      this.waiters.push(check);
      check();
    });
  }
}

const HELLO = {
  v: 1,
  maxInflight: 100,
  streams: { v: 1, chunkSize: 262144, window: 1048576, maxStreams: 16, idleTimeout: 30 },
};

function fakeIo() {
  const calls = [];
  const io = function (...args) {
    const socket = new FakeSocket();
    calls.push({ args, socket });
    return socket;
  };
  io.calls = calls;
  return io;
}

const tests = [];
function test(name, body) { tests.push({ name, body }); }

test("io() gets the connection options", async () => {
  const io = fakeIo();
  SockReq.connect("http://api.example:5000/", {
    io,
    path: "/ws",
    namespace: "/api",
    transports: ["polling", "websocket"],
    reconnection: false,
    reconnectionDelay: 7,
    reconnectionDelayMax: 8,
    randomizationFactor: 0.25,
    connectTimeout: 9,
    query: { room: "a" },
    auth: { token: "t" },
    extraHeaders: { "X-Node": "1" },
    withCredentials: true,
    ioOptions: { autoConnect: false, timeout: 10 },
  });
  assert.equal(io.calls.length, 1);
  assert.deepEqual(io.calls[0].args, [
    "http://api.example:5000/api",
    {
      path: "/ws",
      transports: ["polling", "websocket"],
      reconnection: false,
      reconnectionDelay: 7,
      reconnectionDelayMax: 8,
      randomizationFactor: 0.25,
      timeout: 10, // ioOptions win
      query: { room: "a" },
      auth: { token: "t" },
      extraHeaders: { "X-Node": "1" },
      withCredentials: true,
      forceNew: true,
      autoConnect: false,
    },
  ]);
});

test("io() defaults: the page's server, the default namespace", async () => {
  const io = fakeIo();
  SockReq.connect({ io });
  assert.deepEqual(io.calls[0].args, [
    {
      path: "/socket.io",
      transports: ["websocket"],
      reconnection: true,
      reconnectionDelay: 1000,
      reconnectionDelayMax: 5000,
      randomizationFactor: 0.5,
      timeout: 20000,
      query: undefined,
      auth: undefined,
      extraHeaders: undefined,
      withCredentials: undefined,
      forceNew: true,
    },
  ]);
  SockReq.connect("http://h/", { io, namespace: "/" });
  assert.equal(io.calls[1].args[0], "http://h");
});

test("the io option wins over the global io", async () => {
  const global = fakeIo();
  const own = fakeIo();
  globalThis.io = global;
  try {
    SockReq.connect({ io: own });
    assert.equal(own.calls.length, 1);
    assert.equal(global.calls.length, 0);
    SockReq.connect();
    assert.equal(global.calls.length, 1);
  } finally {
    delete globalThis.io;
  }
});

test("requests wait for the hello, at most helloTimeout", async () => {
  // With the default (1 s) and no hello, nothing goes until the hello.
  const io = fakeIo();
  const client = SockReq.connect({ io });
  const socket = io.calls[0].socket;
  socket.connect();
  client.get("/a").catch(() => {});
  assert.equal(socket.emitted.length, 0);
  socket.fire("sockreq:hello", HELLO);
  const [first] = await socket.emittedCount(1);
  assert.equal(first.event, "get");
  assert.equal(first.payload.url, "/a");
  client.close();
  // With a short helloTimeout, a server that sends none is not waited for
  // long: the request goes without a hello (the wait gives up within 5 s,
  // where the default would be 1 s, so a 1 ms timeout must be honoured).
  const quick = fakeIo();
  const impatient = SockReq.connect({ io: quick, helloTimeout: 1 });
  const other = quick.calls[0].socket;
  other.connect();
  const started = Date.now();
  impatient.get("/b").catch(() => {});
  await other.emittedCount(1);
  assert.ok(Date.now() - started < 900, "helloTimeout was not honoured");
  impatient.close();
});

/** A client connected to a fake socket that answered its hello. */
function connected(options) {
  const io = fakeIo();
  const client = SockReq.connect(Object.assign({ io }, options));
  const socket = io.calls[0].socket;
  socket.connect(HELLO);
  return { client, socket };
}

function answer(emit, jwr) {
  emit.ack(Object.assign({ body: null, headers: {}, statusCode: 200 }, jwr));
}

test("cookieSync and cookieSyncUrl", async () => {
  const fetched = [];
  const saved = globalThis.fetch;
  globalThis.fetch = (url, init) => {
    fetched.push({ url, init });
    return Promise.resolve({ status: 204 });
  };
  try {
    // The server's URL header wins; without one, cookieSyncUrl.
    const { client, socket } = connected({ cookieSyncUrl: "/auth/sync" });
    const first = client.get("/login");
    let [emit] = await socket.emittedCount(1);
    answer(emit, { headers: { "X-SockReq-Cookie-Sync": "tok1", "X-Other": "1" } });
    const jwr = await first;
    assert.deepEqual(jwr.headers, { "X-Other": "1" });
    assert.equal(fetched.length, 1);
    assert.equal(fetched[0].url, "http://localhost:5000/auth/sync?token=tok1&sid=sid-1");
    assert.deepEqual(fetched[0].init, { credentials: "include", cache: "no-store" });
    const second = client.get("/login");
    [, emit] = await socket.emittedCount(2);
    answer(emit, {
      headers: {
        "x-sockreq-cookie-sync": "tok2",
        "X-SockReq-Cookie-Sync-Url": "/app/_sockreq/cookies",
      },
    });
    assert.deepEqual((await second).headers, {});
    assert.equal(fetched[1].url, "http://localhost:5000/app/_sockreq/cookies?token=tok2&sid=sid-1");
    client.close();
    // cookieSync false: the header is dropped and nothing is fetched.
    const off = connected({ cookieSync: false });
    const third = off.client.get("/login");
    [emit] = await off.socket.emittedCount(1);
    answer(emit, { headers: { "X-SockReq-Cookie-Sync": "tok3" } });
    assert.deepEqual((await third).headers, {});
    assert.equal(fetched.length, 2);
    off.client.close();
  } finally {
    globalThis.fetch = saved;
  }
});

test("streamWindow: the window a streamed request asks for", async () => {
  const { client, socket } = connected({ streamWindow: 4096 });
  client.fetch("/big").catch(() => {});
  const [emit] = await socket.emittedCount(1);
  assert.equal(emit.payload.stream.window, 4096);
  client.fetch("/big", { streamWindow: 100 }).catch(() => {});
  const [, second] = await socket.emittedCount(2);
  assert.equal(second.payload.stream.window, 100);
  client.close();
  const other = connected({});
  other.client.fetch("/big").catch(() => {});
  const [third] = await other.socket.emittedCount(1);
  assert.equal(third.payload.stream.window, HELLO.streams.window);
  other.client.close();
  const off = connected({ streams: false });
  off.client.fetch("/big").catch(() => {});
  const [fourth] = await off.socket.emittedCount(1);
  assert.equal(fourth.payload.stream, undefined);
  off.client.close();
});

async function reconnectAfterJoining(options) {
  const { client, socket } = connected(options);
  const joining = client.get("/pets");
  const [emit] = await socket.emittedCount(1);
  answer(emit, { body: [], joined: true });
  await joining;
  assert.deepEqual(client.subscriptions, [{ method: "GET", url: "/pets" }]);
  socket.connected = false;
  socket.fire("disconnect", "transport close");
  socket.connect(HELLO);
  // The marker: a request made after the reconnection.
  client.get("/marker").catch(() => {});
  await socket.emittedCount(2);
  await new Promise((resolve) => setImmediate(resolve));
  return { client, socket };
}

test("resubscribe and onResubscribe", async () => {
  const results = [];
  const on = await reconnectAfterJoining({ onResubscribe: (list) => results.push(list) });
  const urls = on.socket.emitted.map((emit) => emit.payload.url);
  assert.deepEqual(urls.slice(0, 3), ["/pets", "/pets", "/marker"]);
  answer(on.socket.emitted[1], { statusCode: 200 });
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(results, [[{ method: "GET", url: "/pets", statusCode: 200 }]]);
  on.client.close();
  const off = await reconnectAfterJoining({ resubscribe: false });
  assert.deepEqual(off.socket.emitted.map((emit) => emit.payload.url), ["/pets", "/marker"]);
  off.client.close();
});

(async () => {
  globalThis.location = { href: "http://localhost:5000/page" };
  let failed = 0;
  for (const { name, body } of tests) {
    try {
      await body();
      console.log(`ok - ${name}`);
    } catch (error) {
      failed++;
      console.log(`not ok - ${name}\n${error.stack}`);
    }
  }
  process.exit(failed ? 1 : 0);
})();
