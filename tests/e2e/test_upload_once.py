"""An accepted upload is written to disk once (issue 12 #2, "do not write accepted uploads
twice"), and an upload's body never waits anywhere else on its way.

waitress used to spool the whole body to a temp file, then the app copied the file part
into the staged file: 2x the writes and 2x the space at peak (measured for a 200 MiB
wheel: 400 MiB written, 400 MiB on disk). Now the body goes from the socket into the
upload's parser and its file part into the staged file. Each test runs a real server and
reads its write counter (``/proc/<pid>/io``: ``wchar``, every byte the process passed to
``write``, whatever the filesystem) and its peak RSS (``VmHWM``).
"""

from __future__ import annotations

import base64
import os
import socket
import time
from pathlib import Path

import pytest
from support.accounts import add_account
from support.clients import check_ok, client_env, run_client, twine_upload, uv_command
from support.fakedist import make_wheel
from support.fs import leftovers
from support.server import DynoServer, ServerFactory
from support.uploads import MULTIPART, file_upload_fields, form_body, part

USER, PASSWORD = "alice", "alice-secret-1"
SIZE = 48 * 2**20


@pytest.fixture
def server(server_factory: ServerFactory, tmp_path: Path) -> DynoServer:
    (tmp_path / "pkgs").mkdir()
    add_account(tmp_path / "htpasswd", USER, PASSWORD)
    return server_factory(tmp_path / "pkgs", "-P", str(tmp_path / "htpasswd"))


def written(server: DynoServer) -> int:
    assert server.proc is not None
    for line in Path(f"/proc/{server.proc.pid}/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("no wchar in /proc/<pid>/io")


def peak_rss(server: DynoServer) -> int:
    assert server.proc is not None
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/<pid>/status")


@pytest.mark.parametrize("client", ["twine", "uv"])
def test_a_large_upload_is_written_once(server: DynoServer, tmp_path: Path, client: str) -> None:
    wheel = make_wheel(tmp_path, f"once-{client}", "1.0", payload=os.urandom(SIZE))
    size = wheel.stat().st_size
    before, rss_before = written(server), peak_rss(server)
    if client == "twine":
        pypirc = tmp_path / "empty.pypirc"
        pypirc.write_text("")
        result = twine_upload(f"{server.base}/", (USER, PASSWORD), [wheel], config_file=pypirc)
    else:
        result = run_client(
            [*uv_command(), "publish", "--no-config", "--cache-dir", tmp_path / "uv-cache",
             "--publish-url", f"{server.base}/", "--username", USER, "--password", PASSWORD,
             wheel],
            env=client_env(),
        )  # fmt: skip
    check_ok(result, server)
    assert (server.package_dir / wheel.name).read_bytes() == wheel.read_bytes()
    writes = written(server) - before
    assert size <= writes < 1.1 * size, (writes / size, server.logs())  # was 2.0x
    assert peak_rss(server) - rss_before < size // 4, "the body went through memory"
    assert leftovers(server.package_dir) == []


def _post(server: DynoServer, head: dict[str, str], body: bytes) -> bytes:
    """Send a whole request as it is written here; the answer (head and body)."""
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    lines = ["POST / HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Basic {token}"]
    lines += [f"{key}: {value}" for key, value in {"Content-Type": MULTIPART, **head}.items()]
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        answer = b""
        while b"\r\n\r\n" not in answer and (more := sock.recv(65536)):
            answer += more
        head_end = answer.find(b"\r\n\r\n") + 4
        length = int(answer.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        while len(answer) < head_end + length and (more := sock.recv(65536)):
            answer += more
    return answer


def _chunked(body: bytes, size: int = 1_000_003) -> bytes:
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def test_a_chunked_upload_is_written_once(server: DynoServer, tmp_path: Path) -> None:
    """Transfer-Encoding: chunked (no Content-Length): de-chunked into the same parser."""
    wheel = make_wheel(tmp_path, "once-chunked", "1.0", payload=os.urandom(8 * 2**20))
    data = wheel.read_bytes()
    body = form_body(file_upload_fields(wheel.name, data), (wheel.name, data))
    before = written(server)
    answer = _post(server, {"Transfer-Encoding": "chunked"}, _chunked(body))
    assert answer.startswith(b"HTTP/1.1 200"), (answer, server.logs())
    assert (server.package_dir / wheel.name).read_bytes() == data
    assert written(server) - before < 1.1 * len(data)
    assert leftovers(server.package_dir) == []


def test_a_chunked_upload_over_the_limit_is_refused(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    (tmp_path / "pkgs").mkdir()
    add_account(tmp_path / "htpasswd", USER, PASSWORD)
    server = server_factory(
        tmp_path / "pkgs", "-P", str(tmp_path / "htpasswd"), "--max-upload-size", "1M"
    )
    data = os.urandom(3 * 2**20)
    body = form_body(file_upload_fields("big-1.0.tar.gz", data), ("big-1.0.tar.gz", data))
    answer = _post(server, {"Transfer-Encoding": "chunked"}, _chunked(body))
    assert answer.startswith(b"HTTP/1.1 413"), (answer, server.logs())
    assert list(server.package_dir.iterdir()) == []


def test_a_content_length_over_the_limit_is_refused_before_the_body(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    (tmp_path / "pkgs").mkdir()
    add_account(tmp_path / "htpasswd", USER, PASSWORD)
    server = server_factory(
        tmp_path / "pkgs", "-P", str(tmp_path / "htpasswd"), "--max-upload-size", "1M"
    )
    over = 2**20 + 2**19  # over the limit, under waitress's own (limit + 1 MiB)
    answer = _post(server, {"Content-Length": str(over)}, b"")  # no body sent at all
    assert answer.startswith(b"HTTP/1.1 413"), (answer, server.logs())
    assert b"this index accepts at most 1048576 bytes" in answer, answer


def test_a_dropped_upload_leaves_nothing(server: DynoServer) -> None:
    """The client goes away halfway: its staged file is removed at once, not at restart."""
    data = os.urandom(4 * 2**20)
    body = form_body(file_upload_fields("gone-1.0.tar.gz", data), ("gone-1.0.tar.gz", data))
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    head = (
        f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {token}\r\n"
        f"Content-Type: {MULTIPART}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head + body[: len(body) // 2])
        deadline = time.monotonic() + 10
        while not leftovers(server.package_dir):
            assert time.monotonic() < deadline, "the upload never reached its staged file"
            time.sleep(0.02)
    deadline = time.monotonic() + 10
    while leftovers(server.package_dir):
        assert time.monotonic() < deadline, leftovers(server.package_dir)
        time.sleep(0.05)
    assert server.get("/health").status_code == 200


def test_a_malformed_upload_removes_its_staged_file_at_once(server: DynoServer) -> None:
    """A body that breaks the multipart rules after its file part started: the staged file
    goes as soon as the error is seen, the rest of the body is read and dropped, 400."""
    start = part(":action", b"file_upload") + part("content", os.urandom(2**20), "bad-1.0.tar.gz")
    body = start + b"--" + MULTIPART.split("=")[1].encode() + b"\r\nno header end\n" * 1000
    answer = _post(server, {"Content-Length": str(len(body))}, body)
    assert answer.startswith(b"HTTP/1.1 400"), (answer, server.logs())
    assert b"malformed multipart body" in answer, answer
    assert leftovers(server.package_dir) == []
