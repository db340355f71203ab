"""Plain helpers for assertions: polling, digests, wheel metadata; with the readers of
pages and media types (``support.clients``) and the real-client runner.

The ``helpers`` fixture hands these out as one typed namespace (``Helpers``), so test
modules need no imports for them and mypy still checks every call.
"""

from __future__ import annotations

import hashlib
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest

from support.clients import (
    HTML_LATEST,
    HTML_V1,
    JSON_LATEST,
    JSON_V1,
    clean_env,
    media_type,
    parse_html,
    run_client,
)

T = TypeVar("T")

POLL_BOUND = 5.0  # bound for "eventually" assertions (watchdog updates)


def poll_until(
    probe: Callable[[], T],
    *,
    timeout: float = POLL_BOUND,
    interval: float = 0.05,
    message: str | Callable[[], str] = "condition not met",
) -> T:
    """Call ``probe`` until it returns a truthy value, at most ``timeout`` seconds.

    Returns that value; on timeout fails the test with ``message`` and the last value.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = probe()
        if last:
            return last  # type: ignore[no-any-return]
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            pytest.fail(f"{text} (within {timeout:.1f}s); last probe result: {last!r}")
        time.sleep(interval)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    return sha256_bytes(Path(path).read_bytes())


def wheel_metadata(path: Path) -> bytes:
    """The ``*.dist-info/METADATA`` member of a wheel."""
    with zipfile.ZipFile(path) as zf:
        names = [
            n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
        ]
        assert len(names) == 1, f"{path}: METADATA members {names}"
        return zf.read(names[0])


class Helpers:
    """What the ``helpers`` fixture returns (conftest modules are not imported directly)."""

    clean_env = staticmethod(clean_env)
    poll_until = staticmethod(poll_until)
    sha256_bytes = staticmethod(sha256_bytes)
    sha256_file = staticmethod(sha256_file)
    wheel_metadata = staticmethod(wheel_metadata)
    parse_html = staticmethod(parse_html)
    media_type = staticmethod(media_type)
    run_client = staticmethod(run_client)
    urlsplit = staticmethod(urlsplit)
    JSON_V1 = JSON_V1
    JSON_LATEST = JSON_LATEST
    HTML_V1 = HTML_V1
    HTML_LATEST = HTML_LATEST
