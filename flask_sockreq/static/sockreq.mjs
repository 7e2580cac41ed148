/*
 * Flask-SockReq browser client as an ES module:
 *
 *   import SockReq, { connect, SockReqError } from "/sockreq.mjs";
 *
 * It loads sockreq.js (served next to it) for its side effect, the global
 * SockReq, and re-exports it. socket.io-client 4 must be loaded first, or
 * passed as {io} to connect().
 */
import "./sockreq.js";

const SockReq = globalThis.SockReq;
export default SockReq;
export const { connect, Client, SockReqError, METHODS, version } = SockReq;
