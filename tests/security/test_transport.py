"""Transport attacks against a real server on a loopback port (issue 12 #1 #2 #3 #16).

Each test starts ``python -m dynopypi run`` and attacks it with raw sockets
(``support_transport``), then checks that other clients are still served.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.fakedist import make_wheel
from support.server import DynoServer, ServerFactory

from security.support_transport import attackers, health_seconds

BIG = 40 * 1024 * 1024  # well past waitress's 16 MiB output high-water mark


@pytest.fixture(scope="module")
def big_wheel_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("big")
    make_wheel(root, "huge", "1.0", payload=b"\0" * BIG)
    return root


@pytest.fixture(scope="module")
def anonymous_reads(module_server_factory: ServerFactory, big_wheel_dir: Path) -> DynoServer:
    """The default setup: downloads need no account."""
    return module_server_factory(big_wheel_dir, "--threads", "4")


def test_stalled_range_readers_do_not_take_the_server(anonymous_reads: DynoServer) -> None:
    """#1: downloads with ``Range: bytes=0-`` that never read held a worker each until
    the socket closed; with more of them than workers /health stopped answering."""
    server = anonymous_reads
    with attackers(server.port) as group:
        group.stalled_range_readers("/packages/huge-1.0-py3-none-any.whl", 12)
        for _ in range(3):
            assert health_seconds(server.port) < 10, server.logs()
        group.stalled_range_readers("/packages/huge-1.0-py3-none-any.whl", 12)
        assert health_seconds(server.port) < 10, server.logs()
    assert health_seconds(server.port) < 10, server.logs()


def test_range_still_returns_the_requested_bytes(anonymous_reads: DynoServer) -> None:
    path = "/packages/huge-1.0-py3-none-any.whl"
    whole = anonymous_reads.get(path)
    part = anonymous_reads.get(path, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206
    assert part.content == whole.content[1000:2000]
    tail = anonymous_reads.get(path, headers={"Range": "bytes=-7"})
    assert tail.status_code == 206 and tail.content == whole.content[-7:]
    head = anonymous_reads.request("HEAD", path, headers={"Range": "bytes=5-"})
    assert head.status_code == 206 and head.content == b""
    assert head.headers["Content-Length"] == str(len(whole.content) - 5)
