"""Plain helpers for assertions: polling, digests, HTML page parsing, media types.

The ``helpers`` fixture hands these out as one typed namespace (``Helpers``), so test
modules need no imports for them and mypy still checks every call.
"""

from __future__ import annotations

import hashlib
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest
import requests

from support.clients import clean_env, run_client

T = TypeVar("T")

POLL_BOUND = 5.0  # bound for "eventually" assertions (watchdog updates)

JSON_V1 = "application/vnd.pypi.simple.v1+json"
JSON_LATEST = "application/vnd.pypi.simple.latest+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
HTML_LATEST = "application/vnd.pypi.simple.latest+html"


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


class _AnchorParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[dict[str, Any]] = []
        self.metas: list[dict[str, str | None]] = []
        self._current: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._current = {"attrs": dict(attrs), "text": ""}
            self.anchors.append(self._current)
        elif tag == "meta":
            self.metas.append(dict(attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._current = None

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._current["text"] += data


@dataclass
class Anchor:
    href: str
    text: str
    attrs: dict[str, str | None]


@dataclass
class HtmlPage:
    anchors: list[Anchor]
    metas: list[dict[str, str | None]]

    def meta(self, name: str) -> str | None:
        for m in self.metas:
            if m.get("name") == name:
                return m.get("content")
        return None

    def by_text(self) -> dict[str, Anchor]:
        return {a.text.strip(): a for a in self.anchors}


def parse_html(text: str) -> HtmlPage:
    parser = _AnchorParser()
    parser.feed(text)
    parser.close()
    anchors = [
        Anchor(href=a["attrs"].get("href") or "", text=a["text"], attrs=a["attrs"])
        for a in parser.anchors
    ]
    return HtmlPage(anchors=anchors, metas=parser.metas)


def media_type(response: requests.Response) -> str:
    return response.headers.get("Content-Type", "").split(";")[0].strip().lower()


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
