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
    cookieSyncUrl: "/_sockreq/cookies"
  };

  /**
   * A request that got no answer: the socket disconnected while it was in
   * flight ("disconnected"), the client was closed ("closed"), no answer
   * came in time ("timeout"), or the request could not be sent ("invalid").
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

  function utf8(text) {
    return new TextEncoder().encode(text);
  }

  function escapeQuoted(text) {
    return String(text).replace(/\r/g, "%0D").replace(/\n/g, "%0A").replace(/"/g, "%22");
  }

  /** Encode a FormData the way a browser does, as multipart/form-data. */
  function encodeMultipart(formData) {
    var boundary = "----SockReqFormBoundary" + Math.random().toString(36).slice(2) +
      Math.random().toString(36).slice(2);
    var parts = [];
    var reads = [];
    formData.forEach(function (value, name) {
      var head = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + escapeQuoted(name) + "\"";
      if (typeof value === "string") {
        parts.push(utf8(head + "\r\n\r\n" + value.replace(/\r?\n|\r/g, "\r\n") + "\r\n"));
      } else {
        var filename = value.name !== undefined ? value.name : "blob";
        head += "; filename=\"" + escapeQuoted(filename) + "\"\r\nContent-Type: " +
          (value.type || "application/octet-stream") + "\r\n\r\n";
        var index = parts.length;
        parts.push(null);
        reads.push(value.arrayBuffer().then(function (buffer) {
          var headBytes = utf8(head);
          var tail = utf8("\r\n");
          var bytes = new Uint8Array(headBytes.length + buffer.byteLength + tail.length);
          bytes.set(headBytes, 0);
          bytes.set(new Uint8Array(buffer), headBytes.length);
          bytes.set(tail, headBytes.length + buffer.byteLength);
          parts[index] = bytes;
        }));
      }
    });
    return Promise.all(reads).then(function () {
      parts.push(utf8("--" + boundary + "--\r\n"));
      var length = parts.reduce(function (sum, part) { return sum + part.length; }, 0);
      var body = new Uint8Array(length);
      var offset = 0;
      parts.forEach(function (part) { body.set(part, offset); offset += part.length; });
      return { data: body.buffer, contentType: "multipart/form-data; boundary=" + boundary };
    });
  }

  /**
   * A fetch() body as the payload's data and its default Content-Type:
   * strings as they are, forms encoded as a browser encodes them, binary
   * as an ArrayBuffer (a Socket.IO attachment, the raw body on the server).
   */
  function encodeBody(body) {
    if (body === undefined || body === null) {
      return Promise.resolve({ data: undefined, contentType: null });
    }
    if (typeof body === "string") {
      return Promise.resolve({ data: body, contentType: "text/plain;charset=UTF-8" });
    }
    if (typeof URLSearchParams !== "undefined" && body instanceof URLSearchParams) {
      return Promise.resolve({
        data: body.toString(),
        contentType: "application/x-www-form-urlencoded;charset=UTF-8"
      });
    }
    if (typeof FormData !== "undefined" && body instanceof FormData) {
      return encodeMultipart(body);
    }
    if (typeof Blob !== "undefined" && body instanceof Blob) {
      return body.arrayBuffer().then(function (buffer) {
        return { data: buffer, contentType: body.type || null };
      });
    }
    if (isBinary(body)) {
      return Promise.resolve({ data: toArrayBuffer(body), contentType: null });
    }
    if (typeof ReadableStream !== "undefined" && body instanceof ReadableStream) {
      return Promise.reject(SockReqError("invalid", "SockReq fetch() cannot send a ReadableStream body; read it into a Blob or ArrayBuffer first."));
    }
    return Promise.resolve({ data: String(body), contentType: "text/plain;charset=UTF-8" });
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

  function abortError(signal) {
    if (signal && signal.reason !== undefined) return signal.reason;
    if (typeof DOMException !== "undefined") {
      return new DOMException("The operation was aborted.", "AbortError");
    }
    var error = new Error("The operation was aborted.");
    error.name = "AbortError";
    return error;
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
    this._pending = {};
    this._queue = [];
    this._nextId = 1;
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
    this._onConnect = function () { self._flush(); };
    this._onDisconnect = function (reason) {
      self._failInflight("disconnected", "The socket disconnected (" + reason + ") before the server answered; the request may or may not have run.");
    };
    this.socket.on("connect", this._onConnect);
    this.socket.on("disconnect", this._onDisconnect);
    if (this.socket.connected) this._flush();
  };

  /** Whether the socket is connected right now. */
  Object.defineProperty(Client.prototype, "connected", {
    get: function () { return !!this.socket.connected; }
  });

  /** The socket's id on its namespace, once connected. */
  Object.defineProperty(Client.prototype, "id", {
    get: function () { return this.socket.id; }
  });

  Client.prototype._flush = function () {
    var queue = this._queue;
    this._queue = [];
    for (var i = 0; i < queue.length; i++) {
      if (!queue[i].settled) this._send(queue[i]);
    }
  };

  Client.prototype._failInflight = function (code, message) {
    for (var id in this._pending) {
      var entry = this._pending[id];
      if (entry.sent) this._settle(entry, SockReqError(code, message, entry.request));
    }
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

  Client.prototype._send = function (entry) {
    var self = this;
    entry.sent = true;
    var request = entry.request;
    var payload = { method: request.method.toLowerCase(), url: request.url, headers: request.headers };
    if (request.data !== undefined) payload.data = request.data;
    this.socket.emit(payload.method, payload, function (jwr) {
      if (entry.settled) return;
      self._answer(entry, jwr);
    });
  };

  Client.prototype._answer = function (entry, raw) {
    var self = this;
    if (!raw || typeof raw !== "object") {
      raw = { body: raw, headers: {}, statusCode: 200 };
    }
    var headers = raw.headers && typeof raw.headers === "object" ? assign({}, raw.headers) : {};
    var status = typeof raw.statusCode === "number" ? raw.statusCode : 200;
    var jwr = {
      body: raw.body === undefined ? null : raw.body,
      headers: headers,
      statusCode: status,
      ok: status >= 200 && status < 300
    };
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

  /**
   * Send one request; resolves with its JWR {body, headers, statusCode, ok}.
   * Error statuses resolve too (with ok false), as with fetch(); a request
   * that gets no answer rejects with a SockReqError.
   *
   * @param {object} request {method, url, data, headers, timeout, signal}
   * @returns {Promise<object>}
   */
  Client.prototype.request = function (request) {
    var self = this;
    request = request || {};
    var method = String(request.method || "GET").toUpperCase();
    if (METHODS.indexOf(method) < 0) {
      return Promise.reject(SockReqError("invalid", "SockReq cannot send a " + method + " request; the methods are " + METHODS.join(", ") + "."));
    }
    if (typeof request.url !== "string" || !request.url) {
      return Promise.reject(SockReqError("invalid", "A SockReq request needs a url string such as '/todos'."));
    }
    if (this._closed) {
      return Promise.reject(SockReqError("closed", "This SockReq client was closed; connect a new one."));
    }
    var entry = {
      id: this._nextId++,
      request: {
        method: method,
        url: request.url,
        data: request.data,
        headers: mergeHeaders(this.headers, plainHeaders(request.headers))
      },
      sent: false,
      settled: false,
      signal: request.signal || null
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
    var timeout = request.timeout !== undefined ? request.timeout : this.options.timeout;
    if (timeout) {
      entry.timer = setTimeout(function () {
        self._settle(entry, SockReqError(
          "timeout",
          "No answer to " + method + " " + request.url + " within " + timeout + " ms" +
          (entry.sent ? "." : ": the socket did not connect in time.")
        , entry.request));
      }, timeout);
    }
    if (entry.signal) {
      entry.onAbort = function () { self._settle(entry, abortError(entry.signal)); };
      entry.signal.addEventListener("abort", entry.onAbort);
    }
    if (this.socket.connected) this._send(entry);
    else this._queue.push(entry);
    return promise;
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
   * fetch(), over the socket: the same arguments, a standard Response.
   *
   * @param {string|URL|Request} input
   * @param {object} [init] method, headers, body, signal, and timeout (ms).
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
    var bodyPromise;
    if (init.body !== undefined && init.body !== null) {
      if (method === "GET" || method === "HEAD") {
        return Promise.reject(new TypeError("Request with " + method + " method cannot have body."));
      }
      bodyPromise = encodeBody(init.body);
    } else if (isRequest && input.body && method !== "GET" && method !== "HEAD") {
      bodyPromise = input.arrayBuffer().then(function (buffer) {
        return { data: buffer, contentType: null };
      });
    } else {
      bodyPromise = encodeBody(null);
    }
    return bodyPromise.then(function (encoded) {
      if (encoded.contentType && findHeader(headers, "content-type") === null) {
        headers["Content-Type"] = encoded.contentType;
      }
      return self.request({
        method: method,
        url: target.path,
        data: encoded.data,
        headers: headers,
        timeout: init.timeout,
        signal: signal
      });
    }).then(function (jwr) {
      return self._follow(jwr, target, method, init, signal, 0);
    });
  };

  var REDIRECTS = [301, 302, 303, 307, 308];

  /** Follow redirects as fetch() does by default (redirect: "follow"). */
  Client.prototype._follow = function (jwr, target, method, init, signal, count) {
    var self = this;
    var locationName = findHeader(jwr.headers, "location");
    var mode = init.redirect || "follow";
    if (REDIRECTS.indexOf(jwr.statusCode) < 0 || locationName === null || mode === "manual") {
      var response = toResponse(jwr, target.href);
      if (count) Object.defineProperty(response, "redirected", { value: true });
      return response;
    }
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
    return encodeBody(keep ? init.body : null).then(function (encoded) {
      return self.request({
        method: nextMethod,
        url: next.path,
        data: encoded.data,
        headers: headers,
        timeout: init.timeout,
        signal: signal
      });
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
    var body = NULL_BODY_STATUSES.indexOf(status) >= 0 ? null : responseBody(jwr);
    if (body !== null && typeof jwr.body === "object" && !isBinary(jwr.body) &&
        headers.get("content-type") === null) {
      headers.set("Content-Type", "application/json");
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
   * Close the client: requests not yet answered reject with "closed". A
   * socket the client created is disconnected; one passed in is left open.
   */
  Client.prototype.close = function () {
    if (this._closed) return;
    this._closed = true;
    var error = "This SockReq client was closed before the server answered.";
    for (var id in this._pending) {
      var entry = this._pending[id];
      this._settle(entry, SockReqError("closed", error, entry.request));
    }
    this._queue = [];
    this.socket.off("connect", this._onConnect);
    this.socket.off("disconnect", this._onDisconnect);
    var socket = this.socket;
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
   *   SOCKREQ_COOKIE_SYNC tokens so the browser gets the cookies.
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
