/**
 * The Sails.js peer of the Flask-SockReq benchmarks.
 *
 *     node app.js [--port N]        (or SAILS_BENCH_PORT=N / PORT=N; default 1337)
 *
 * It serves the routes of benchmarks/server.py, over HTTP and as socket
 * virtual requests (sails-hook-sockets), so that one load generator can
 * measure both:
 *
 *   GET  /item   {"id":1,"name":"widget","tags":["a","b"],"price":9.5}
 *   POST /echo   {"id":1,"bytes":<the body's length>}
 *   GET  /file   102,400 bytes (0-255 over and over), made at start-up
 *
 * The app is a default Sails 1.x app in production mode, minus what a
 * bare API server would drop: no grunt and no ORM (neither is installed), no
 * blueprints, no pubsub, no views. The session hook stays on, as it is in
 * every generated app, with its default memory store. It listens on
 * 127.0.0.1 only and prints "sails peer ready on PORT" once lifted; it
 * stops on SIGTERM or SIGINT.
 */

'use strict';

var fs = require('fs');
var os = require('os');
var path = require('path');

var ITEM = {id: 1, name: 'widget', tags: ['a', 'b'], price: 9.5};
var FILE_SIZE = 100 * 1024;

function readPort() {
  var i = process.argv.indexOf('--port');
  var raw = i >= 0 ? process.argv[i + 1] : (process.env.SAILS_BENCH_PORT || process.env.PORT || '1337');
  var port = Number(raw);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    console.error('sails peer: the port must be an integer between 1 and 65535, not ' + JSON.stringify(raw) + '.');
    process.exit(2);
  }
  return port;
}

// The file of GET /file, written once like server.py's make_file, in a
// directory of its own that is removed on exit.
function makeFile() {
  var directory = fs.mkdtempSync(path.join(os.tmpdir(), 'sockreq-bench-sails-'));
  var block = Buffer.alloc(256);
  for (var i = 0; i < 256; i++) {
    block[i] = i;
  }
  var data = Buffer.alloc(FILE_SIZE);
  for (var offset = 0; offset < FILE_SIZE; offset += 256) {
    block.copy(data, offset);
  }
  var filePath = path.join(directory, 'file.bin');
  fs.writeFileSync(filePath, data);
  return {directory: directory, filePath: filePath};
}

var port = readPort();
var file = makeFile();

function removeFile() {
  try {
    fs.rmSync(file.directory, {recursive: true, force: true});
  } catch (e) {
    // Nothing more can be done while exiting.
  }
}
process.on('exit', removeFile);

// Production mode is what a deployed Sails app runs in: compact JSON, no
// stack traces in responses. It insists on a session secret and on an
// origin check for sockets; the check below accepts every handshake because
// the load generator sends no Origin header (onlyAllowOrigins would refuse it).
process.env.NODE_ENV = 'production';

var sails = require('sails');

sails.lift({
  appPath: __dirname,
  environment: 'production',
  port: port,
  explicitHost: '127.0.0.1',
  log: {level: process.env.SAILS_BENCH_LOG_LEVEL || 'warn'},
  hooks: {
    grunt: false,
    orm: false,
    pubsub: false,
    blueprints: false,
    views: false,
  },
  session: {
    secret: 'sockreq-benchmark-not-a-secret',
    // The default cookie is `secure` in no mode; say so to keep the lift quiet.
    cookie: {secure: false},
  },
  sockets: {
    beforeConnect: function (handshake, proceed) {
      return proceed(undefined, true);
    },
  },
  routes: {
    'GET /item': function (req, res) {
      return res.json(ITEM);
    },
    'POST /echo': function (req, res) {
      // A socket virtual request has no Content-Length header: Sails
      // re-serialises `data` into its mock request stream internally but
      // does not expose the length, so it answers null.
      var length = req.headers['content-length'];
      return res.json({id: 1, bytes: length === undefined ? null : Number(length)});
    },
    'GET /file': function (req, res) {
      if (!req.isSocket) {
        return res.sendFile(file.filePath, {headers: {'Content-Type': 'application/octet-stream'}});
      }
      // Virtual responses have no sendFile and no streaming (Sails buffers
      // them), so read the file as send_file does per request and send the
      // Buffer: socket.io ships it as a binary attachment of the ack.
      fs.readFile(file.filePath, function (err, data) {
        if (err) {
          return res.serverError(err);
        }
        res.set('content-type', 'application/octet-stream');
        return res.send(data);
      });
    },
  },
}, function (err) {
  if (err) {
    console.error('sails peer: could not lift:', err);
    return process.exit(1);
  }
  console.log('sails peer ready on ' + port);
});

function shutDown() {
  sails.lower(function () {
    process.exit(0);
  });
  // Lowering waits for open sockets; do not let it outlast the signal's intent.
  setTimeout(function () {
    process.exit(0);
  }, 2000).unref();
}
process.on('SIGTERM', shutDown);
process.on('SIGINT', shutDown);
