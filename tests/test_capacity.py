"""Capacity: one server process holds 2,000 live sockets and answers each.

The sockets are raw Engine.IO / Socket.IO WebSocket connections on one
selector (``benchmarks/scale.py``'s :class:`Swarm`): 2,000 python-socketio
clients would take longer to start than the test may run. Each socket asks
``GET /hello/<its index>``, so every ack is checked against its own request.
"""

from __future__ import annotations

import json
import resource
import time
import typing as t

import pytest

from tests.helpers import benchmark_module
from tests.helpers import require
from tests.helpers import ServerProcess

Swarm = benchmark_module("scale").Swarm

SOCKETS = 2000
#: The whole test stays within a minute: at most 15 s to start the server
#: (``ServerProcess``), 30 s to connect (a stalled server fails after 10 s
#: without a new socket) and 12 s for the acks. About 5 s on an idle machine.
BUDGET = 60.0
CONNECT_LIMIT = 30.0
WAVE_TIMEOUT = 12.0
#: Handshakes in flight: below the listen backlog ``socketio.run`` gives
#: eventlet (50), so that no SYN is dropped and retried a second later.
INFLIGHT = 32


@pytest.fixture
def nofile() -> t.Iterator[None]:
    """Room for the sockets: the server inherits this process's limit, and
    under gevent it holds two descriptors per socket (simple-websocket
    duplicates each one)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 2 * SOCKETS + 200
    require(
        hard == resource.RLIM_INFINITY or hard >= needed,
        f"The hard RLIMIT_NOFILE ({hard}) is below the {needed} this test needs.",
    )
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.parametrize("async_mode", ["eventlet", "gevent"])
def test_one_process_serves_2000_sockets(nofile: None, async_mode: str) -> None:
    started = time.monotonic()
    server = ServerProcess(async_mode)
    swarm: Swarm | None = None
    try:
        server.wait_ready()
        swarm = Swarm([(server.port, SOCKETS)], inflight=INFLIGHT)
        connected = swarm.connect(
            handshake_timeout=10.0, stall_timeout=10.0, limit=CONNECT_LIMIT
        )
        assert connected["held"] == SOCKETS, (
            f"held {connected['held']} of {SOCKETS} sockets:"
            f" {connected['errors']}\n{server.stderr[-2000:]}"
        )

        urls = [f"/hello/{index}" for index in range(SOCKETS)]
        wave = swarm.wave(1, urls, timeout=WAVE_TIMEOUT, keep=True)
        assert wave["lost"] == 0, f"{wave['lost']} of {SOCKETS} requests got no ack"
        wrong = {}
        for index, payload in wave["payloads"].items():
            jwr = json.loads(payload[payload.index(b"[") :])[0]
            if jwr["statusCode"] != 200 or jwr["body"] != {"n": index, "args": {}}:
                wrong[index] = jwr
        example = next(iter(wrong.items()), None)
        assert not wrong, f"{len(wrong)} wrong acks, such as {example}"
        assert swarm.alive == SOCKETS, "the server closed sockets it had answered"
    finally:
        if swarm is not None:
            swarm.close()
        server.stop()
    assert time.monotonic() - started < BUDGET
