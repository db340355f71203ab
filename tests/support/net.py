"""Loopback networking for the tests: free ports, source addresses, fully read responses."""

from __future__ import annotations

import http.client
import itertools
import socket
import subprocess
import time
from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter


def free_port() -> int:
    """A loopback TCP port nobody listens on right now, for a server under test to take."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(
    probe: Callable[[], str],
    *,
    timeout: float,
    process: subprocess.Popen[bytes] | None = None,
) -> str:
    """Poll ``probe`` (what is still wrong, "" once ready) until it is ready or ``timeout``
    passes: "" when ready, else the last problem. A ``process`` that exits ends the wait."""
    deadline = time.monotonic() + timeout
    problem = "no attempt"
    while time.monotonic() < deadline:
        code = None if process is None else process.poll()
        if code is not None:
            return f"exited with code {code}"
        try:
            problem = probe()
        except OSError as exc:
            problem = f"{type(exc).__name__}: {exc}"
        if not problem:
            return ""
        time.sleep(0.05)
    return f"{problem} after {timeout}s"


def accepting(*ports: int) -> Callable[[], str]:
    """A ``wait_ready`` probe: every port accepts TCP connections on 127.0.0.1."""

    def probe() -> str:
        for port in ports:
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
        return ""

    return probe


def healthy(port: int, path: str = "/health") -> Callable[[], str]:
    """A ``wait_ready`` probe: ``GET path`` on 127.0.0.1:port answers 200."""

    def probe() -> str:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2.0)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
        finally:
            conn.close()
        return "" if response.status == 200 else f"{path} returned {response.status}"

    return probe


def fetch(url: str, *, timeout: float = 60.0, **kwargs: Any) -> requests.Response:
    """GET with the body read and the connection closed, so no ResourceWarning escapes."""
    with requests.get(url, timeout=timeout, **kwargs) as response:
        response.content  # noqa: B018 - read the body before the connection closes
        return response


class SourceAddress(HTTPAdapter):
    """Connect from a chosen loopback address (127.0.0.0/8 all reaches the server)."""

    def __init__(self, address: str) -> None:
        self._address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self._address, 0)
        super().init_poolmanager(*args, **kwargs)


_addresses = itertools.count(1)


def fresh_address() -> str:
    """A loopback address no earlier request of this session used.

    Failed logins are throttled per client address, so requests meant to fail come from
    their own address and never slow down (or block) the other tests' requests.
    """
    n = next(_addresses)
    return f"127.0.{10 + n // 200}.{n % 200 + 2}"


def request_from(source: str, method: str, url: str, **kwargs: Any) -> requests.Response:
    """One request sent from loopback address ``source``; the connection is closed after."""
    with requests.Session() as session:
        session.mount("http://", SourceAddress(source))
        response = session.request(method, url, **kwargs)
        response.close()
        return response
