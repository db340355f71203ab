"""Transport attacks against a real server on a loopback port (issue 12 #1 #2 #3 #16).

Each test starts ``python -m dynopypi run`` and attacks it with raw sockets
(``support.attackers``), then checks that other clients are still served.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import waitress.server
from support.accounts import add_account, basic
from support.attackers import (
    attackers,
    connect,
    head_of,
    health_seconds,
    peer_closed,
    push_body,
)
from support.fakedist import make_wheel
from support.server import DynoServer, ServerFactory
from support.uploads import MULTIPART, part

from dynopypi.edge.guard import Limits, guard_server
from dynopypi.edge.hosts import valid_host
from dynopypi.store.base import FileRange

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


# --------------------------------------------------------------------------- #2 bodies


USER, PASSWORD = "uploader", "s3cret-Upload-pw"
HUGE = 64 * 1024 * 1024


@pytest.fixture
def accounts(server_factory: ServerFactory, tmp_path_factory: pytest.TempPathFactory) -> DynoServer:
    """A server per test: failed logins of one test must not throttle the next one."""
    root = tmp_path_factory.mktemp("accounts")
    htpasswd = root / "htpasswd"
    add_account(htpasswd, USER, PASSWORD)
    (root / "packages").mkdir()
    return server_factory(root / "packages", "-P", str(htpasswd), "-a", "update")


@pytest.mark.parametrize("credentials", [None, basic(USER, "wrong"), "Basic \xe9"])
@pytest.mark.parametrize("wait_continue", [False, True])
def test_stranger_body_is_refused_before_it_is_read(
    accounts: DynoServer, credentials: str | None, wait_continue: bool
) -> None:
    """#2: the answer comes after the head, not after 64 MiB; no 100 Continue."""
    headers = {"Authorization": credentials} if credentials else {}
    attempt = push_body(accounts.port, "/", headers, HUGE, wait_continue=wait_continue)
    assert attempt.status == 401, (attempt, accounts.logs())
    assert b"100 Continue" not in attempt.reply
    assert b"www-authenticate: basic" in attempt.reply.lower()
    assert attempt.sent < HUGE // 8, attempt.sent  # only what the socket buffers held
    assert health_seconds(accounts.port) < 10


@pytest.mark.parametrize("path", ["/", "/_/oidc/burn-token"])
def test_a_refused_body_is_never_read_as_the_next_request(accounts: DynoServer, path: str) -> None:
    """The body of a request refused before its body stays unread: the answer says
    ``Connection: close`` and the connection closes, so a body that is itself a request
    (smuggled in, or a real one behind a proxy's kept-alive connection) is never answered.
    Once, nginx reused such a connection and the next client got a 400."""
    smuggled = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    with connect(accounts.port) as sock:
        sock.sendall(head_of("POST", path, {"Content-Length": str(len(smuggled) * 2)}))
        sock.settimeout(10)
        reply = sock.recv(65536)
        assert reply.startswith(b"HTTP/1.1 401 "), reply
        assert b"\r\nconnection: close\r\n" in reply.lower(), reply
        with contextlib.suppress(OSError):  # the server may have closed already
            sock.sendall(smuggled * 2)
        rest = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                rest += chunk
        assert b"HTTP/1.1" not in rest, rest  # nothing answered the body
    assert health_seconds(accounts.port) < 10


def test_stranger_body_on_any_path_is_refused(accounts: DynoServer) -> None:
    """Every body needs the upload right, whatever the method and path."""
    for path in ("/simple/", "/packages/x", "/nothing"):
        attempt = push_body(accounts.port, path, {}, HUGE)
        assert attempt.status == 401, attempt
        assert attempt.sent < HUGE // 8


def test_account_may_still_send_a_body(accounts: DynoServer, tmp_path: Path) -> None:
    """An allowed body is read as before: with and without Expect: 100-continue."""
    wheel = make_wheel(tmp_path, "fine", "1.0")
    for expect in ({}, {"Expect": "100-continue"}):
        response = accounts.request(
            "POST",
            "/",
            auth=(USER, PASSWORD),
            headers=expect,
            data={":action": "file_upload", "name": "fine", "version": "1.0"},
            files={"content": (wheel.name, wheel.read_bytes())},
        )
        assert response.status_code == 200, (response.text, accounts.logs())


# --------------------------------------------------------------------------- #3 slots


@pytest.mark.slow
def test_unfinished_heads_are_closed_and_health_stays_reachable(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    """#3: more unfinished request heads than the connection limit allows: the server
    closes heads that do not finish in time and the idlest connections at the limit."""
    (tmp_path / "p").mkdir()
    server = server_factory(tmp_path / "p")
    with attackers(server.port) as group:
        group.unfinished_heads(1100)  # the connection limit is 1000
        assert health_seconds(server.port) < 10, server.logs()
        time.sleep(14)  # past the 10 s head deadline (checked every 2 s)
        open_heads = [sock for sock in group.sockets if not peer_closed(sock, wait=0.5)]
        assert not open_heads, (len(open_heads), server.logs())
        assert health_seconds(server.port) < 10, server.logs()


# --------------------------------------------------------------------------- #16


def test_forwarded_host_from_a_stranger_is_ignored(anonymous_reads: DynoServer) -> None:
    """No trusted proxy configured: bottle used to build URLs from X-Forwarded-Host."""
    for headers in ({"X-Forwarded-Host": "attacker.test"}, {"Forwarded": "host=attacker.test"}):
        response = anonymous_reads.get("/pypi/huge/json", headers=headers)
        assert response.status_code == 200
        assert b"attacker.test" not in response.content


@pytest.mark.parametrize(
    "host", ["evil.example:80@attacker.test", "a b", "x/y", "[::1", "h:99999x"]
)
def test_invalid_host_is_refused(anonymous_reads: DynoServer, host: str) -> None:
    response = anonymous_reads.get("/pypi/huge/json", headers={"Host": host})
    assert response.status_code == 400
    assert b"attacker" not in response.content


def test_control_characters_never_reach_the_log_raw(anonymous_reads: DynoServer) -> None:
    """#16: ``%0a`` in a path wrote a fake access line."""
    forged = "/x%0a2026-11-30 12:00:00,000 INFO dynopypi.access: GET /admin 200 1 0.1ms root%1b[2J"
    anonymous_reads.get(forged)
    log = anonymous_reads.stderr_path.read_text()
    assert "\n2026-11-30 12:00:00,000" in log or "\x0a2026" in log, log[-2000:]
    assert "\nGET /admin" not in log
    assert not [line for line in log.splitlines() if line.startswith("2026-11-30 12:00:00,000")]
    assert "\x1b" not in log.replace("\\x1b", "")


def test_file_range_never_reads_past_its_end(tmp_path: Path) -> None:
    """The app's own range handling is bounded whatever the WSGI server does with it."""
    path = tmp_path / "f"
    path.write_bytes(bytes(range(100)))
    window = FileRange(path.open("rb"), 10, 5)
    assert window.read() == bytes(range(10, 15)) and window.read() == b""
    assert window.seek(0, 2) == 5 and window.tell() == 5
    assert window.seek(2) == 2 and window.read(100) == bytes(range(12, 15))
    assert window.seek(-100, 1) == 0 and window.read(2) == bytes([10, 11])
    window.close()


def _open_in(pid: int, directory: Path, wait: float = 5.0) -> list[str]:
    """What the server process has open in ``directory`` (as soon as it has anything)."""
    deadline = time.monotonic() + wait
    while True:
        targets = []
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                targets.append(os.readlink(fd))
        found = [t for t in targets if t.startswith(str(directory))]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_allowed_body_waits_on_disk_in_the_package_directory(accounts: DynoServer) -> None:
    """#2: bodies were spooled to TMPDIR (RAM where /tmp is a tmpfs, as under systemd's
    PrivateTmp=); an allowed body that is not an upload now waits in a nameless file in
    the package directory."""
    assert accounts.proc is not None
    head = {
        "Authorization": basic(USER, PASSWORD),
        "Content-Length": str(8 * 1024 * 1024),
        "Content-Type": "application/octet-stream",
    }
    with attackers(accounts.port) as group:
        sock = connect(accounts.port)
        group.sockets.append(sock)
        sock.sendall(head_of("POST", "/", head))
        sock.sendall(b"x" * (2 * 1024 * 1024))
        spooled = _open_in(accounts.proc.pid, accounts.package_dir)
        assert spooled and all(t.endswith("(deleted)") for t in spooled), spooled


def test_an_upload_body_goes_straight_into_its_staged_file(accounts: DynoServer) -> None:
    """#2 (written twice): an upload's body is no longer spooled and then copied; its file
    part goes into the staged ``.upload-*.part`` file as it arrives, nothing else is open."""
    assert accounts.proc is not None
    head = {
        "Authorization": basic(USER, PASSWORD),
        "Content-Length": str(8 * 1024 * 1024),
        "Content-Type": MULTIPART,
    }
    with attackers(accounts.port) as group:
        sock = connect(accounts.port)
        group.sockets.append(sock)
        sock.sendall(head_of("POST", "/", head))
        sock.sendall(part("content", b"x" * (2 * 1024 * 1024), "big-1.0.tar.gz")[:-2])
        staged = set(_open_in(accounts.proc.pid, accounts.package_dir))  # file and its lock
        assert len(staged) == 1, staged
        assert re.fullmatch(r"\.upload-\w{8}\.part", Path(staged.pop()).name), staged


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("pypi.example.com", True),
        ("pypi.example.com:8443", True),
        ("127.0.0.1:80", True),
        ("[::1]:8180", True),
        ("[::1]", True),
        ("dynopypi_app_1", True),
        ("evil.example:80@attacker.test", False),
        ("a..b", False),
        ("-x.example", False),
        ("[::1]x", False),
        ("[nope]", False),
        ("x:", False),
        ("x:123456", False),
        ("", False),
    ],
)
def test_valid_host(host: str, ok: bool) -> None:
    assert valid_host(host) is ok


def test_streamed_body_frees_its_worker_from_a_stalled_reader() -> None:
    """The class of #1: any streamed (generator) response, such as a file fetched from an
    upstream index while it is sent, blocked a worker for as long as its reader stalled.
    The guard disconnects a reader that takes nothing for ``send_timeout`` seconds."""
    mib = 1024 * 1024

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/health":
            start_response("200 OK", [("Content-Length", "2")])
            return [b"ok"]
        start_response("200 OK", [("Content-Length", str(64 * mib))])
        return (b"\0" * mib for _ in range(64))

    server = waitress.server.create_server(app, host="127.0.0.1", port=0, threads=2)
    guard_server(server, lambda headers, peer, path: None, Limits(send_timeout=2.0))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        with attackers(int(server.effective_port)) as group:
            group.stalled_range_readers("/stream", 4)
            assert health_seconds(int(server.effective_port), timeout=20) < 15
    finally:
        server.close()
        thread.join(10)
