"""``flask_sockreq.codec`` in-process: the JSON codecs, the packet class, and
the guards around python-socketio's Engine.IO handlers, driven through a
real python-socketio server whose Engine.IO layer is replaced by a recorder
(what it would send, whom it would close)."""

from __future__ import annotations

import json
import logging
import socket
import typing as t

import pytest
import socketio
from engineio import json as engineio_json
from flask import Flask
from flask_socketio import SocketIO
from socketio import packet as sio_packet

from flask_sockreq import codec
from flask_sockreq import SockReq
from flask_sockreq.codec import ACK_KEY
from flask_sockreq.codec import JWR
from flask_sockreq.codec import NonFinite
from flask_sockreq.codec import OrJSON
from flask_sockreq.codec import RawJSON
from flask_sockreq.codec import StdJSON
from flask_sockreq.connection import CONNECTION_KEY
from flask_sockreq.protocol import METHODS
from flask_sockreq.sockets import AUTH_KEY
from flask_sockreq.streams import hello

# --- values ------------------------------------------------------------------


def test_the_ack_key_names_itself():
    assert repr(ACK_KEY) == "<sockreq ack id>"
    assert not isinstance(ACK_KEY, str)


def test_raw_json():
    raw = RawJSON(b'{"a":"\xc3\xa9"}')
    assert raw.text == '{"a":"\u00e9"}'
    assert raw == RawJSON(b'{"a":"\xc3\xa9"}')
    assert raw != RawJSON(b"{}")
    assert raw != b'{"a":"\xc3\xa9"}'
    assert hash(raw) == hash(b'{"a":"\xc3\xa9"}')
    assert repr(raw) == 'RawJSON(b\'{"a":"\\xc3\\xa9"}\')'
    assert len({raw, RawJSON(raw.data)}) == 1


def test_non_finite_is_a_float():
    value = NonFinite("nan")
    assert isinstance(value, float) and value != value
    assert NonFinite("Infinity") == float("inf")


# --- the two codecs ------------------------------------------------------------


@pytest.mark.parametrize("codec_class", [StdJSON, OrJSON])
def test_loads(codec_class):
    assert codec_class.loads('{"a": [1, 2.5, "\u00e9"]}') == {"a": [1, 2.5, "\u00e9"]}
    assert codec_class.loads(b'{"a": 1}') == {"a": 1}
    value = codec_class.loads("[NaN, Infinity, -Infinity]")
    assert all(type(item) is NonFinite for item in value)
    # 19 digits and more: exact, as the standard module reads them.
    assert codec_class.loads("[1234567890123456789012]") == [1234567890123456789012]
    assert codec_class.loads("[9223372036854775807]") == [9223372036854775807]
    assert codec_class.loads('["\\ud800"]') == ["\ud800"]
    with pytest.raises(ValueError):
        codec_class.loads("{")


def test_orjson_reads_long_digit_runs_exactly():
    # A float of 19 digits and more would lose its digits through orjson's
    # 64-bit integers: the standard module reads it.
    big = 10**30 + 1
    assert OrJSON.loads(f"[{big}]") == [big]
    assert OrJSON.loads(f'["{big}"]') == [str(big)]
    assert OrJSON.loads(f"[{big}]".encode()) == [big]
    assert OrJSON.loads(bytearray(f"[{big}]".encode())) == [big]
    # Below 19 digits orjson reads it (as the standard module would).
    assert OrJSON.loads("[123456789012345678]") == [123456789012345678]


@pytest.mark.parametrize("codec_class", [StdJSON, OrJSON])
def test_dumps_is_compact(codec_class):
    assert codec_class.dumps({"a": [1, None]}) == '{"a":[1,null]}'
    assert codec_class.dumps({1: "x"}) == '{"1":"x"}'
    assert codec_class.dumps([10**30]) == f"[{10**30}]"
    assert codec_class.dumps([NonFinite("nan")]) in ("[NaN]", "[null]")
    assert StdJSON.dumps([1], indent=None, separators=(", ", ": ")) == "[1]"


@pytest.mark.parametrize("codec_class", [StdJSON, OrJSON])
def test_dumps_bytes(codec_class):
    assert codec_class.dumps_bytes({"a": "\u00e9"}) in (
        b'{"a":"\\u00e9"}',
        b'{"a":"\xc3\xa9"}',
    )
    assert json.loads(codec_class.dumps_bytes({2: [10**30]})) == {"2": [10**30]}
    with pytest.raises(ValueError):
        codec_class.dumps_bytes([NonFinite("nan")])
    with pytest.raises(TypeError):
        codec_class.dumps_bytes({"a": b"x"})


def test_std_dumps_bytes_is_strict_utf8():
    assert StdJSON.dumps_bytes([1, "x"]) == b'[1,"x"]'
    with pytest.raises(ValueError):
        StdJSON.dumps_bytes([float("nan")])


@pytest.mark.parametrize("codec_class", [StdJSON, OrJSON])
@pytest.mark.parametrize(
    ("data", "valid"),
    [
        (b'{"a": [1, "x"]}', True),
        (b"0", True),
        (b"[NaN]", False),
        (b"[Infinity]", False),
        (b"{", False),
        (b"", False),
        (b"\xff", False),
    ],
)
def test_validate(codec_class, data, valid):
    assert codec_class.validate(data) is valid


def test_the_codec_in_use():
    assert codec.CODEC is OrJSON  # the orjson extra is installed for the tests


# --- packet classes ------------------------------------------------------------


def test_packet_class_extends_a_base_once():
    first = codec.packet_class(sio_packet.Packet, "/", ["get"])
    assert first.__name__ == "SockReqPacket"
    assert first.sockreq_tagging is True
    assert first.sockreq_raw_json is True
    assert first.json is codec.CODEC
    assert first.sockreq_events == {("/", "get")}
    second = codec.packet_class(first, "/api", ["post"])
    assert second is first
    assert first.sockreq_events == {("/", "get"), ("/api", "post")}
    assert codec.packet_class(first) is first
    assert codec.is_installed(type("S", (), {"packet_class": first})())
    assert not codec.is_installed(type("S", (), {"packet_class": sio_packet.Packet})())


class OwnEncoding(sio_packet.Packet):
    """A packet class that encodes on its own, as msgpack's does."""

    def encode(self) -> t.Any:
        return super().encode()


def test_a_packet_class_that_encodes_on_its_own_gets_no_raw_json():
    cls = codec.packet_class(OwnEncoding, "/", ["get"])
    assert cls.sockreq_raw_json is False
    assert cls.__name__ == "SockReqOwnEncoding"
    assert cls.json is engineio_json  # not a plain JSON packet: left alone
    jwr = JWR(body={"a": 1}, headers={}, statusCode=200)
    assert cls(sio_packet.ACK, id=1, data=[jwr]).encode() == (
        '31[{"body":{"a":1},"headers":{},"statusCode":200}]'
    )


def test_packet_class_keeps_the_apps_own_json():
    own = type("Json", (), {"dumps": staticmethod(json.dumps), "loads": json.loads})
    base = type("AppPacket", (sio_packet.Packet,), {"json": own})
    assert codec.packet_class(base, "/", ["get"]).json is own
    assert sio_packet.Packet.json is engineio_json


def test_a_binary_jwr_is_binary_and_others_are_searched():
    cls = codec.packet_class(sio_packet.Packet, "/", ["get"])
    assert cls.data_is_binary([JWR(body=b"x", headers={}, statusCode=200)]) is True
    assert cls.data_is_binary([JWR(body=bytearray(b"x"), headers={}, statusCode=200)])
    assert cls.data_is_binary([JWR(body="x", headers={}, statusCode=200)]) is False
    # A JWR's headers are not searched for binary data: only its body.
    assert (
        cls.data_is_binary([JWR(body=None, headers={"a": b"x"}, statusCode=200)])
        is False
    )
    assert cls.data_is_binary([{"body": "x", "other": b"y"}]) is True
    assert cls.data_is_binary([JWR(body="x"), JWR(body=b"x")]) is True
    assert cls.data_is_binary(["x"]) is False


@pytest.mark.parametrize(
    ("namespace", "ack_id", "head"),
    [
        ("/", 7, "37"),
        (None, 7, "37"),
        ("/api", 12, "3/api,12"),
        ("/api", None, "3/api,"),
    ],
)
def test_a_raw_json_ack_is_spliced(namespace, ack_id, head):
    cls = codec.packet_class(sio_packet.Packet, "/", ["get"])
    jwr = JWR(body=RawJSON(b'{"a":1}'), headers={"X": "1"}, statusCode=200)
    encoded = cls(sio_packet.ACK, namespace=namespace, id=ack_id, data=[jwr]).encode()
    assert encoded == head + '[{"body":{"a":1},"headers":{"X":"1"},"statusCode":200}]'


def test_other_packets_are_encoded_as_python_socketio_does():
    cls = codec.packet_class(sio_packet.Packet, "/", ["get"])
    plain = {"body": 1}
    for packet_type, data in (
        (sio_packet.ACK, [plain]),
        (sio_packet.ACK, [JWR(body=1), JWR(body=2)]),
        (sio_packet.ACK, JWR(body=1)),
        (sio_packet.EVENT, ["e", JWR(body=1)]),
    ):
        ours = cls(packet_type, namespace="/", id=1, data=data).encode()
        theirs = sio_packet.Packet(packet_type, namespace="/", id=1, data=data).encode()
        assert ours == theirs


def test_encode_jwr_without_raw_json_uses_the_codec():
    jwr = JWR(body={"a": 1}, headers={}, statusCode=200)
    for codec_class in (StdJSON, OrJSON):
        text = codec._encode_jwr(jwr, codec_class)
        assert text == '[{"body":{"a":1},"headers":{},"statusCode":200}]'


def test_encode_jwr_falls_back_when_orjson_cannot():
    # A header value orjson cannot encode (an integer beyond 64 bits).
    jwr = JWR(body=RawJSON(b"[1]"), headers={"X": 10**30}, statusCode=200)
    text = codec._encode_jwr(jwr, OrJSON)
    assert json.loads(text) == [
        {"body": [1], "headers": {"X": 10**30}, "statusCode": 200}
    ]
    assert text.startswith('[{"body":[1],')


# --- the guards, through a real python-socketio server ------------------------------


def app_with_sockreq() -> Flask:
    app = Flask(__name__)
    SockReq(app, SocketIO(app, async_mode="threading"), access_log=False)
    return app


class Harness:
    """A python-socketio server whose Engine.IO layer only records."""

    def __init__(self, app: Flask | None = None) -> None:
        self.server = socketio.Server(async_mode="threading", async_handlers=False)
        self.sent: list[tuple[str, t.Any]] = []
        self.closed: list[str] = []
        self.payloads: list[t.Any] = []
        self.server.eio.send = lambda eio_sid, data: self.sent.append((eio_sid, data))
        self.server.eio.send_packet = lambda eio_sid, pkt: self.sent.append(
            (eio_sid, pkt.data)
        )
        self.server.eio.disconnect = self._disconnect
        self.disconnect_fails = False
        for namespace in ("/", "/other"):
            self.server.on("get", self._request, namespace=namespace)
        codec.install(self.server, "/", METHODS)
        self.app = app

    def _disconnect(self, eio_sid: str) -> None:
        if self.disconnect_fails:
            raise KeyError(eio_sid)
        self.closed.append(eio_sid)

    def _request(self, sid: str, payload: t.Any) -> str:
        self.payloads.append(payload)
        return "answered"

    def open(self, eio_sid: str = "e1", **environ: t.Any) -> dict[str, t.Any]:
        environ.setdefault("flask.app", self.app)
        self.server._handle_eio_connect(eio_sid, environ)
        return environ

    def message(self, data: t.Any, eio_sid: str = "e1") -> None:
        self.server.eio.handlers["message"](eio_sid, data)

    def texts(self) -> list[str]:
        return [data for _, data in self.sent if isinstance(data, str)]


def test_install_wraps_each_handler_once():
    harness = Harness()
    handlers = harness.server.eio.handlers
    guard = handlers["message"]
    closer = handlers["disconnect"]
    assert isinstance(guard, codec.MessageGuard)
    assert isinstance(closer, codec.DisconnectGuard)
    assert guard.server is harness.server
    assert guard.handler == harness.server._handle_eio_message
    assert closer.handler == harness.server._handle_eio_disconnect
    codec.install(harness.server, "/api", ["get"])
    assert handlers["message"] is guard and handlers["disconnect"] is closer
    assert ("/api", "get") in harness.server.packet_class.sockreq_events


def test_a_connect_gets_the_hello_and_no_delay():
    app = app_with_sockreq()
    harness = Harness(app)
    listener = socket.create_server(("127.0.0.1", 0))
    tcp = socket.create_connection(listener.getsockname())
    try:
        harness.open(**{"werkzeug.socket": tcp})
        assert tcp.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        harness.message("0")
        assert tcp.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        texts = harness.texts()
        assert texts[0].startswith('0{"sid":')
        sid = json.loads(texts[0][1:])["sid"]
        assert texts[1] == "2" + json.dumps(
            ["sockreq:hello", hello(app.extensions["sockreq"])], separators=(",", ":")
        )
        assert harness.server.manager.sid_from_eio_sid("e1", "/") == sid
        # Every connect packet sets it, on any namespace; an event does not.
        tcp.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
        harness.message('2["get",{"url":"/x"}]')
        assert tcp.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        harness.message("0/other,")
        assert tcp.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        # No hello on a namespace that has no socket requests.
        assert not any("sockreq:hello" in text for text in harness.texts()[2:])
    finally:
        tcp.close()
        listener.close()


def test_no_hello_without_sockreq_and_no_socket_is_fine():
    harness = Harness(Flask(__name__))
    harness.open()
    harness.message("0")
    assert len(harness.texts()) == 1
    assert harness.closed == []
    harness = Harness(None)
    harness.open(**{"werkzeug.socket": object()})
    harness.message("0")
    assert len(harness.texts()) == 1
    assert harness.closed == []


def test_request_payloads_are_tagged_with_ack_id_and_environ():
    harness = Harness(app_with_sockreq())
    environ = harness.open()
    harness.message("0")
    harness.message('25["get",{"url":"/x"}]')
    harness.message('2["get",{"url":"/y"}]')
    first, second = harness.payloads
    assert first[ACK_KEY] == (5, environ)
    assert second[ACK_KEY] == (None, environ)
    assert first["url"] == "/x"
    assert harness.texts()[-1] == '35["answered"]'


def test_connect_auth_is_kept_per_namespace():
    harness = Harness(app_with_sockreq())
    environ = harness.open()
    harness.message('0{"token":"t"}')
    harness.message('0/other,{"token":"o"}')
    harness.message("0/third,")
    assert environ[AUTH_KEY] == {"/": {"token": "t"}, "/other": {"token": "o"}}


def test_an_event_before_connecting_closes_the_connection(caplog):
    harness = Harness(app_with_sockreq())
    harness.open()
    with caplog.at_level(logging.WARNING, logger="flask_sockreq"):
        harness.message('21["get",{"url":"/x"}]')
    assert harness.closed == ["e1"]
    assert harness.payloads == []
    assert caplog.records[-1].getMessage() == (
        "Closed the connection e1: its client sent an event on the namespace '/'"
        " before connecting to it."
    )
    assert caplog.records[-1].levelno == logging.WARNING


def test_an_event_on_another_namespace_before_connecting_to_it(caplog):
    harness = Harness(app_with_sockreq())
    harness.open()
    harness.message("0")
    with caplog.at_level(logging.WARNING, logger="flask_sockreq"):
        harness.message('2/other,1["get",{"url":"/x"}]')
    assert harness.closed == ["e1"]
    assert "on the namespace '/other' before connecting" in caplog.text


@pytest.mark.parametrize("garbage", ["2[", "9", "4"])
def test_an_undecodable_packet_closes_the_connection(garbage, caplog):
    harness = Harness(app_with_sockreq())
    harness.open()
    harness.message("0")
    with caplog.at_level(logging.WARNING, logger="flask_sockreq"):
        harness.message(garbage)
    assert harness.closed == ["e1"]
    message = caplog.records[-1].getMessage()
    assert message.startswith(
        "Closed the connection e1: its client sent a packet that cannot be decoded ("
    )
    assert message.endswith(").")


def test_the_reason_of_an_undecodable_packet_is_cut_at_100(caplog):
    harness = Harness(app_with_sockreq())
    harness.open()
    guard = harness.server.eio.handlers["message"]

    def failing(eio_sid: str, data: t.Any) -> None:
        raise ValueError("x" * 300)

    guard.handler = failing
    with caplog.at_level(logging.WARNING, logger="flask_sockreq"):
        harness.message("0")
    assert caplog.records[-1].getMessage() == (
        "Closed the connection e1: its client sent a packet that cannot be decoded"
        f" (ValueError: {'x' * 100})."
    )


def test_text_where_an_attachment_is_due_closes_the_connection(caplog):
    harness = Harness(app_with_sockreq())
    harness.open()
    harness.message("0")
    harness.message('51-["get",{"url":"/x","data":{"_placeholder":true,"num":0}}]')
    assert "e1" in harness.server._binary_packet
    with caplog.at_level(logging.WARNING, logger="flask_sockreq"):
        harness.message("not an attachment")
    assert harness.closed == ["e1"]
    assert "e1" not in harness.server._binary_packet
    assert caplog.records[-1].getMessage() == (
        "Closed the connection e1: its client sent text where a binary attachment"
        " was due."
    )


def test_the_attachment_that_was_due_is_taken():
    harness = Harness(app_with_sockreq())
    environ = harness.open()
    harness.message("0")
    harness.message('51-3["get",{"url":"/x","data":{"_placeholder":true,"num":0}}]')
    harness.message(b"\x00\x01")
    assert harness.closed == []
    assert harness.payloads[0]["data"] == b"\x00\x01"
    assert harness.payloads[0][ACK_KEY] == (3, environ)


def test_a_close_that_fails_is_logged_not_raised(caplog):
    harness = Harness(app_with_sockreq())
    harness.open()
    harness.disconnect_fails = True
    with caplog.at_level(logging.DEBUG, logger="flask_sockreq"):
        harness.message("2[")
    record = caplog.records[-1]
    assert record.getMessage() == "Could not close e1."
    assert record.levelno == logging.DEBUG
    assert record.exc_info and record.exc_info[0] is KeyError


class FakeStreams:
    def __init__(self) -> None:
        self.reasons: list[str] = []

    def cancel_all(self, reason: str) -> None:
        self.reasons.append(reason)


class FakeConnection:
    def __init__(self, namespace: str) -> None:
        self.streams = FakeStreams()
        self.socket = type("S", (), {"namespace": namespace})()


def test_leaving_the_namespace_cancels_its_streams():
    harness = Harness(app_with_sockreq())
    environ = harness.open()
    harness.message("0")
    harness.message("0/other,")
    conn = environ[CONNECTION_KEY] = FakeConnection("/")
    harness.message("1/other,")  # a namespace without socket requests
    assert conn.streams.reasons == []
    harness.message("1")
    assert conn.streams.reasons == ["the client left the namespace"]


def test_a_disconnect_cancels_the_streams():
    harness = Harness(app_with_sockreq())
    environ = harness.open()
    harness.message("0")
    conn = environ[CONNECTION_KEY] = FakeConnection("/")
    harness.server.eio.handlers["disconnect"]("e1", "transport close")
    assert conn.streams.reasons == ["the client disconnected"]
    assert "e1" not in harness.server.environ
    # An unknown connection: nothing to cancel.
    harness.server.eio.handlers["disconnect"]("e2", "transport close")


def test_cancel_streams_of_the_namespace_only():
    conn = FakeConnection("/api")
    environ = {CONNECTION_KEY: conn}
    codec._cancel_streams(environ, "/", "why")
    assert conn.streams.reasons == []
    codec._cancel_streams(environ, "/api", "why")
    codec._cancel_streams(environ, None, "all")
    assert conn.streams.reasons == ["why", "all"]
    codec._cancel_streams({}, None, "none")
    conn.streams = None  # type: ignore[assignment]
    codec._cancel_streams(environ, None, "no streams")


def test_nodelay_on_a_socket_that_is_gone():
    listener = socket.create_server(("127.0.0.1", 0))
    tcp = socket.create_connection(listener.getsockname())
    tcp.close()
    listener.close()
    codec._set_nodelay({"werkzeug.socket": tcp})  # OSError: ignored
    codec._set_nodelay({})


# --- what the mutation tests found uncovered -------------------------------------


def test_orjson_falls_back_for_a_raw_lone_surrogate():
    # A str holding a lone surrogate itself (not a JSON escape of one).
    assert OrJSON.loads('["\ud800"]') == ["\ud800"]
    assert OrJSON.loads('"\udfff"') == "\udfff"


def test_orjson_reads_negative_nineteen_digits_exactly():
    # 19 digits fit an unsigned 64-bit integer, not a signed one.
    value = -9999999999999999999
    assert OrJSON.loads(f"[{value}]") == [value]
    assert type(OrJSON.loads(f"[{value}]")[0]) is int


def test_orjson_keeps_non_string_keys_and_utf8():
    assert OrJSON.dumps({1: "\u00e9"}) == '{"1":"\u00e9"}'
    assert OrJSON.dumps_bytes({1: "\u00e9"}) == b'{"1":"\xc3\xa9"}'
    assert StdJSON.dumps({1: "\u00e9"}) == '{"1":"\\u00e9"}'


def test_encode_jwr_of_each_codec_keeps_its_text():
    jwr = JWR(body=RawJSON(b"[1]"), headers={"X": "\u00e9"}, statusCode=200)
    assert codec._encode_jwr(jwr, StdJSON) == (
        '[{"body":[1],"headers":{"X":"\\u00e9"},"statusCode":200}]'
    )
    assert codec._encode_jwr(jwr, OrJSON) == (
        '[{"body":[1],"headers":{"X":"\u00e9"},"statusCode":200}]'
    )


def test_an_event_without_a_payload_is_left_alone():
    cls = codec.packet_class(sio_packet.Packet, "/", ["get"])
    assert cls(encoded_packet='2["get"]').data == ["get"]
    assert cls(encoded_packet='23["get"]').data == ["get"]


def test_a_receipt_ends_with_its_message():
    # A packet decoded in this thread after the guard's message is done (say
    # by Flask-SocketIO's test client) is not tagged with that message's
    # connection.
    harness = Harness(app_with_sockreq())
    harness.open()
    harness.message("0")
    harness.message('21["get",{"url":"/x"}]')
    assert harness.payloads[0][ACK_KEY][1] is not None
    cls = harness.server.packet_class
    assert cls(encoded_packet='22["get",{"url":"/y"}]').data[1][ACK_KEY] == (2, None)
    assert codec._receipts == {}


def test_each_socket_gets_its_own_hello_on_its_namespace():
    app = Flask(__name__)
    SockReq(app, SocketIO(app, async_mode="threading"), namespace="/api")
    harness = Harness(app)
    codec.install(harness.server, "/api", METHODS)
    harness.server.on("get", harness._request, namespace="/api")
    harness.open("e1")
    harness.open("e2")
    harness.message("0/api,", "e1")
    harness.message("0/api,", "e2")
    hellos = [
        (eio_sid, data)
        for eio_sid, data in harness.sent
        if isinstance(data, str) and "sockreq:hello" in data
    ]
    assert [eio_sid for eio_sid, _ in hellos] == ["e1", "e2"]
    assert all(data.startswith('2/api,["sockreq:hello",') for _, data in hellos)


# -- the collector paused around large parses ------------------------------


@pytest.mark.parametrize("json_codec", [StdJSON, OrJSON], ids=["std", "orjson"])
def test_a_large_text_is_parsed_with_the_collector_paused(json_codec: t.Any) -> None:
    import gc

    value = {"items": [{"id": n, "tags": ["a", "b"], "p": n / 2} for n in range(2000)]}
    text = json.dumps(value)
    assert len(text) >= codec.PAUSE_GC_FROM
    seen: list[bool] = []

    def watch(phase: str, info: dict[str, t.Any]) -> None:
        seen.append(True)

    gc.collect()
    gc.callbacks.append(watch)
    try:
        assert json_codec.loads(text) == value
    finally:
        gc.callbacks.remove(watch)
    # No collection ran during the parse, and the collector is on again.
    assert seen == [] and gc.isenabled()
    # A text that is not JSON leaves it on too.
    with pytest.raises(ValueError):
        json_codec.loads(text[:-1] + ",")
    assert gc.isenabled()


def test_an_app_that_turned_the_collector_off_keeps_it_off() -> None:
    import gc

    text = json.dumps(["x" * 10] * 2000)
    gc.disable()
    try:
        assert codec.CODEC.loads(text) == ["x" * 10] * 2000
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize("json_codec", [StdJSON, OrJSON], ids=["std", "orjson"])
def test_keys_that_are_not_strings_are_written_as_the_standard_module_does(
    json_codec: t.Any,
) -> None:
    value = {1: "a", 2.5: [True], None: {"x": 1}}
    assert json_codec.dumps(value) == json.dumps(value, separators=(",", ":"))
    assert json_codec.dumps_bytes({1: "a"}) == b'{"1":"a"}'
