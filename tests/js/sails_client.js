// Drive sails.io.js 1.2.1 over socket.io-client 4, through Flask-SockReq's
// shim, against a server: node tests/js/sails_client.js http://127.0.0.1:5000
// Prints one JSON object with the results the Python test asserts on.
"use strict";
var path = require("path");
var shim = require(path.join(__dirname, "..", "..", "flask_sockreq", "static", "sails-shim.js"));
var io = require("sails.io.js")(shim(require("socket.io-client")));

io.sails.url = process.argv[2];
io.sails.environment = "production"; // no console banners on stdout
io.sails.reconnection = false;
io.sails.headers = { "X-Default": "from-io.sails.headers" };

var results = {};
var timer = setTimeout(function () {
  console.log(JSON.stringify({ error: "timed out", results: results }));
  process.exit(2);
}, 10000);

function call(name, fn) {
  return new Promise(function (resolve) {
    fn(function (body, jwr) {
      results[name] = { body: body, statusCode: jwr.statusCode, headers: jwr.headers, error: !!jwr.error };
      resolve();
    });
  });
}

call("get", function (cb) { io.socket.get("/hello/7", { q: "x" }, cb); })
  .then(function () { return call("post", function (cb) { io.socket.post("/echo", { a: [1, 2] }, cb); }); })
  .then(function () {
    return call("request", function (cb) {
      io.socket.request({ method: "put", url: "/api/v1/items/3", data: { b: true }, headers: { "X-Trace": "sails" } }, cb);
    });
  })
  .then(function () { return call("headers", function (cb) { io.socket.get("/headers", cb); }); })
  .then(function () { return call("notFound", function (cb) { io.socket.get("/nowhere", cb); }); })
  .then(function () {
    return new Promise(function (resolve) {
      io.socket.on("pushed", function (data) { results.push = data; resolve(); });
      io.socket.post("/push", { n: 1 }, function () {});
    });
  })
  .then(function () {
    clearTimeout(timer);
    console.log(JSON.stringify({ results: results }));
    io.socket.disconnect();
    process.exit(0);
  });
