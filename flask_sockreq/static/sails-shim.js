/*!
 * Flask-SockReq: make sails.io.js 1.2.1 work on socket.io-client 4.
 *
 * sails.io.js calls io(url, sailsSocket), passing its SailsSocket as the
 * options: socket.io-client 4 copies options with Object.assign, which skips
 * the SailsSocket's non-enumerable getters, so path, transports and query
 * are lost and the connection fails. This wraps io() so that it gets a plain
 * object with those options instead.
 *
 * Node.js:
 *   var sailsIoShim = require("flask-sockreq-path/static/sails-shim.js");
 *   var io = require("sails.io.js")(sailsIoShim(require("socket.io-client")));
 *   io.sails.url = "http://127.0.0.1:5000";
 *   io.socket.get("/todos", function (body, jwr) { ... });
 *
 * Browser (sails.io.js bundled with socket.io-client 4, with autoConnect
 * off until the shim is in place): window.io = SailsIoShim(io) before
 * sails.io.js runs.
 *
 * License: BSD-3-Clause.
 */
(function (root, factory) {
  "use strict";
  if (typeof module === "object" && module && module.exports) {
    module.exports = factory();
  } else if (root) {
    root.SailsIoShim = factory();
  }
})(typeof globalThis !== "undefined" ? globalThis : this, function () {
  "use strict";

  // The SailsSocket options socket.io-client 4 understands.
  var OPTIONS = [
    "path", "transports", "query", "extraHeaders", "transportOptions",
    "reconnection", "reconnectionAttempts", "reconnectionDelay",
    "reconnectionDelayMax", "randomizationFactor", "timeout", "multiplex",
    "rejectUnauthorized"
  ];

  return function sailsIoShim(io) {
    function shimmed(url, options) {
      if (url && typeof url === "object") {
        options = url;
        url = undefined;
      }
      var plain = {};
      OPTIONS.forEach(function (name) {
        if (options && options[name] !== undefined && options[name] !== null) {
          plain[name] = options[name];
        }
      });
      if (plain.multiplex === undefined) plain.forceNew = true;
      return url === undefined ? io(plain) : io(url, plain);
    }
    // Keep io.Manager, io.Socket, io.protocol and friends.
    Object.keys(io).forEach(function (key) { shimmed[key] = io[key]; });
    shimmed.connect = shimmed;
    return shimmed;
  };
});
