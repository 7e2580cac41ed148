/*!
 * Flask-SockReq browser client: fetch() and JWR requests over Socket.IO.
 *
 * Needs socket.io-client 4 (the page's global `io`, or `{io}` / `{socket}` in
 * the options); it does not bundle it. Works as a classic script (global
 * `SockReq`), as an ES module (`import "/sockreq.js"` sets the global; the
 * module `sockreq.mjs` next to this file re-exports it) and under CommonJS.
 *
 *   const api = SockReq.connect();
 *   const res = await api.fetch("/todos/1");     // a standard Response
 *   const jwr = await api.get("/todos", {page: 2}); // {body, headers, statusCode, ok}
 *
 * fetch() speaks version 1 of the wire protocol's streams: response bodies
 * arrive as a ReadableStream within a credit window, bodies of any size are
 * uploaded in chunks, and an AbortSignal cancels both. Requests beyond the
 * server's maxInflight (and maxStreams) wait in a queue, and the requests
 * that put the socket in rooms are sent again after a reconnection.
 *
 * License: BSD-3-Clause.
 */
(function (root, factory) {
  "use strict";
  var SockReq = factory(root);
  if (typeof module === "object" && module && module.exports) {
    module.exports = SockReq;
  } else if (root) {
    root.SockReq = SockReq;
  }
})(typeof globalThis !== "undefined" ? globalThis : this, function (root) {
  "use strict";

  var VERSION = "0.1.0";
  var METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
  var SYNC_HEADER = "x-sockreq-cookie-sync";
  var SYNC_URL_HEADER = "x-sockreq-cookie-sync-url";
  var NULL_BODY_STATUSES = [101, 103, 204, 205, 304];
  var REASONS = {
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content",
    301: "Moved Permanently", 302: "Found", 303: "See Other",
    304: "Not Modified", 307: "Temporary Redirect", 308: "Permanent Redirect",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
    413: "Payload Too Large", 414: "URI Too Long", 415: "Unsupported Media Type",
    418: "I'm a teapot", 422: "Unprocessable Content", 429: "Too Many Requests",
    500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout"
  };
  var DEFAULTS = {
    path: "/socket.io",
    namespace: "/",
    transports: ["websocket"],
    timeout: 30000,
    headers: null,
    reconnection: true,
    reconnectionDelay: 1000,
    reconnectionDelayMax: 5000,
    randomizationFactor: 0.5,
    connectTimeout: 20000,
    cookieSync: true,
    cookieSyncUrl: "/_sockreq/cookies",
    streams: true,
    streamWindow: null,
    helloTimeout: 1000,
    resubscribe: true,
    onResubscribe: null
  };

  // The events of the wire protocol, version 1 (docs/protocol.rst).
  var HELLO = "sockreq:hello";
  var CHUNK = "sockreq:chunk";
  var CREDIT = "sockreq:credit";
  var END = "sockreq:end";
  var ERROR = "sockreq:error";
  var CANCEL = "sockreq:cancel";
  var STREAM_VERSION = 1;
  // The answers of a server that refused a request before its app saw it,
  // for a limit: safe to send again.
  var REFUSALS = ["too_many_requests", "too_many_streams"];
  var MAX_RETRIES = 8;

  /** What a client assumes until the server's sockreq:hello says otherwise. */
  function defaultLimits() {
    return {
      maxInflight: 100,
      streams: true,
      maxStreams: 16,
      chunkSize: 64 * 1024,
      window: 1024 * 1024,
      idleTimeout: 30
    };
  }

  /**
   * A request that got no answer: the socket disconnected while it was in
   * flight ("disconnected"), the client was closed ("closed"), no answer
   * came in time ("timeout"), or the request could not be sent ("invalid");
   * or a streamed body that failed: the server's response failed or idled
   * ("stream_failed", "timeout"), the request body could not be read
   * ("upload_failed").
   * It extends TypeError, as fetch() rejects with a TypeError on network
   * failures, so code written for fetch() handles it unchanged.
   */
  function SockReqError(code, message, request) {
    var error = new TypeError(message);
    Object.setPrototypeOf(error, SockReqError.prototype);
    error.name = "SockReqError";
    error.code = code;
    error.request = request || null;
    return error;
  }
  SockReqError.prototype = Object.create(TypeError.prototype, {
    constructor: { value: SockReqError, writable: true, configurable: true }
  });

  function assign(target) {
    for (var i = 1; i < arguments.length; i++) {
      var source = arguments[i];
      if (source) {
        for (var key in source) {
          if (Object.prototype.hasOwnProperty.call(source, key) && source[key] !== undefined) {
            target[key] = source[key];
          }
        }
      }
    }
    return target;
  }

  function noop() {}

  /** Headers of any form fetch() takes, as a plain object. */
  function plainHeaders(headers) {
    var result = {};
    if (!headers) return result;
    if (typeof Headers !== "undefined" && headers instanceof Headers) {
      headers.forEach(function (value, name) { result[name] = value; });
    } else if (Array.isArray(headers)) {
      headers.forEach(function (pair) { result[String(pair[0])] = String(pair[1]); });
    } else {
      for (var name in headers) {
        if (Object.prototype.hasOwnProperty.call(headers, name) && headers[name] !== undefined) {
          result[name] = headers[name];
        }
      }
    }
    return result;
  }

  /** Merge header objects; later ones win, names compared without case. */
  function mergeHeaders() {
    var result = {};
    var names = {};
    for (var i = 0; i < arguments.length; i++) {
      var headers = arguments[i];
      if (!headers) continue;
      for (var name in headers) {
        if (!Object.prototype.hasOwnProperty.call(headers, name)) continue;
        var lower = name.toLowerCase();
        if (names[lower] !== undefined) delete result[names[lower]];
        names[lower] = name;
        result[name] = headers[name];
      }
    }
    return result;
  }

  function findHeader(headers, wanted) {
    for (var name in headers) {
      if (name.toLowerCase() === wanted) return name;
    }
    return null;
  }

  function isBinary(value) {
    return (
      (typeof ArrayBuffer !== "undefined" &&
        (value instanceof ArrayBuffer || ArrayBuffer.isView(value))) ||
      (typeof Blob !== "undefined" && value instanceof Blob)
    );
  }

  function toArrayBuffer(value) {
    if (value instanceof ArrayBuffer) return value;
    // A view may cover part of its buffer: copy just that part.
    return value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength);
  }

  /** Any BufferSource as a Uint8Array over the same memory. */
  function toBytes(value) {
    if (value instanceof Uint8Array) return value;
    if (value instanceof ArrayBuffer) return new Uint8Array(value);
    if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    return null;
  }

  function utf8(text) {
    return new TextEncoder().encode(text);
  }

  function escapeQuoted(text) {
    return String(text).replace(/\r/g, "%0D").replace(/\n/g, "%0A").replace(/"/g, "%22");
  }

  function isReadableStream(value) {
    return typeof ReadableStream !== "undefined" && value instanceof ReadableStream;
  }

  /**
   * A FormData as the multipart/form-data body a browser sends, built as a
   * Blob of its parts: the files in it are referenced, not copied, so a
   * large one is read a chunk at a time when it is uploaded.
   */
  function multipartBlob(formData) {
    var boundary = "----SockReqFormBoundary" + Math.random().toString(36).slice(2) +
      Math.random().toString(36).slice(2);
    var parts = [];
    formData.forEach(function (value, name) {
      var head = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + escapeQuoted(name) + "\"";
      if (typeof value === "string") {
        parts.push(head + "\r\n\r\n" + value.replace(/\r?\n|\r/g, "\r\n") + "\r\n");
      } else {
        var filename = value.name !== undefined ? value.name : "blob";
        parts.push(
          head + "; filename=\"" + escapeQuoted(filename) + "\"\r\nContent-Type: " +
          (value.type || "application/octet-stream") + "\r\n\r\n",
          value,
          "\r\n"
        );
      }
    });
    parts.push("--" + boundary + "--\r\n");
    return { blob: new Blob(parts), contentType: "multipart/form-data; boundary=" + boundary };
  }

  // Sources of an uploaded body: read(max) resolves with an ArrayBuffer of
  // at most max bytes, or null at the end; cancel() lets go of it.

  function blobSource(blob) {
    var offset = 0;
    return {
      read: function (max) {
        if (offset >= blob.size) return Promise.resolve(null);
        var piece = blob.slice(offset, offset + max);
        offset += piece.size;
        return piece.arrayBuffer();
      },
      cancel: noop
    };
  }

  function bytesSource(bytes) {
    var offset = 0;
    return {
      read: function (max) {
        if (offset >= bytes.byteLength) return Promise.resolve(null);
        var piece = bytes.slice(offset, offset + max);
        offset += piece.byteLength;
        return Promise.resolve(piece.buffer);
      },
      cancel: noop
    };
  }

  function streamSource(stream) {
    var reader = null;
    var rest = null;
    function take(max) {
      var piece = rest.slice(0, max);
      rest = rest.subarray(piece.byteLength);
      return piece.buffer;
    }
    function read(max) {
      if (rest && rest.byteLength) return Promise.resolve(take(max));
      if (!reader) reader = stream.getReader();
      return reader.read().then(function (result) {
        if (result.done) return null;
        rest = toBytes(result.value);
        if (rest === null) {
          throw new TypeError("A ReadableStream request body must yield Uint8Array chunks, as fetch() requires.");
        }
        return read(max);
      });
    }
    return {
      read: read,
      cancel: function (reason) {
        var promise = reader ? reader.cancel(reason) : stream.cancel(reason);
        if (promise && promise.catch) promise.catch(noop);
      }
    };
  }

  /** A body uploaded in frames: its length (null if unknown) and source. */
  function upload(length, makeSource, replayable) {
    return { length: length, makeSource: makeSource, replayable: replayable };
  }

  function textBody(text, contentType, limit) {
    var bytes = utf8(text);
    if (limit === null || bytes.byteLength <= limit) {
      return { data: text, contentType: contentType, length: bytes.byteLength };
    }
    return {
      upload: upload(bytes.byteLength, function () { return bytesSource(bytes); }, true),
      contentType: contentType,
      length: bytes.byteLength
    };
  }

  function blobBody(blob, contentType, limit) {
    if (limit === null || blob.size <= limit) {
      return blob.arrayBuffer().then(function (buffer) {
        return { data: buffer, contentType: contentType, length: buffer.byteLength };
      });
    }
    return Promise.resolve({
      upload: upload(blob.size, function () { return blobSource(blob); }, true),
      contentType: contentType,
      length: blob.size
    });
  }

  function bytesBody(bytes, limit) {
    if (limit === null || bytes.byteLength <= limit) {
      return { data: toArrayBuffer(bytes), contentType: null, length: bytes.byteLength };
    }
    return {
      upload: upload(bytes.byteLength, function () { return bytesSource(bytes); }, true),
      contentType: null,
      length: bytes.byteLength
    };
  }

  /**
   * A fetch() body as what the request sends, and its default Content-Type:
   * a body of at most `limit` bytes goes in the payload's data (strings as
   * they are, forms encoded as a browser encodes them, binary as an
   * ArrayBuffer, the raw body on the server); a larger one, or a
   * ReadableStream, is uploaded in frames. A null limit sends all inline.
   */
  function prepareBody(body, limit) {
    if (body === undefined || body === null) {
      return Promise.resolve({ data: undefined, contentType: null, length: 0 });
    }
    if (typeof body === "string") {
      return Promise.resolve(textBody(body, "text/plain;charset=UTF-8", limit));
    }
    if (typeof URLSearchParams !== "undefined" && body instanceof URLSearchParams) {
      return Promise.resolve(textBody(body.toString(), "application/x-www-form-urlencoded;charset=UTF-8", limit));
    }
    if (typeof FormData !== "undefined" && body instanceof FormData) {
      var multipart = multipartBlob(body);
      return blobBody(multipart.blob, multipart.contentType, limit);
    }
    if (typeof Blob !== "undefined" && body instanceof Blob) {
      return blobBody(body, body.type || null, limit);
    }
    if (isBinary(body)) {
      return Promise.resolve(bytesBody(toBytes(body), limit));
    }
    if (isReadableStream(body)) {
      if (limit === null) {
        return Promise.reject(SockReqError("invalid", "SockReq fetch() sends a ReadableStream body only as a stream, which this request does not use (streams: false, or a server without streams)."));
      }
      var source = streamSource(body);
      return Promise.resolve({
        upload: upload(null, function () { return source; }, false),
        contentType: null,
        length: null
      });
    }
    return Promise.resolve(textBody(String(body), "text/plain;charset=UTF-8", limit));
  }

  /** A JWR body as what new Response() takes. */
  function responseBody(jwr) {
    var body = jwr.body;
    if (body === undefined || body === null) return null;
    if (typeof body === "string") return body;
    if (isBinary(body)) return body;
    // A Node.js Buffer (Socket.IO in Node) is a Uint8Array: handled above.
    return JSON.stringify(body);
  }

  /** The size in bytes of a buffered JWR body, for download progress. */
  function bodySize(body) {
    if (body === undefined || body === null) return 0;
    if (typeof body === "string") return utf8(body).byteLength;
    if (typeof Blob !== "undefined" && body instanceof Blob) return body.size;
    if (isBinary(body)) return body.byteLength;
    return utf8(JSON.stringify(body)).byteLength;
  }

  /** Call a progress callback; its errors are reported, not thrown here. */
  function progress(callback, loaded, total) {
    if (typeof callback !== "function") return;
    try {
      callback({ loaded: loaded, total: total });
    } catch (error) {
      setTimeout(function () { throw error; }, 0);
    }
  }

  function abortError(signal) {
    if (signal && signal.reason !== undefined) return signal.reason;
    if (typeof DOMException !== "undefined") {
      return new DOMException("The operation was aborted.", "AbortError");
    }
    var error = new Error("The operation was aborted.");
    error.name = "AbortError";
    return error;
  }

  function warn(message) {
    if (typeof console === "object" && console.warn) console.warn("SockReq: " + message);
  }

  /** The path of a request url, without its query. */
  function pathOf(url) {
    try {
      return new URL(url, "http://localhost/").pathname;
    } catch (error) {
      return String(url).split("?")[0];
    }
  }

  /** What tells two subscriptions apart; null when the body is binary. */
  function subscriptionKey(request, hasUpload) {
    if (hasUpload) return null;
    var data = request.data;
    var body = "";
    if (typeof data === "string") body = data;
    else if (data !== undefined && data !== null) {
      if (isBinary(data)) return null;
      try {
        body = JSON.stringify(data);
      } catch (error) {
        return null;
      }
    }
    return request.method + " " + request.url + " " + body;
  }

  /**
   * A connection to a Flask-SockReq server.
   *
   * @param {string} [url] The server, such as "https://api.example.com";
   *   the page's own origin by default.
   * @param {object} [options] See SockReq.connect.
   */
  function Client(url, options) {
    if (url && typeof url === "object") {
      options = url;
      url = undefined;
    }
    this.options = assign({}, DEFAULTS, options);
    /** Headers sent with every request, under the request's own. */
    this.headers = plainHeaders(this.options.headers);
    /**
     * The server's limits, from its sockreq:hello: maxInflight, streams,
     * maxStreams, chunkSize, window, idleTimeout.
     */
    this.limits = defaultLimits();
    this._pending = {};
    this._queue = [];
    this._inflight = {};
    this._inflightCount = 0;
    this._streams = {};
    this._streamCount = 0;
    this._subscriptions = [];
    this._nextId = 1;
    this._nextStream = 1;
    this._ready = false;
    this._helloTimer = null;
    this._pausedUntil = 0;
    this._pauseTimer = null;
    this._pumping = false;
    this._pumpAgain = false;
    this._refused = false;
    this._probe = null;
    this._probeTimer = null;
    this._closed = false;
    this._handlers = [];
    this._ownsSocket = !this.options.socket;
    this.socket = this.options.socket || this._createSocket(url);
    this.url = url || null;
    this._bind();
  }

  Client.prototype._createSocket = function (url) {
    var io = this.options.io || root.io;
    if (typeof io !== "function") {
      throw new Error(
        "SockReq needs socket.io-client 4: load it before sockreq.js" +
        " (<script src=\"https://cdn.socket.io/4.8.1/socket.io.min.js\">)," +
        " or pass {io} or {socket} to SockReq.connect()."
      );
    }
    var options = this.options;
    var namespace = options.namespace && options.namespace !== "/" ? options.namespace : "";
    var target = (url || "").replace(/\/+$/, "") + namespace;
    var ioOptions = assign({
      path: options.path,
      transports: options.transports,
      reconnection: options.reconnection,
      reconnectionDelay: options.reconnectionDelay,
      reconnectionDelayMax: options.reconnectionDelayMax,
      randomizationFactor: options.randomizationFactor,
      timeout: options.connectTimeout,
      query: options.query,
      auth: options.auth,
      extraHeaders: options.extraHeaders,
      withCredentials: options.withCredentials,
      forceNew: true
    }, options.ioOptions);
    return target ? io(target, ioOptions) : io(ioOptions);
  };

  Client.prototype._bind = function () {
    var self = this;
    this._listeners = [
      ["connect", function () { self._connected(); }],
      ["disconnect", function (reason) { self._disconnected(reason); }],
      [HELLO, function (hello) { self._hello(hello); }],
      [CHUNK, function (id, bytes) { self._frame(id, CHUNK, bytes); }],
      [END, function (id) { self._frame(id, END); }],
      [ERROR, function (id, info) { self._frame(id, ERROR, info); }],
      [CREDIT, function (id, size) { self._credit(id, size); }]
    ];
    this._listeners.forEach(function (pair) { self.socket.on(pair[0], pair[1]); });
    // A socket passed in connected has had its hello already: go on with
    // the limits assumed.
    if (this.socket.connected) this._becomeReady();
  };

  /** Whether the socket is connected right now. */
  Object.defineProperty(Client.prototype, "connected", {
    get: function () { return !!this.socket.connected; }
  });

  /** The socket's id on its namespace, once connected. */
  Object.defineProperty(Client.prototype, "id", {
    get: function () { return this.socket.id; }
  });

  /**
   * The requests remembered because their answer said the socket joined
   * rooms, in order: [{method, url}]. They are sent again after each
   * reconnection.
   */
  Object.defineProperty(Client.prototype, "subscriptions", {
    get: function () {
      return this._subscriptions.map(function (sub) {
        return { method: sub.method, url: sub.url };
      });
    }
  });

  Client.prototype._connected = function () {
    var self = this;
    this._ready = false;
    clearTimeout(this._helloTimer);
    // The server sends its limits right after the connect: wait for them
    // before sending, for a while (a server without the hello sends none).
    this._helloTimer = setTimeout(function () { self._becomeReady(); }, this.options.helloTimeout);
  };

  Client.prototype._hello = function (hello) {
    if (!hello || typeof hello !== "object") return;
    var limits = this.limits;
    if (hello.maxInflight === null) limits.maxInflight = null;
    else if (hello.maxInflight > 0) limits.maxInflight = Math.floor(hello.maxInflight);
    var streams = hello.streams;
    limits.streams = !!(streams && typeof streams === "object" && streams.v === STREAM_VERSION);
    if (limits.streams) {
      if (streams.chunkSize > 0) limits.chunkSize = Math.floor(streams.chunkSize);
      if (streams.window > 0) limits.window = Math.floor(streams.window);
      if (streams.maxStreams > 0) limits.maxStreams = Math.floor(streams.maxStreams);
      if (streams.idleTimeout > 0) limits.idleTimeout = streams.idleTimeout;
    }
    if (this.socket.connected) this._becomeReady();
    this._pump();
  };

  Client.prototype._becomeReady = function () {
    clearTimeout(this._helloTimer);
    if (this._ready || this._closed) return;
    // Subscriptions first, then what was queued while disconnected.
    this._resubscribe();
    this._ready = true;
    this._pump();
  };

  Client.prototype._disconnected = function (reason) {
    this._ready = false;
    this._refused = false;
    this._probe = null;
    clearTimeout(this._probeTimer);
    clearTimeout(this._helloTimer);
    var message = "The socket disconnected (" + reason + ") before the server answered; the request may or may not have run.";
    var inflight = this._inflight;
    var streams = this._streams;
    this._inflight = {};
    this._inflightCount = 0;
    this._streams = {};
    this._streamCount = 0;
    for (var id in inflight) {
      var entry = inflight[id];
      this._settle(entry, SockReqError("disconnected", message, entry.request));
    }
    for (var streamId in streams) {
      var record = streams[streamId];
      this._endStream(record, SockReqError("disconnected", "The socket disconnected (" + reason + ") before the body was complete.", record.entry.request), false);
    }
  };

  /**
   * Send what the queue holds, in order, within the server's limits: at
   * most maxInflight requests waiting for their answer, and at most
   * maxStreams requests that asked for a stream until their stream ends.
   * A request that waits for a stream lets plain requests behind it pass.
   */
  Client.prototype._pump = function () {
    if (!this._ready || this._closed || !this.socket.connected) return;
    if (Date.now() < this._pausedUntil - 1) return;
    // A progress callback may send a request from inside the loop: it is
    // queued, and the loop runs again.
    if (this._pumping) {
      this._pumpAgain = true;
      return;
    }
    this._pumping = true;
    try {
      do {
        this._pumpAgain = false;
        this._pumpOnce();
      } while (this._pumpAgain && this.socket.connected);
    } finally {
      this._pumping = false;
    }
  };

  Client.prototype._pumpOnce = function () {
    // After a refusal, one request at a time finds out whether the server
    // has room again.
    if (this._probe) return;
    var maxInflight = this.limits.maxInflight;
    var maxStreams = this.limits.maxStreams;
    var queue = this._queue;
    var rest = [];
    for (var i = 0; i < queue.length; i++) {
      var entry = queue[i];
      if (entry.settled || entry.sent) continue;
      if (maxInflight !== null && this._inflightCount >= maxInflight) {
        rest = rest.concat(queue.slice(i));
        break;
      }
      if (entry.stream && this._streamCount >= maxStreams) {
        rest.push(entry);
        continue;
      }
      this._send(entry);
      if (this._refused) {
        this._startProbe(entry);
        rest = rest.concat(queue.slice(i + 1));
        break;
      }
    }
    this._queue = rest;
  };

  /**
   * Send `entry` alone; the queue waits for its answer, or a second at most
   * (a probe that hangs must not hold up the rest for ever).
   */
  Client.prototype._startProbe = function (entry) {
    var self = this;
    entry.probe = true;
    this._probe = entry;
    clearTimeout(this._probeTimer);
    this._probeTimer = setTimeout(function () {
      if (self._probe !== entry) return;
      self._probe = null;
      self._pump();
    }, 1000);
  };

  /** Send nothing for `ms` milliseconds (after the server refused one). */
  Client.prototype._pause = function (ms) {
    var self = this;
    this._pausedUntil = Math.max(this._pausedUntil, Date.now() + ms);
    clearTimeout(this._pauseTimer);
    this._pauseTimer = setTimeout(function () { self._pump(); }, this._pausedUntil - Date.now());
  };

  Client.prototype._settle = function (entry, error, jwr) {
    if (entry.settled) return;
    entry.settled = true;
    delete this._pending[entry.id];
    clearTimeout(entry.timer);
    if (entry.signal && entry.onAbort) entry.signal.removeEventListener("abort", entry.onAbort);
    if (error) entry.reject(error);
    else entry.resolve(jwr);
  };

  /**
   * Give up on a request (aborted, timed out, its body unreadable): it
   * rejects with `error` at once. One already sent still counts against
   * the limits until its answer comes, as it does on the server; its
   * stream is cancelled.
   */
  Client.prototype._abandon = function (entry, error) {
    this._settle(entry, error);
    var record = entry.record;
    if (!entry.sent && entry.upload) entry.upload.makeSource().cancel(error);
    if (!record || !entry.sent) return;
    if (!entry.acked) {
      this._stopUpload(record, error);
      this._emit(CANCEL, record.id);
    } else if (record.body) {
      this._endStream(record, error, true);
    }
  };

  Client.prototype._arm = function (entry) {
    var self = this;
    clearTimeout(entry.timer);
    if (!entry.timeout || entry.settled) return;
    entry.timer = setTimeout(function () {
      var request = entry.request;
      var why = ".";
      if (!entry.sent && !self._ready) why = ": the socket did not connect in time.";
      else if (!entry.sent) why = ": it waited in the queue behind the requests in flight (the server allows " + self.limits.maxInflight + " requests and " + self.limits.maxStreams + " streams at once).";
      self._abandon(entry, SockReqError(
        "timeout",
        "No answer to " + request.method + " " + request.url + " within " + entry.timeout + " ms" + why
      , request));
    }, entry.timeout);
  };

  Client.prototype._emit = function () {
    // Never into socket.io-client's buffer: frames of a connection that is
    // gone mean nothing to the next one.
    if (this.socket.connected) this.socket.emit.apply(this.socket, arguments);
  };

  /**
   * Queue one request. spec: method, url, data, headers (the request's
   * own; the client's are merged under them), timeout, signal; for
   * fetch(): stream (ask for streams), upload (a body sent in frames),
   * length (the body's size), window, onUploadProgress,
   * onDownloadProgress; for replays: discard (the answer is not wanted).
   */
  Client.prototype._submit = function (spec) {
    var self = this;
    if (this._closed) {
      return Promise.reject(SockReqError("closed", "This SockReq client was closed; connect a new one."));
    }
    var entry = {
      id: this._nextId++,
      request: {
        method: spec.method,
        url: spec.url,
        data: spec.data,
        headers: mergeHeaders(this.headers, spec.headers)
      },
      headers: spec.headers,
      sent: false,
      acked: false,
      settled: false,
      signal: spec.signal || null,
      stream: !!spec.stream,
      upload: spec.upload || null,
      length: spec.length,
      window: spec.window,
      onUploadProgress: spec.onUploadProgress,
      onDownloadProgress: spec.onDownloadProgress,
      discard: !!spec.discard,
      retries: 0,
      record: null
    };
    var promise = new Promise(function (resolve, reject) {
      entry.resolve = resolve;
      entry.reject = reject;
    });
    if (entry.signal && entry.signal.aborted) {
      this._settle(entry, abortError(entry.signal));
      return promise;
    }
    this._pending[entry.id] = entry;
    entry.timeout = spec.timeout !== undefined ? spec.timeout : this.options.timeout;
    this._arm(entry);
    if (entry.signal) {
      entry.onAbort = function () { self._abandon(entry, abortError(entry.signal)); };
      entry.signal.addEventListener("abort", entry.onAbort);
    }
    this._queue.push(entry);
    this._pump();
    return promise;
  };

  Client.prototype._send = function (entry) {
    var self = this;
    entry.sent = true;
    this._inflight[entry.id] = entry;
    this._inflightCount++;
    var request = entry.request;
    var payload = { method: request.method.toLowerCase(), url: request.url, headers: request.headers };
    if (request.data !== undefined) payload.data = request.data;
    if (entry.stream) {
      var record = this._openStream(entry);
      payload.stream = { v: STREAM_VERSION, id: record.id, window: record.window };
      if (entry.upload) payload.stream.upload = { length: entry.upload.length };
    }
    this.socket.emit(payload.method, payload, function (jwr) {
      self._acked(entry, jwr);
    });
    if (!entry.upload && entry.length) {
      progress(entry.onUploadProgress, entry.length, entry.length);
    }
  };

  /** The acknowledgement of a request: its JWR. */
  Client.prototype._acked = function (entry, raw) {
    if (this._inflight[entry.id] !== entry) return; // of a connection that is gone
    delete this._inflight[entry.id];
    this._inflightCount--;
    entry.acked = true;
    var record = entry.record;
    if (!raw || typeof raw !== "object") {
      raw = { body: raw, headers: {}, statusCode: 200 };
    }
    var refused = raw.statusCode === 429 && !!raw.body && REFUSALS.indexOf(raw.body.error) >= 0;
    if (entry === this._probe) {
      this._probe = null;
      clearTimeout(this._probeTimer);
    }
    if (refused) this._refused = true;
    else if (entry.probe) this._refused = false;
    entry.probe = false;
    if (refused && !entry.settled && entry.retries < MAX_RETRIES) {
      // Refused before the app saw it: the server still counts requests
      // this client saw answered (a view that goes on after its 504, or
      // one counted out just after its answer). Send it again shortly,
      // first in line.
      entry.sent = false;
      entry.acked = false;
      entry.record = null;
      entry.retries++;
      this._pause(Math.min(1000, 5 * Math.pow(2, entry.retries)));
      this._queue.unshift(entry);
      if (record) {
        record.uploading = false; // the body goes again, from its start
        this._endStream(record, null, false);
      }
      return;
    }
    // The answer ends the upload.
    if (record) this._stopUpload(record, null);
    if (raw.left === true) this.forget(entry.request.url);
    if (raw.joined === true && !entry.discard) this._remember(entry);
    var streamed = record && raw.stream && typeof raw.stream === "object" &&
      (raw.body === null || raw.body === undefined);
    if (record && !streamed) {
      this._endStream(record, null, false);
    } else if (streamed && (entry.settled || entry.discard)) {
      this._endStream(record, null, true);
    } else if (streamed) {
      var length = typeof raw.stream.length === "number" ? raw.stream.length : null;
      this._openBody(record, length, raw.headers);
    }
    if (!entry.settled) {
      if (!streamed && entry.onDownloadProgress) {
        var size = bodySize(raw.body);
        progress(entry.onDownloadProgress, size, size);
      }
      this._answer(entry, raw);
    }
    this._pump();
  };

  Client.prototype._answer = function (entry, raw) {
    var self = this;
    var headers = raw.headers && typeof raw.headers === "object" ? assign({}, raw.headers) : {};
    var status = typeof raw.statusCode === "number" ? raw.statusCode : 200;
    var jwr = {
      body: raw.body === undefined ? null : raw.body,
      headers: headers,
      statusCode: status,
      ok: status >= 200 && status < 300
    };
    if (entry.record && entry.record.body) {
      // The body that follows in frames, for fetch().
      Object.defineProperty(jwr, "_stream", { value: entry.record });
    }
    var syncName = findHeader(headers, SYNC_HEADER);
    if (syncName === null) {
      this._settle(entry, null, jwr);
      return;
    }
    var token = headers[syncName];
    delete headers[syncName];
    var urlName = findHeader(headers, SYNC_URL_HEADER);
    var syncUrl = urlName === null ? this.options.cookieSyncUrl : headers[urlName];
    if (urlName !== null) delete headers[urlName];
    if (!this.options.cookieSync || typeof fetch !== "function") {
      this._settle(entry, null, jwr);
      return;
    }
    // Resolve only once the browser holds the cookies, so that the next
    // HTTP request (or a reload) sees them.
    this._syncCookies(token, syncUrl).then(
      function () { self._settle(entry, null, jwr); },
      function () { self._settle(entry, null, jwr); }
    );
  };

  Client.prototype._syncCookies = function (token, syncUrl) {
    var base = this.url || (root.location ? root.location.href : undefined);
    var url = new URL(syncUrl, base);
    url.searchParams.set("token", token);
    url.searchParams.set("sid", this.socket.id);
    return fetch(url.toString(), { credentials: "include", cache: "no-store" }).then(function (res) {
      if (res.status !== 204 && typeof console === "object") {
        console.warn("SockReq: the cookie sync request got " + res.status + "; the browser did not get the cookies of the last socket response.");
      }
    });
  };

  // --- streams ---------------------------------------------------------

  /** The stream of a request that asks for one, counted from its send. */
  Client.prototype._openStream = function (entry) {
    var window = Math.max(1, Math.floor(entry.window || this.options.streamWindow || this.limits.window));
    var record = {
      id: String(this._nextStream++),
      entry: entry,
      window: window,
      // The response body: frames that came before the answer, then the
      // ReadableStream and its counts.
      early: [],
      body: null,
      controller: null,
      length: null,
      received: 0,
      granted: window,
      // The request body.
      uploading: !!entry.upload,
      source: null,
      credit: 0,
      sent: 0,
      reading: false,
      over: false
    };
    entry.record = record;
    this._streams[record.id] = record;
    this._streamCount++;
    return record;
  };

  /**
   * The stream is over: count it out, and error its body with `error`
   * (closed if null); `cancel` tells the server to stop it.
   */
  Client.prototype._endStream = function (record, error, cancel) {
    if (record.over) return;
    record.over = true;
    if (cancel) this._emit(CANCEL, record.id);
    this._stopUpload(record, error);
    if (record.controller) {
      try {
        if (error) record.controller.error(error);
        else record.controller.close();
      } catch (ignored) {
        // Already closed or errored by its reader.
      }
    }
    var signal = record.entry.signal;
    if (signal && record.onAbort) signal.removeEventListener("abort", record.onAbort);
    if (this._streams[record.id] === record) {
      delete this._streams[record.id];
      this._streamCount--;
      this._pump();
    }
  };

  /**
   * The response body of a streamed answer, as a ReadableStream whose
   * queue holds at most the window: credit is granted as its reader takes
   * bytes out, so a reader that stops makes the server stop.
   */
  Client.prototype._openBody = function (record, length, headers) {
    var self = this;
    record.length = length;
    if (length === null) {
      var lengthName = findHeader(headers || {}, "content-length");
      var declared = lengthName === null ? NaN : parseInt(headers[lengthName], 10);
      record.total = isNaN(declared) ? null : declared;
    } else {
      record.total = length;
    }
    record.body = new ReadableStream({
      start: function (controller) { record.controller = controller; },
      pull: function () { self._grant(record); },
      cancel: function () { self._endStream(record, null, true); }
    }, {
      highWaterMark: record.window,
      size: function (chunk) { return chunk.byteLength; }
    });
    var signal = record.entry.signal;
    if (signal) {
      record.onAbort = function () { self._endStream(record, abortError(signal), true); };
      signal.addEventListener("abort", record.onAbort);
    }
    var early = record.early;
    record.early = null;
    early.forEach(function (frame) { self._frame(record.id, frame[0], frame[1]); });
  };

  Client.prototype._grant = function (record) {
    if (record.over || !record.controller) return;
    var desired = record.controller.desiredSize;
    if (desired === null) return;
    // Unread bytes plus those still granted never exceed the window.
    var grant = record.received + desired - record.granted;
    var last = false;
    if (record.length !== null) {
      grant = Math.min(grant, record.length - record.granted);
      last = record.granted + grant >= record.length;
    }
    var threshold = Math.max(1, Math.min(this.limits.chunkSize, Math.floor(record.window / 4)));
    if (grant > 0 && (grant >= threshold || last)) {
      record.granted += grant;
      this._emit(CREDIT, record.id, grant);
    }
  };

  /** A sockreq:chunk, sockreq:end or sockreq:error from the server. */
  Client.prototype._frame = function (id, event, value) {
    var record = this._streams[String(id)];
    if (!record || record.over) return; // unknown or over: it crossed our cancel
    if (!record.entry.acked) {
      if (event === ERROR) {
        // Before the answer: the upload failed. The answer still comes,
        // and counts the request out.
        var info = value && typeof value === "object" ? value : {};
        this._abandon(record.entry, SockReqError(
          info.error === "timeout" ? "timeout" : "stream_failed",
          "The upload failed: " + (info.message || info.error || "the server stopped it."),
          record.entry.request
        ));
      } else if (record.early) {
        record.early.push([event, value]);
      }
      return;
    }
    if (!record.controller) return;
    if (event === CHUNK) {
      var bytes = toBytes(value);
      if (bytes === null) return;
      record.received += bytes.byteLength;
      record.controller.enqueue(bytes);
      progress(record.entry.onDownloadProgress, record.received, record.total);
    } else if (event === END) {
      this._endStream(record, null, false);
    } else if (event === ERROR) {
      var problem = value && typeof value === "object" ? value : {};
      this._endStream(record, SockReqError(
        problem.error === "timeout" ? "timeout" : "stream_failed",
        "The response body failed: " + (problem.message || problem.error || "the server stopped it."),
        record.entry.request
      ), false);
    }
  };

  /** A sockreq:credit: the server takes more of the request body. */
  Client.prototype._credit = function (id, size) {
    var record = this._streams[String(id)];
    if (!record || !record.uploading || typeof size !== "number" || size <= 0) return;
    record.credit += size;
    this._uploadStep(record);
  };

  /** Send the request body within the credit, a chunk at a time. */
  Client.prototype._uploadStep = function (record) {
    var self = this;
    if (!record.uploading || record.reading) return;
    var entry = record.entry;
    var body = entry.upload;
    if (!record.source) record.source = body.makeSource();
    if (body.length !== null && record.sent >= body.length) {
      this._finishUpload(record);
      return;
    }
    if (record.credit <= 0) return;
    record.reading = true;
    record.source.read(Math.min(this.limits.chunkSize, record.credit)).then(function (buffer) {
      record.reading = false;
      if (!record.uploading) return;
      if (buffer === null) {
        self._finishUpload(record);
        return;
      }
      if (!buffer.byteLength) {
        self._uploadStep(record);
        return;
      }
      self._emit(CHUNK, record.id, record.sent, buffer);
      record.sent += buffer.byteLength;
      record.credit -= buffer.byteLength;
      // The deadline counts from the last progress of an upload.
      self._arm(entry);
      progress(entry.onUploadProgress, record.sent, body.length);
      self._uploadStep(record);
    }, function (error) {
      record.reading = false;
      if (!record.uploading) return;
      self._abandon(entry, SockReqError("upload_failed", "The request body could not be read: " + error, entry.request));
    });
  };

  Client.prototype._finishUpload = function (record) {
    record.uploading = false;
    this._emit(END, record.id, record.sent);
    if (record.sent === 0) progress(record.entry.onUploadProgress, 0, 0);
    this._arm(record.entry);
  };

  /**
   * Stop sending the request body: answered, failed or abandoned. Its
   * source is let go, read or not (a ReadableStream body is cancelled).
   */
  Client.prototype._stopUpload = function (record, reason) {
    if (!record.uploading) return;
    record.uploading = false;
    var source = record.source || record.entry.upload.makeSource();
    source.cancel(reason || undefined);
  };

  // --- subscriptions ---------------------------------------------------

  /** Remember a request whose answer said the socket joined rooms. */
  Client.prototype._remember = function (entry) {
    var request = entry.request;
    if (entry.upload && !entry.upload.replayable) {
      warn(request.method + " " + request.url + " put the socket in rooms, but its body was a ReadableStream, which cannot be sent again after a reconnection.");
      return;
    }
    var sub = {
      method: request.method,
      url: request.url,
      data: request.data,
      headers: entry.headers,
      upload: entry.upload,
      length: entry.length,
      key: subscriptionKey(request, !!entry.upload)
    };
    var subs = this._subscriptions;
    for (var i = 0; i < subs.length; i++) {
      if (sub.key !== null && subs[i].key === sub.key) {
        subs[i] = sub;
        return;
      }
    }
    subs.push(sub);
  };

  /**
   * Forget remembered subscriptions: those of `url`'s path (any method and
   * query), or all of them without a url. They are no longer sent after a
   * reconnection; the socket stays in its rooms until it disconnects.
   *
   * @param {string} [url]
   * @returns {number} How many were forgotten.
   */
  Client.prototype.forget = function (url) {
    var before = this._subscriptions.length;
    if (url === undefined || url === null) {
      this._subscriptions = [];
    } else {
      var path = pathOf(String(url));
      this._subscriptions = this._subscriptions.filter(function (sub) {
        return pathOf(sub.url) !== path;
      });
    }
    return before - this._subscriptions.length;
  };

  /**
   * After a reconnection the socket is in no room: send the remembered
   * subscriptions again, in order, ahead of the queue. Their answers are
   * dropped; failures are logged.
   */
  Client.prototype._resubscribe = function () {
    var self = this;
    var subs = this._subscriptions;
    if (!subs.length || !this.options.resubscribe) return;
    var queued = this._queue;
    this._queue = [];
    var results = subs.map(function (sub) {
      var describe = sub.method + " " + sub.url;
      return self._submit({
        method: sub.method,
        url: sub.url,
        data: sub.data,
        headers: sub.headers,
        stream: !!sub.upload,
        upload: sub.upload,
        length: sub.length,
        discard: true
      }).then(function (jwr) {
        if (!jwr.ok) warn("resubscribing with " + describe + " got " + jwr.statusCode + ".");
        return { method: sub.method, url: sub.url, statusCode: jwr.statusCode };
      }, function (error) {
        warn("resubscribing with " + describe + " failed: " + error.message);
        return { method: sub.method, url: sub.url, error: error.code || error.name };
      });
    });
    this._queue = this._queue.concat(queued);
    var callback = this.options.onResubscribe;
    Promise.all(results).then(function (list) {
      if (typeof callback === "function") callback(list);
    });
  };

  // --- the API ---------------------------------------------------------

  /**
   * Send one request; resolves with its JWR {body, headers, statusCode, ok}.
   * Error statuses resolve too (with ok false), as with fetch(); a request
   * that gets no answer rejects with a SockReqError. The body is always
   * buffered in the JWR.
   *
   * @param {object} request {method, url, data, headers, timeout, signal}
   * @returns {Promise<object>}
   */
  Client.prototype.request = function (request) {
    request = request || {};
    var method = String(request.method || "GET").toUpperCase();
    if (METHODS.indexOf(method) < 0) {
      return Promise.reject(SockReqError("invalid", "SockReq cannot send a " + method + " request; the methods are " + METHODS.join(", ") + "."));
    }
    if (typeof request.url !== "string" || !request.url) {
      return Promise.reject(SockReqError("invalid", "A SockReq request needs a url string such as '/todos'."));
    }
    return this._submit({
      method: method,
      url: request.url,
      data: request.data,
      headers: plainHeaders(request.headers),
      timeout: request.timeout,
      signal: request.signal
    });
  };

  function shortcut(method) {
    return function (url, data, options) {
      return this.request(assign({}, options, { method: method, url: url, data: data }));
    };
  }

  /** client.get(url, data?, options?): data becomes the query string. */
  Client.prototype.get = shortcut("GET");
  Client.prototype.post = shortcut("POST");
  Client.prototype.put = shortcut("PUT");
  Client.prototype.patch = shortcut("PATCH");
  Client.prototype["delete"] = shortcut("DELETE");
  Client.prototype.head = shortcut("HEAD");

  /** The url of a fetch() input as the path to send, and as a full URL. */
  Client.prototype._resolve = function (input) {
    var base = this.url || (root.location ? root.location.href : "http://localhost/");
    var url = new URL(input, base);
    var server = new URL(this.url || base, base);
    if (url.host !== server.host) {
      throw SockReqError("invalid", "SockReq fetch() can only reach the server its socket is connected to (" + server.host + "), not " + url.host + ".");
    }
    return { path: url.pathname + url.search, href: url.href };
  };

  /**
   * fetch(), over the socket: the same arguments, a standard Response. It
   * resolves when the status and headers arrive; the body follows as a
   * ReadableStream. Bodies larger than a chunk, and ReadableStreams, are
   * uploaded in frames.
   *
   * @param {string|URL|Request} input
   * @param {object} [init] method, headers, body, signal, redirect, and:
   *   timeout (ms until the answer; for an upload, since its last progress),
   *   onUploadProgress({loaded, total}), onDownloadProgress({loaded, total}),
   *   streamWindow (bytes of the body taken ahead of its reader;
   *   options.streamWindow by default),
   *   stream (false: the whole body in the answer, as request() gets it).
   * @returns {Promise<Response>}
   */
  Client.prototype.fetch = function (input, init) {
    var self = this;
    init = init || {};
    var isRequest = typeof Request !== "undefined" && input instanceof Request;
    var method = String(init.method || (isRequest ? input.method : "GET")).toUpperCase();
    var headers = plainHeaders(init.headers || (isRequest ? input.headers : null));
    var signal = init.signal || (isRequest ? input.signal : null);
    var target;
    try {
      target = this._resolve(isRequest ? input.url : String(input));
    } catch (error) {
      return Promise.reject(error);
    }
    var streams = this._streamsFor(init);
    var limit = streams ? this.limits.chunkSize : null;
    var bodyPromise;
    if (init.body !== undefined && init.body !== null) {
      if (method === "GET" || method === "HEAD") {
        return Promise.reject(new TypeError("Request with " + method + " method cannot have body."));
      }
      bodyPromise = prepareBody(init.body, limit);
    } else if (isRequest && input.body && method !== "GET" && method !== "HEAD") {
      bodyPromise = input.blob().then(function (blob) { return blobBody(blob, null, limit); });
    } else {
      bodyPromise = prepareBody(null, limit);
    }
    return bodyPromise.then(function (prepared) {
      return self._fetchOnce(method, target, headers, prepared, init, signal, streams);
    }).then(function (jwr) {
      return self._follow(jwr, target, method, init, signal, 0);
    });
  };

  Client.prototype._streamsFor = function (init) {
    return !!(this.options.streams && this.limits.streams && init.stream !== false &&
      typeof ReadableStream !== "undefined");
  };

  Client.prototype._fetchOnce = function (method, target, headers, prepared, init, signal, streams) {
    headers = assign({}, headers);
    if (prepared.contentType && findHeader(headers, "content-type") === null) {
      headers["Content-Type"] = prepared.contentType;
    }
    return this._submit({
      method: method,
      url: target.path,
      data: prepared.data,
      upload: prepared.upload,
      length: prepared.length,
      headers: headers,
      timeout: init.timeout,
      signal: signal,
      stream: streams,
      window: init.streamWindow,
      onUploadProgress: init.onUploadProgress,
      onDownloadProgress: init.onDownloadProgress
    });
  };

  var REDIRECTS = [301, 302, 303, 307, 308];

  /** Follow redirects as fetch() does by default (redirect: "follow"). */
  Client.prototype._follow = function (jwr, target, method, init, signal, count) {
    var self = this;
    var locationName = findHeader(jwr.headers, "location");
    var mode = init.redirect || "follow";
    if (REDIRECTS.indexOf(jwr.statusCode) < 0 || locationName === null || mode === "manual") {
      if (jwr._stream && NULL_BODY_STATUSES.indexOf(jwr.statusCode) >= 0) {
        this._endStream(jwr._stream, null, true);
      }
      var response = toResponse(jwr, target.href);
      if (count) Object.defineProperty(response, "redirected", { value: true });
      return response;
    }
    // The redirect's own body is not wanted.
    if (jwr._stream) this._endStream(jwr._stream, null, true);
    if (mode === "error" || count >= 20) {
      return Promise.reject(SockReqError("invalid", "SockReq fetch() got a redirect to " + jwr.headers[locationName] + (mode === "error" ? " with redirect: \"error\"." : " after 20 redirects.")));
    }
    var next;
    try {
      next = this._resolve(new URL(jwr.headers[locationName], target.href).href);
    } catch (error) {
      return Promise.reject(error);
    }
    var keep = jwr.statusCode === 307 || jwr.statusCode === 308;
    var nextMethod = keep || method === "HEAD" ? method : "GET";
    var headers = plainHeaders(init.headers);
    if (!keep) {
      var typeName = findHeader(headers, "content-type");
      if (typeName !== null) delete headers[typeName];
    }
    var streams = this._streamsFor(init);
    return prepareBody(keep ? init.body : null, streams ? this.limits.chunkSize : null).then(function (prepared) {
      return self._fetchOnce(nextMethod, next, headers, prepared, init, signal, streams);
    }).then(function (nextJwr) {
      return self._follow(nextJwr, next, nextMethod, init, signal, count + 1);
    });
  };

  function toResponse(jwr, url) {
    var status = jwr.statusCode;
    var headers = new Headers();
    for (var name in jwr.headers) {
      try {
        headers.append(name, String(jwr.headers[name]));
      } catch (error) {
        // A header fetch() would refuse: leave it out, as fetch() would.
      }
    }
    var body;
    if (jwr._stream && NULL_BODY_STATUSES.indexOf(status) < 0) {
      body = jwr._stream.body;
    } else {
      body = NULL_BODY_STATUSES.indexOf(status) >= 0 ? null : responseBody(jwr);
      if (body !== null && typeof jwr.body === "object" && !isBinary(jwr.body) &&
          headers.get("content-type") === null) {
        headers.set("Content-Type", "application/json");
      }
    }
    // new Response() takes 200-599 only; a JWR may say otherwise.
    var response = new Response(body, {
      status: status >= 200 && status <= 599 ? status : 500,
      statusText: REASONS[status] || "",
      headers: headers
    });
    Object.defineProperty(response, "url", { value: url });
    Object.defineProperty(response, "jwr", { value: jwr });
    return response;
  }

  /** Listen to a server push (an event emitted to this socket or its rooms). */
  Client.prototype.on = function (event, handler) {
    this.socket.on(event, handler);
    this._handlers.push([event, handler]);
    return this;
  };

  /** Stop listening; without a handler, drop all of that event's handlers. */
  Client.prototype.off = function (event, handler) {
    if (handler) this.socket.off(event, handler);
    else this.socket.off(event);
    this._handlers = this._handlers.filter(function (pair) {
      return !(pair[0] === event && (!handler || pair[1] === handler));
    });
    return this;
  };

  /** Listen to a push once. */
  Client.prototype.once = function (event, handler) {
    this.socket.once(event, handler);
    return this;
  };

  /**
   * Close the client: requests not yet answered reject with "closed", and
   * bodies still streaming error. A socket the client created is
   * disconnected; one passed in is left open.
   */
  Client.prototype.close = function () {
    if (this._closed) return;
    this._closed = true;
    clearTimeout(this._helloTimer);
    clearTimeout(this._pauseTimer);
    clearTimeout(this._probeTimer);
    var error = "This SockReq client was closed before the server answered.";
    for (var id in this._pending) {
      var entry = this._pending[id];
      this._abandon(entry, SockReqError("closed", error, entry.request));
    }
    for (var streamId in this._streams) {
      var record = this._streams[streamId];
      this._endStream(record, SockReqError("closed", "This SockReq client was closed before the body was complete.", record.entry.request), true);
    }
    this._queue = [];
    var socket = this.socket;
    this._listeners.forEach(function (pair) { socket.off(pair[0], pair[1]); });
    this._handlers.forEach(function (pair) { socket.off(pair[0], pair[1]); });
    this._handlers = [];
    if (this._ownsSocket) socket.disconnect();
  };

  /**
   * Connect to a Flask-SockReq server.
   *
   * @param {string} [url] The server; the page's origin by default.
   * @param {object} [options]
   *   io: the socket.io-client function (default: the global io);
   *   socket: an existing socket.io-client Socket to use instead;
   *   path ("/socket.io"), namespace ("/"), transports (["websocket"]);
   *   headers: default headers of every request;
   *   timeout: ms before a request rejects (30000; 0 for none);
   *   reconnection (true), reconnectionDelay (1000), reconnectionDelayMax
   *   (5000), randomizationFactor (0.5), connectTimeout (20000);
   *   query, auth, extraHeaders, withCredentials, ioOptions: passed to io();
   *   cookieSync (true) and cookieSyncUrl ("/_sockreq/cookies"): redeem
   *   SOCKREQ_COOKIE_SYNC tokens so the browser gets the cookies;
   *   streams (true): fetch() streams bodies both ways (false: buffered);
   *   streamWindow (null: the server's streams.window, 1 MiB by default):
   *   bytes of a response body taken ahead of its reader;
   *   helloTimeout (1000): ms to wait after connecting for the server's
   *   limits before sending with those assumed;
   *   resubscribe (true): send the requests that joined rooms again after
   *   a reconnection; onResubscribe([{method, url, statusCode | error}]):
   *   called when they have been answered.
   * @returns {Client}
   */
  function connect(url, options) {
    return new Client(url, options);
  }

  return {
    connect: connect,
    Client: Client,
    SockReqError: SockReqError,
    METHODS: METHODS.slice(),
    version: VERSION
  };
});
