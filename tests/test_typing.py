"""Type checking: mypy --strict finds nothing in the package, nor in a
user's module that uses its typed API (``tests/typing_sample.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import typing as t

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# As a user's project checks its own modules: strict, without this
# repository's config, and with errors reported only in the files named.
# Flask-SocketIO has no types; a separate cache keeps the package's warm.
USER_MYPY = [
    sys.executable,
    "-m",
    "mypy",
    "--config-file=",
    "--strict",
    "--follow-imports=silent",
    "--ignore-missing-imports",
    "--cache-dir",
    os.path.join(ROOT, ".mypy_cache", "user"),
]


def run(command: list[str], **options: t.Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300, **options
    )


def test_mypy_is_clean() -> None:
    result = run([sys.executable, "-m", "mypy", "--config-file", "setup.cfg"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_users_module_type_checks() -> None:
    result = run([*USER_MYPY, os.path.join("tests", "typing_sample.py")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_what_type_checks_works() -> None:
    from tests import typing_sample

    typing_sample.check()


def test_mistakes_are_caught(tmp_path: t.Any) -> None:
    # The typed API is not Any: misuses are reported.
    sample = tmp_path / "mistakes.py"
    sample.write_text(
        textwrap.dedent(
            """
            from flask_sockreq import current_socket, is_socket, request
            from flask_sockreq.testing import SockReqTestClient

            def view(client: SockReqTestClient) -> None:
                flag: str = is_socket()
                sid: int = request.sid
                current_socket.joined("room")
                client.get("/").jwr.append(1)
            """
        )
    )
    result = run([*USER_MYPY, str(sample)], env={**os.environ, "MYPYPATH": ROOT})
    assert result.returncode == 1
    for line in (
        'Incompatible types in assignment (expression has type "bool", variable'
        ' has type "str")',
        'Incompatible types in assignment (expression has type "str", variable'
        ' has type "int")',
        '"Socket" has no attribute "joined"',
        '"dict[str, Any]" has no attribute "append"',
    ):
        assert line in result.stdout, result.stdout


def test_sockreq_test_client_is_typed(tmp_path: t.Any) -> None:
    sample = tmp_path / "extension_client.py"
    sample.write_text(
        textwrap.dedent(
            """
            from flask import Flask
            from typing_extensions import assert_type

            from flask_sockreq import SockReq
            from flask_sockreq.testing import SockReqTestClient

            def make(sockreq: SockReq, app: Flask) -> None:
                assert_type(sockreq.test_client(app), SockReqTestClient)
            """
        )
    )
    result = run([*USER_MYPY, str(sample)], env={**os.environ, "MYPYPATH": ROOT})
    assert result.returncode == 0, result.stdout + result.stderr
