"""Many sockets with many requests in flight each, every one different: each
acknowledgement answers its own request (no cross-talk) and none is lost, in
every async mode."""

from __future__ import annotations

import threading
import typing as t
import uuid

from tests.helpers import Clients
from tests.helpers import ServerProcess

SOCKETS = 20
IN_FLIGHT = 25


def test_every_ack_answers_its_own_request(
    server: ServerProcess, clients: Clients
) -> None:
    sockets = [clients.connect(server) for _ in range(SOCKETS)]
    expected: dict[str, dict[str, t.Any]] = {}
    answers: dict[str, t.Any] = {}
    lock = threading.Lock()
    done = threading.Event()
    total = SOCKETS * IN_FLIGHT

    def answered(tag: str) -> t.Callable[[t.Any], None]:
        def callback(jwr: t.Any) -> None:
            with lock:
                assert tag not in answers, f"two answers for {tag}"
                answers[tag] = jwr
                if len(answers) == total:
                    done.set()

        return callback

    for index, sock in enumerate(sockets):
        for n in range(IN_FLIGHT):
            tag = f"{index}-{n}-{uuid.uuid4().hex}"
            if n % 3 == 0:
                payload = {"url": f"/echo?tag={tag}", "headers": {"X-Tag": tag}}
                event = "get"
            else:
                # Distinct bodies of distinct sizes.
                payload = {"url": "/echo", "data": {"tag": tag, "pad": "x" * (n * 97)}}
                event = "post"
            expected[tag] = {"event": event, "n": n}
            sock.emit(event, payload, callback=answered(tag))
    assert done.wait(30), f"{total - len(answers)} of {total} acks never came"
    for tag, jwr in answers.items():
        assert jwr["statusCode"] == 200, (tag, jwr)
        body = jwr["body"]
        if expected[tag]["event"] == "get":
            assert body["args"] == {"tag": [tag]}, (tag, body)
        else:
            n = expected[tag]["n"]
            assert body["json"] == {"tag": tag, "pad": "x" * (n * 97)}, tag
    # An answer that went to another socket, or to another request of the
    # same socket, would carry another tag: each callback checked its own.
