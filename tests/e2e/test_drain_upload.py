"""SIGTERM while an upload's body is still arriving: the upload is in flight too.

waitress hands a request to the app only once its body is complete; the drain used to see
such a connection as idle and close it, dropping the upload (found by the container test's
2 s stop budget, tests/deploy/test_container.py).
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import time
from pathlib import Path

from support.accounts import add_account
from support.fakedist import make_wheel
from support.server import ServerFactory
from support.uploads import MULTIPART, file_upload_fields, form_body

STOP_BOUND = 15.0


def test_sigterm_finishes_upload_body_in_flight(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    htpasswd = tmp_path / "htpasswd"
    add_account(htpasswd, "alice", "s3cret-pass")
    wheel = make_wheel(tmp_path, "half-sent", "1.0", payload=os.urandom(200_000))
    data = wheel.read_bytes()
    body = form_body(file_upload_fields(wheel.name, data), (wheel.name, data))
    server = server_factory(packages, "-P", str(htpasswd))
    assert server.proc is not None
    token = base64.b64encode(b"alice:s3cret-pass").decode()
    head = (
        f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {token}\r\n"
        f"Content-Type: {MULTIPART}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head + body[: len(body) // 2])
        time.sleep(0.3)
        os.kill(server.proc.pid, signal.SIGTERM)
        time.sleep(0.3)  # the drain has started: the listener is closed
        sock.sendall(body[len(body) // 2 :])
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200"), server.logs()
    assert (packages / wheel.name).read_bytes() == data
    assert server.proc.wait(timeout=STOP_BOUND) == 0, server.logs()
