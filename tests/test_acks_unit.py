"""The packet codec: ack ids on request payloads, raw JSON acks."""

from __future__ import annotations

import typing as t

import pytest
from socketio import packet as sio_packet

from flask_sockreq.codec import ACK_KEY
from flask_sockreq.codec import packet_class
from flask_sockreq.codec import RawJSON
from flask_sockreq.protocol import encode_jwr

Tagging = packet_class(sio_packet.Packet, "/", ["get", "post"])


def decode(encoded: str) -> t.Any:
    return Tagging(encoded_packet=encoded).data


def test_request_payload_is_tagged_with_its_ack_id() -> None:
    # No environ: the packet was not read through a MessageGuard.
    assert decode('212["get",{"url":"/x"}]') == [
        "get",
        {"url": "/x", ACK_KEY: (12, None)},
    ]


def test_request_without_ack_is_tagged_none() -> None:
    assert decode('2["post",{"url":"/x"}]')[1][ACK_KEY] == (None, None)


@pytest.mark.parametrize(
    "encoded",
    [
        '2/chat,5["get",{"url":"/x"}]',  # another namespace
        '25["chat",{"url":"/x"}]',  # another event
        '25["get","/x"]',  # not an object: the handler answers 400
    ],
)
def test_other_events_are_left_alone(encoded: str) -> None:
    data = decode(encoded)
    assert not (isinstance(data[1], dict) and ACK_KEY in data[1])


def test_a_client_cannot_spell_the_ack_key() -> None:
    # JSON object keys are strings; the key is not.
    payload = decode('2["get",{"url":"/x","<sockreq ack id>":7}]')[1]
    assert payload[ACK_KEY] == (None, None)
    assert payload["<sockreq ack id>"] == 7


@pytest.mark.parametrize("namespace", ["/", "/api"])
def test_raw_json_ack_round_trips(namespace: str) -> None:
    cls = packet_class(sio_packet.Packet, namespace, ["get"])
    jwr = encode_jwr(
        200,
        [("Content-Type", "application/json"), ("X-N", "1")],
        '{"name":"caf\u00e9","n":[1,2]}'.encode(),
        "GET",
        raw_json=True,
    )
    assert isinstance(jwr["body"], RawJSON)
    encoded = cls(sio_packet.ACK, namespace=namespace, id=3, data=[jwr]).encode()
    plain = sio_packet.Packet(encoded_packet=encoded)
    assert (plain.packet_type, plain.id, plain.namespace or "/") == (
        sio_packet.ACK,
        3,
        namespace,
    )
    assert plain.data == [
        {
            "body": {"name": "caf\u00e9", "n": [1, 2]},
            "headers": {"Content-Type": "application/json", "X-N": "1"},
            "statusCode": 200,
        }
    ]


def test_binary_ack_is_encoded_as_usual() -> None:
    jwr = encode_jwr(200, [("Content-Type", "image/png")], b"\x89PNG", "GET", True)
    encoded = Tagging(sio_packet.ACK, id=1, data=[jwr]).encode()
    assert isinstance(encoded, list) and encoded[1] == b"\x89PNG"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"a": NaN}', '{"a": NaN}'),  # JavaScript refuses NaN: sent as text
        (b"{not json", "{not json"),
        ('{"a": 1}'.encode("utf-16"), {"a": 1}),  # valid, but not UTF-8
    ],
)
def test_json_that_cannot_pass_through_raw(body: bytes, expected: t.Any) -> None:
    jwr = encode_jwr(200, [("Content-Type", "application/json")], body, "GET", True)
    assert jwr["body"] == expected


@pytest.mark.parametrize("codec", ["orjson", "std"])
def test_every_member_of_a_raw_json_jwr_is_encoded(codec: str) -> None:
    from flask_sockreq import codec as codecs

    jwr = encode_jwr(
        200, [("Content-Type", "application/json")], b'{"a":1}', "GET", True
    )
    jwr["joined"] = True
    jwr["left"] = True
    jwr["stream"] = {"id": "s", "length": None}
    chosen = codecs.OrJSON if codec == "orjson" else codecs.StdJSON
    encoded = "3" + codecs._encode_jwr(jwr, chosen)
    assert sio_packet.Packet(encoded_packet=encoded).data == [
        {
            "body": {"a": 1},
            "headers": {"Content-Type": "application/json"},
            "statusCode": 200,
            "joined": True,
            "left": True,
            "stream": {"id": "s", "length": None},
        }
    ]
