"""Attack tools for the transport tests: raw sockets that stall, trickle or never finish.

Every attacker here is a plain socket so the test controls each byte (a client library
would read responses, retry, or buffer). ``Attackers`` closes whatever it opened.
"""

from __future__ import annotations

import contextlib
import resource
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

PROBE_TIMEOUT = 10.0  # a server that has not answered /health by then is taken away


def connect(port: int, *, rcvbuf: int | None = None, timeout: float = 10.0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:  # a small window: the server's output backs up sooner
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(timeout)
    sock.connect(("127.0.0.1", port))
    return sock


def enough_files(count: int) -> None:
    """Raise this process's soft open-file limit so it can hold ``count`` sockets (CI
    shells often start at 1024); fails the test if the hard limit is lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < count:
        if hard != resource.RLIM_INFINITY and hard < count:
            raise AssertionError(f"need {count} open files, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (count, hard))


def head_of(method: str, path: str, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{key}: {value}" for key, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass
class Attackers:
    """Sockets opened by one test, closed at the end whatever happened."""

    port: int
    sockets: list[socket.socket] = field(default_factory=list)

    def stalled_range_readers(self, path: str, count: int) -> None:
        """``count`` downloads of ``path`` with ``Range: bytes=0-`` that never read."""
        for _ in range(count):
            sock = connect(self.port, rcvbuf=4096)
            sock.sendall(head_of("GET", path, {"Range": "bytes=0-"}))
            self.sockets.append(sock)

    def unfinished_heads(self, count: int) -> None:
        """``count`` connections that send half a request head and then nothing."""
        enough_files(count + 100)
        for _ in range(count):
            sock = connect(self.port)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            self.sockets.append(sock)

    def slow_bodies(self, path: str, authorization: str, count: int) -> list[int]:
        """``count`` uploads that send their head and a first body byte, then wait.

        Returns the status of each one answered within a moment (0: still open, i.e.
        its body is being streamed to the app)."""
        head = {
            "Authorization": authorization,
            "Content-Length": str(10 * 1024 * 1024),
            "Content-Type": "multipart/form-data; boundary=x",
        }
        for _ in range(count):
            sock = connect(self.port)
            sock.sendall(head_of("POST", path, head) + b"-")
            self.sockets.append(sock)
        time.sleep(1.0)
        statuses = []
        for sock in self.sockets[-count:]:
            sock.settimeout(0.05)
            try:
                reply = sock.recv(64)
            except (TimeoutError, OSError):
                reply = b""
            statuses.append(int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/") else 0)
        return statuses

    def close(self) -> None:
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()
        self.sockets.clear()


def peer_closed(sock: socket.socket, wait: float = 5.0) -> bool:
    """True when the server closed ``sock`` (EOF or reset) within ``wait`` seconds."""
    sock.settimeout(wait)
    try:
        return sock.recv(65536) == b"" or True  # any answer to half a head ends it too
    except TimeoutError:
        return False
    except OSError:
        return True


@contextlib.contextmanager
def attackers(port: int) -> Iterator[Attackers]:
    group = Attackers(port)
    try:
        yield group
    finally:
        group.close()


def health_seconds(port: int, path: str = "/health", timeout: float = PROBE_TIMEOUT) -> float:
    """Seconds until ``GET path`` answered 200 on a fresh connection; inf if it did not."""
    started = time.perf_counter()
    try:
        with connect(port, timeout=timeout) as sock:
            sock.sendall(head_of("GET", path, {"Connection": "close"}))
            reply = b""
            while b"\r\n" not in reply:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
    except OSError:
        return float("inf")
    if not reply.startswith(b"HTTP/1.1 200"):
        return float("inf")
    return time.perf_counter() - started


@dataclass
class UploadAttempt:
    """What an upload that is refused cost the server: bytes it took before answering."""

    status: int
    sent: int
    reply: bytes


def push_body(
    port: int,
    path: str,
    headers: dict[str, str],
    size: int,
    *,
    wait_continue: bool = False,
    chunked: bool = False,
) -> UploadAttempt:
    """Send a head announcing ``size`` body bytes (or a chunked body), then as many as
    the server takes.

    Stops at the first reply byte (or when the server stops taking bytes for 2 s):
    ``sent`` is how much of the body the server let in before it answered.
    """
    head = {"Content-Type": "multipart/form-data; boundary=x"}
    if chunked:
        head["Transfer-Encoding"] = "chunked"
    else:
        head["Content-Length"] = str(size)
    if wait_continue:
        head["Expect"] = "100-continue"
    sock = connect(port, rcvbuf=65536)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
    sent, reply = 0, b""
    try:
        sock.sendall(head_of("POST", path, {**headers, **head}))
        sock.setblocking(False)
        block = b"x" * 65536
        if chunked:  # chunks of 64 KiB, each framed as "10000\r\n<bytes>\r\n"
            block = b"10000\r\n" + block + b"\r\n"
        piece = b""  # what is left of the block being sent
        stalled_since = time.monotonic()
        while sent < size and time.monotonic() - stalled_since < 2.0:
            with contextlib.suppress(BlockingIOError):
                reply += sock.recv(65536)
                if reply:
                    break
            piece = piece or block[: size - sent]
            try:
                count = sock.send(piece)
            except BlockingIOError:
                time.sleep(0.01)
                continue
            except OSError:
                break
            piece = piece[count:]
            sent += count
            stalled_since = time.monotonic()
        sock.settimeout(10.0)
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in reply:
                more = sock.recv(65536)
                if not more:
                    break
                reply += more
    finally:
        sock.close()
    status = int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else 0
    return UploadAttempt(status, sent, reply)
