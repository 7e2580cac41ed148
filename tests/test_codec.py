"""Both JSON codecs of the packets, end to end in-process: orjson, and the
standard module it falls back to, give the same requests to the views and
the same answers."""

from __future__ import annotations

import math

import pytest

from flask_sockreq import codec
from flask_sockreq import protocol
from tests.apps import create_app


@pytest.fixture(params=["orjson", "std"])
def client(request, monkeypatch):
    chosen = codec.OrJSON if request.param == "orjson" else codec.StdJSON
    # Read when a server's packet class is made and when a body is encoded.
    monkeypatch.setattr(codec, "CODEC", chosen)
    monkeypatch.setattr(protocol, "CODEC", chosen)
    app = create_app()
    sockreq = app.extensions["sockreq"].extension
    test_client = sockreq.test_client(app)
    assert app.extensions["socketio"].server.packet_class.json is chosen
    try:
        yield test_client
    finally:
        test_client.disconnect()


def emit(client, event, payload):
    return client.emit(event, payload, callback=True)


def test_json_bodies_arrive_as_sent(client):
    data = {
        "big": 12345678901234567890123,
        "float": 1e300,
        "text": "caf\u00e9 \U0001f600",
    }
    jwr = emit(client, "post", {"url": "/echo", "data": data})
    assert jwr["statusCode"] == 200
    assert jwr["body"]["json"] == data


def test_nan_in_the_data_is_a_400(client):
    # A Python client sends NaN as JSON's missing "NaN" literal.
    jwr = emit(client, "post", {"url": "/echo", "data": {"x": math.nan}})
    assert jwr["statusCode"] == 400
    assert jwr["body"]["error"] == "invalid_data"


def test_answers_are_the_same(client):
    jwr = emit(client, "get", {"url": "/hello/7?a=1"})
    assert jwr == {
        "body": {"n": 7, "args": {"a": ["1"]}},
        "headers": {"Content-Type": "application/json", "Content-Length": "27"},
        "statusCode": 200,
    }
