"""The options of the browser client's ``SockReq.connect()`` that the
browser tests do not set, checked under Node against a fake socket.io-client
(``tests/js/client_options.js``): what reaches ``io()``, the hello wait,
cookie sync, the stream window, resubscription."""

from __future__ import annotations

import os
import shutil
import subprocess

from tests.helpers import require
from tests.helpers import TESTS_DIR

SCRIPT = os.path.join(TESTS_DIR, "js", "client_options.js")


def test_connect_options_under_node() -> None:
    node = shutil.which("node")
    require(node, "node is not installed (Debian's nodejs).")
    assert node is not None
    result = subprocess.run(
        [node, SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=os.path.dirname(TESTS_DIR),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok - ") == 7, result.stdout
    assert "not ok" not in result.stdout
