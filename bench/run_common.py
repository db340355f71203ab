"""Shared machinery of bench/run.py: paths, the server processes, HTTP helpers.

Every server (and nginx) runs as a ``Proc`` in its own process group so that a stop, or the
end of the run, kills it with all its children; RSS is summed over that group. Only
127.0.0.1 is used. Importing this module puts bench/ and tests/ on ``sys.path`` (for
``corpus`` and ``support.fakedist``); the other modules import it before ``support``.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
OUT = BENCH_DIR / "out"
sys.path.insert(0, str(BENCH_DIR))
sys.path.append(str(REPO / "tests"))  # support.fakedist: test fixtures, not shipped


HOST = "127.0.0.1"
WRK_TIMEOUT = "10s"
START_TIMEOUT = 180.0
VISIBLE_TIMEOUT = 30.0
FILES_PER_PROJECT = 6
NGINX_SITE = REPO / "nginx" / "dynopypi.conf"
Json = dict[str, Any]


def log(msg: str = "") -> None:
    print(msg, flush=True)


class Proc:
    """A server process in its own session / process group, always killed on stop()."""

    live: dict[int, Proc] = {}  # noqa: RUF012

    def __init__(self, cmd: Sequence[str], logfile: Path, env: dict[str, str] | None = None):
        self.cmd = list(cmd)
        self.logfile = logfile
        self._log = logfile.open("ab")
        self._log.write(f"$ {' '.join(self.cmd)}\n".encode())
        self._log.flush()
        self.started = time.perf_counter()
        self.popen = subprocess.Popen(
            self.cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
        self.pid = self.popen.pid
        Proc.live[self.pid] = self

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, sig)
            try:
                self.popen.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # Kill stragglers of the group even if the leader exited first.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        self._log.close()
        Proc.live.pop(self.pid, None)

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.logfile.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    @classmethod
    def stop_all(cls) -> None:
        for proc in list(cls.live.values()):
            proc.stop()


def _on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def group_rss_kb(pgid: int) -> int:
    """Sum VmRSS over every process of the group (the server and any children)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) != pgid:
                continue
            for line in Path(f"/proc/{entry}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return total


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def http_get(
    port: int, path: str, timeout: float = 30.0, headers: dict[str, str] | None = None
) -> tuple[int, bytes, dict[str, str]]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, body, {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def http_post(
    port: int, path: str, body: bytes, content_type: str, timeout: float = 30.0
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": content_type})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def wait_first_200(proc: Proc, port: int, path: str, timeout: float) -> float:
    """Seconds from the process spawn to the first 200 answer on ``path``."""
    deadline = proc.started + timeout
    while True:
        if not proc.alive():
            raise RuntimeError(f"server exited with {proc.popen.returncode}:\n{proc.tail()}")
        try:
            status, _, _ = http_get(port, path, timeout=max(1.0, deadline - time.perf_counter()))
            if status == 200:
                return time.perf_counter() - proc.started
        except OSError:
            pass
        if time.perf_counter() > deadline:
            raise RuntimeError(f"no 200 on {path} within {timeout:.0f} s:\n{proc.tail()}")
        time.sleep(0.005)


def wait_visible(port: int, path: str, needle: bytes, t0: float, timeout: float) -> float | None:
    """Poll ``path`` until ``needle`` shows up; return seconds since ``t0`` or None."""
    while True:
        try:
            status, body, _ = http_get(port, path, timeout=timeout)
        except OSError:
            status, body = 0, b""
        now = time.perf_counter()
        if status == 200 and needle in body:
            return now - t0
        if now - t0 > timeout:
            return None
        time.sleep(0.002)


def upload_form(project: str, version: str, filename: str, data: bytes) -> tuple[bytes, str]:
    """One wheel as the legacy upload API takes it (``:action=file_upload``): body and
    Content-Type."""
    fields = [
        (":action", "file_upload"), ("protocol_version", "1"),
        ("name", project), ("version", version), ("filetype", "bdist_wheel"),
        ("pyversion", "py3"), ("metadata_version", "2.1"),
        ("sha256_digest", hashlib.sha256(data).hexdigest()),
    ]  # fmt: skip
    return multipart(fields, "content", filename, data)


def multipart(
    fields: Sequence[tuple[str, str]], file_field: str, filename: str, data: bytes
) -> tuple[bytes, str]:
    boundary = f"----dynopypi-bench-{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for key, value in fields:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
        f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


_HREF = re.compile(rb'href="([^"]*)"')


def _hrefs(body: bytes) -> list[str]:
    return [h.decode(errors="replace") for h in _HREF.findall(body)]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _ms_or_none(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1e3


@contextmanager
def signals_to_exit() -> Iterator[None]:
    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
