"""The packet codec: how Socket.IO packets are encoded and decoded.

python-socketio encodes and decodes every packet with its server's
``packet_class``. Flask-SockReq gives the server a subclass of that class (a
class of its own, never a change to the one python-socketio ships) that

- tags the payload of each request event, under :data:`ACK_KEY`, a key no
  JSON can spell, with the packet's ack id (the handler needs it to answer
  at a deadline, :mod:`flask_sockreq.acks`) and the connection's handshake
  environ, taken while the message is read: a request that arrives just
  before its client disconnects still runs, as an HTTP request the server
  has read does;
- encodes a :class:`JWR` acknowledgement in one step: a JSON response body,
  already JSON text, goes into the packet as it is (:class:`RawJSON`), and
  the search for binary attachments looks at the body only;
- encodes and decodes JSON with orjson when it is installed (the ``orjson``
  extra) and the app did not give Flask-SocketIO a ``json`` module of its
  own. What orjson cannot do exactly as the standard module does goes
  through the standard module: decoding a text with a run of 19 or more
  digits (an integer beyond 64 bits would become a float), NaN, Infinity or
  a lone surrogate; encoding an integer beyond 64 bits or a type orjson does
  not know. Two things differ, by orjson's design: non-ASCII text is sent as
  UTF-8 rather than ``\\u`` escapes, and a NaN or infinite float is sent as
  ``null`` (JSON has no such values, and JavaScript refuses ``NaN``).
"""

from __future__ import annotations

import gc
import json
import logging
import socket
import threading
import typing as t

from engineio import json as engineio_json
from socketio import packet as sio_packet

from .sockets import AUTH_KEY

try:
    import orjson
except ImportError:  # pragma: no cover - the orjson extra is optional
    orjson = None  # type: ignore[assignment]


logger = logging.getLogger("flask_sockreq")


class _AckKey:
    """The payload key of the ack id: not a string, so never from a client."""

    def __repr__(self) -> str:
        return "<sockreq ack id>"


#: The key under which a request payload carries ``(ack id, handshake
#: environ)``: the ack id is None for an event sent without an
#: acknowledgement callback, the environ None where the message was not read
#: through :class:`MessageGuard` (Flask-SocketIO's test client).
ACK_KEY: t.Any = _AckKey()


class JWR(dict):  # type: ignore[type-arg]
    """A JWR, ``{"body", "headers", "statusCode"}``: a dict that the packet
    class recognises, to encode it without searching it for binary data."""

    __slots__ = ()


class RawJSON:
    """A JSON text to put in a packet as it is, not parsed and dumped again.

    :param data: Valid JSON, UTF-8 encoded, with no NaN or infinity.
    """

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    @property
    def text(self) -> str:
        return self.data.decode()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RawJSON) and other.data == self.data

    def __hash__(self) -> int:
        return hash(self.data)

    def __repr__(self) -> str:
        return f"RawJSON({self.data!r})"


class NonFinite(float):
    """``NaN``, ``Infinity`` or ``-Infinity`` as decoded from a packet: a
    float, marked so that a request body or query can refuse it (JSON has no
    such values)."""

    __slots__ = ()


_DIGIT_MAP = bytes(48 if 48 <= byte <= 57 else 32 for byte in range(256))
_LONG_DIGIT_RUN = b"0" * 19


#: Texts from this many characters are parsed with the cyclic garbage
#: collector paused (see :func:`_paused_gc`).
PAUSE_GC_FROM = 8192


def _paused_gc(parse: t.Callable[..., t.Any], text: t.Any, **kwargs: t.Any) -> t.Any:
    """``parse(text)`` without the collections its allocations would start.

    A large body is thousands of new containers: parsed with the collector
    on, it starts a collection every 700 of them, and the older generations'
    collections it brings walk every other body in flight (50 requests of 64
    KB in flight made a parse cost four times its own work). Paused, one
    collection follows, as for any other allocation. The parser is C code
    that holds the GIL and never switches green threads, so nothing else
    runs while the collector is paused; an app that turned it off keeps it
    off.
    """
    if len(text) < PAUSE_GC_FROM or not gc.isenabled():
        return parse(text, **kwargs)
    gc.disable()
    try:
        return parse(text, **kwargs)
    finally:
        gc.enable()


def _loads_engineio(text: t.Any, **kwargs: t.Any) -> t.Any:
    kwargs.setdefault("parse_constant", NonFinite)
    return engineio_json.loads(text, **kwargs)


def _loads_std(text: t.Any, **kwargs: t.Any) -> t.Any:
    return _paused_gc(_loads_engineio, text, **kwargs)


def _dumps_std(value: t.Any, **kwargs: t.Any) -> str:
    kwargs.setdefault("separators", (",", ":"))
    return json.dumps(value, **kwargs)


class StdJSON:
    """The codec without orjson: the standard module, compact, with NaN and
    Infinity decoded as :class:`NonFinite`."""

    loads = staticmethod(_loads_std)
    dumps = staticmethod(_dumps_std)

    @staticmethod
    def dumps_bytes(value: t.Any) -> bytes:
        """Encode a request body: strict JSON (no NaN), UTF-8.

        :raise ValueError: For NaN or infinity.
        :raise TypeError: For a value JSON cannot encode.
        """
        return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()

    @staticmethod
    def validate(data: bytes) -> bool:
        """Whether ``data`` is strict JSON (no NaN) in UTF-8."""
        try:
            _STRICT_DECODER.decode(data.decode())
        except ValueError:
            return False
        return True


def _reject_constant(name: str) -> t.NoReturn:
    raise ValueError(f"{name} is not valid JSON.")


_STRICT_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


class OrJSON(StdJSON):
    """The codec with orjson, falling back to :class:`StdJSON` where orjson
    would give another result."""

    @staticmethod
    def loads(text: t.Any, **kwargs: t.Any) -> t.Any:
        if isinstance(text, str):
            scan = text.encode("utf-8", "surrogatepass")
        else:
            scan = bytes(text)
        if _LONG_DIGIT_RUN not in scan.translate(_DIGIT_MAP):
            try:
                return _paused_gc(orjson.loads, scan)
            except ValueError:  # NaN, a lone surrogate, or not JSON at all
                pass
        return _loads_std(text, **kwargs)

    @staticmethod
    def dumps(value: t.Any, **kwargs: t.Any) -> str:
        try:
            return _orjson_dumps(value).decode()
        except TypeError:  # a big integer, a NonFinite, an unknown type
            return _dumps_std(value, **kwargs)

    @staticmethod
    def dumps_bytes(value: t.Any) -> bytes:
        try:
            return _orjson_dumps(value)
        except TypeError:
            return StdJSON.dumps_bytes(value)

    @staticmethod
    def validate(data: bytes) -> bool:
        try:
            orjson.loads(data)
        except ValueError:
            return False
        return True


def _orjson_dumps(value: t.Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:
        # Keys that are not strings, as the standard module writes them: an
        # option that makes every dict slower, so only where one is needed.
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


#: The codec in use: :class:`OrJSON` when orjson is installed.
CODEC: type[StdJSON] = StdJSON if orjson is None else OrJSON


def decodes_as_standard(module: t.Any) -> bool:
    """Whether ``module`` (a packet class's ``json``) decodes JSON text into
    the values the standard ``json.loads`` gives."""
    return module is CODEC or module is engineio_json or module is json


def packet_class(
    base: type = sio_packet.Packet,
    namespace: str | None = None,
    events: t.Iterable[str] = (),
) -> type:
    """``base``, extended as this module describes, tagging the payloads of
    ``events`` on ``namespace``. Extending a class made here adds events to
    it.

    :param base: The server's packet class: python-socketio's JSON one, its
        msgpack one, or a subclass of either.
    """
    if not getattr(base, "sockreq_tagging", False):
        json_packet = getattr(base, "encode", None) is sio_packet.Packet.encode
        attributes: dict[str, t.Any] = {
            "sockreq_tagging": True,
            "sockreq_events": frozenset(),
            # Raw JSON can be spliced into JSON text, not into msgpack.
            "sockreq_raw_json": json_packet,
        }
        if json_packet and getattr(base, "json", None) is engineio_json:
            attributes["json"] = CODEC
        base = type(f"SockReq{base.__name__}", (_SockReqPacket, base), attributes)
    if namespace is not None:
        base.sockreq_events = base.sockreq_events | {  # type: ignore[attr-defined]
            (namespace, event) for event in events
        }
    return base


def install(server: t.Any, namespace: str, events: t.Iterable[str]) -> None:
    """Make ``server`` tag the payloads of ``events`` on ``namespace``, and
    read its messages through a :class:`MessageGuard`."""
    server.packet_class = packet_class(server.packet_class, namespace, events)
    eio = server.eio
    handler = eio.handlers.get("message")
    if handler is not None and not isinstance(handler, MessageGuard):
        eio.on("message", MessageGuard(server, handler))
    handler = eio.handlers.get("disconnect")
    if handler is not None and not isinstance(handler, DisconnectGuard):
        eio.on("disconnect", DisconnectGuard(server, handler))


class _Receipt:
    """What MessageGuard knows of the message being decoded, for the packet
    class, and what the packet class found in it."""

    __slots__ = ("environ", "event_namespace", "control")

    def __init__(self, environ: t.Any) -> None:
        self.environ = environ
        self.event_namespace: str | None = None
        self.control: tuple[int, str] | None = None


# The receipt of the message each thread (or green thread) is decoding, by
# its id: a green thread does not switch between MessageGuard and the
# packet class, and the entry goes when the message is done, so nothing is
# kept per connection (a threading.local would keep a dict per green thread).
_receipts: dict[int, _Receipt] = {}
_NO_RECEIPT = _Receipt(None)


class MessageGuard:
    """python-socketio's Engine.IO message handler, wrapped.

    It lets the packet class tag a request with its connection's handshake
    environ, and closes, with a log line, a connection whose client breaks
    the protocol in a way that python-socketio would otherwise let silence
    it for good: a message it cannot decode, a text message where a binary
    attachment is due (an event that announced more attachments than it
    sent), an attachment placeholder that points at no attachment. The
    JavaScript Socket.IO server closes such connections too.

    :param server: The python-socketio server.
    :param handler: Its Engine.IO ``message`` handler.
    """

    def __init__(self, server: t.Any, handler: t.Callable[[str, t.Any], t.Any]) -> None:
        self.server = server
        self.handler = handler

    def __call__(self, eio_sid: str, data: t.Any) -> None:
        server = self.server
        waiting = getattr(server, "_binary_packet", None)
        if waiting and eio_sid in waiting and not isinstance(data, (bytes, bytearray)):
            self._close(eio_sid, "sent text where a binary attachment was due")
            return
        environ = server.environ.get(eio_sid)
        receipt = _Receipt(environ)
        key = threading.get_ident()
        _receipts[key] = receipt
        try:
            self.handler(eio_sid, data)
        except Exception as exc:
            self._close(
                eio_sid,
                f"sent a packet that cannot be decoded ({type(exc).__name__}:"
                f" {str(exc)[:100]})",
            )
            return
        finally:
            _receipts.pop(key, None)
        namespace = receipt.event_namespace
        if namespace is not None and not server.manager.sid_from_eio_sid(
            eio_sid, namespace
        ):
            # python-socketio drops such an event without a word; its client
            # would wait for the answer for ever.
            self._close(
                eio_sid,
                f"sent an event on the namespace {namespace!r} before connecting to it",
            )
        elif receipt.control is not None and environ is not None:
            self._after_control(eio_sid, environ, *receipt.control)

    def _after_control(
        self, eio_sid: str, environ: t.Any, packet_type: int, namespace: str
    ) -> None:
        server = self.server
        if packet_type == sio_packet.CONNECT:
            # Once per namespace connected: cheaper than a mark in the
            # environ, which could make that dict grow.
            _set_nodelay(environ)
        ours = {ns for ns, _ in getattr(server.packet_class, "sockreq_events", ())}
        if namespace not in ours:
            return
        if packet_type == sio_packet.CONNECT:
            sid = server.manager.sid_from_eio_sid(eio_sid, namespace)
            state = environ.get("flask.app", None)
            state = getattr(state, "extensions", {}).get("sockreq")
            if sid is not None and state is not None:
                from .streams import HELLO
                from .streams import hello

                server.emit(
                    HELLO, hello(state), to=sid, namespace=namespace, ignore_queue=True
                )
        else:
            _cancel_streams(environ, namespace, "the client left the namespace")

    def _close(self, eio_sid: str, reason: str) -> None:
        logger.warning("Closed the connection %s: its client %s.", eio_sid, reason)
        waiting = getattr(self.server, "_binary_packet", None)
        if waiting is not None:
            waiting.pop(eio_sid, None)
        try:
            self.server.eio.disconnect(eio_sid)
        except Exception:  # already gone
            logger.debug("Could not close %s.", eio_sid, exc_info=True)


def is_installed(server: t.Any) -> bool:
    return bool(getattr(server.packet_class, "sockreq_tagging", False))


def _set_nodelay(environ: t.Any) -> None:
    """Turn Nagle's algorithm off for a connection's TCP socket, as Node's
    servers do: without it, a small frame sent while an earlier one is
    unacknowledged waits for the peer's delayed ACK (about 40 ms), which
    stalls a stream each time it waits for credit."""
    from .wrappers import tcp_socket

    try:
        sock = tcp_socket(environ)
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError, TypeError):  # not TCP, or already closed
        pass


class DisconnectGuard:
    """python-socketio's Engine.IO disconnect handler, wrapped to cancel the
    streams of the connection that went away.

    :param server: The python-socketio server.
    :param handler: Its Engine.IO ``disconnect`` handler.
    """

    def __init__(self, server: t.Any, handler: t.Callable[..., t.Any]) -> None:
        self.server = server
        self.handler = handler

    def __call__(self, eio_sid: str, *args: t.Any) -> t.Any:
        environ = self.server.environ.get(eio_sid)
        try:
            return self.handler(eio_sid, *args)
        finally:
            if environ is not None:
                _cancel_streams(environ, None, "the client disconnected")


def _cancel_streams(environ: t.Any, namespace: str | None, reason: str) -> None:
    from .connection import CONNECTION_KEY

    conn = environ.get(CONNECTION_KEY)
    streams = getattr(conn, "streams", None)
    if streams is not None and namespace in (None, conn.socket.namespace):
        streams.cancel_all(reason)


class _SockReqPacket(sio_packet.Packet):  # type: ignore[misc]
    sockreq_events: t.ClassVar[frozenset[tuple[str, str]]]
    sockreq_raw_json: t.ClassVar[bool]

    @classmethod
    def data_is_binary(cls, data: t.Any) -> bool:
        if type(data) is list and len(data) == 1 and type(data[0]) is JWR:
            return isinstance(data[0]["body"], (bytes, bytearray))
        return bool(super().data_is_binary(data))

    def encode(self) -> t.Any:
        data = self.data
        if (
            self.packet_type == sio_packet.ACK
            and self.sockreq_raw_json
            and type(data) is list
            and len(data) == 1
            and type(data[0]) is JWR
        ):
            head = "3"
            if self.namespace is not None and self.namespace != "/":
                head += f"{self.namespace},"
            if self.id is not None:
                head += str(self.id)
            return head + _encode_jwr(data[0], self.json)
        return super().encode()

    def decode(self, encoded_packet: t.Any) -> t.Any:
        count = super().decode(encoded_packet)
        data = self.data
        packet_type = self.packet_type
        receipt = _receipts.get(threading.get_ident(), _NO_RECEIPT)
        if packet_type == sio_packet.EVENT:
            receipt.event_namespace = self.namespace or "/"
        elif packet_type in (sio_packet.CONNECT, sio_packet.DISCONNECT):
            receipt.control = (packet_type, self.namespace or "/")
            environ = receipt.environ
            if (
                packet_type == sio_packet.CONNECT
                and environ is not None
                and self.data is not None
            ):
                # Before python-socketio calls the app's connect handler, so
                # that request.socket.auth works there too.
                environ.setdefault(AUTH_KEY, {})[self.namespace or "/"] = self.data
        if (
            self.packet_type in (sio_packet.EVENT, sio_packet.BINARY_EVENT)
            and type(data) is list
            and len(data) > 1
            and type(data[1]) is dict
            and (self.namespace or "/", data[0]) in self.sockreq_events
        ):
            data[1][ACK_KEY] = (self.id, receipt.environ)
        return count


def _encode_jwr(jwr: JWR, codec: t.Any) -> str:
    """The JSON text ``[jwr]``, with a :class:`RawJSON` body spliced in."""
    body = jwr["body"]
    if type(body) is not RawJSON:
        return t.cast(str, codec.dumps([jwr], separators=(",", ":")))
    if codec is OrJSON:
        try:
            return orjson.dumps([{**jwr, "body": orjson.Fragment(body.data)}]).decode()
        except TypeError:  # a header value orjson cannot encode
            pass
    # Every member but the body (headers, statusCode, and joined, left...).
    rest = codec.dumps(
        {key: value for key, value in jwr.items() if key != "body"},
        separators=(",", ":"),
    )
    return f'[{{"body":{body.text},{rest[1:]}]'
