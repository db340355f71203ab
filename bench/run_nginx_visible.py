"""Upload -> visible through the shipped nginx site: a wheel POSTed to ``/`` through nginx,
then its project page polled through nginx (with pip's ``Accept``) until it lists the file.

The page must come from the pages directory the app writes (nginx's own ``ETag``,
``"<mtime>-<size>"`` in hex), not from the app behind it (a blake2b ``ETag``): each poll
that saw the new file is counted by who answered it. *After response* is from the upload's
answer to the first poll that listed the file (0 when the very first poll did).
"""

from __future__ import annotations

import re
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from run_common import VISIBLE_TIMEOUT, http_get, http_post, upload_form
from support.fakedist import make_wheel

PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
    "text/html; q=0.01"
)
NGINX_ETAG = re.compile(r'^"[0-9a-f]+-[0-9a-f]+"$')


@dataclass
class Visible:
    total_ms: list[float | None] = field(default_factory=list)  # POST sent -> listed
    after_ms: list[float | None] = field(default_factory=list)  # answer -> listed
    by_nginx: int = 0  # of the polls that listed the new file
    by_app: int = 0
    error: str | None = None

    def median(self, name: str) -> float | None:
        values = [v for v in getattr(self, name) if v is not None]
        return statistics.median(values) if values else None


def upload_visible(
    port: int, project: str, samples: int, version_base: str, post_port: int | None = None
) -> Visible:
    """Polls through ``port``; uploads through it too, or to ``post_port`` (the app direct:
    what nginx adds to the upload itself, apart)."""
    out = Visible()
    page = f"/simple/{project}/"
    with tempfile.TemporaryDirectory(prefix="bench-wheel-") as tmp:
        for i in range(samples):
            version = f"{version_base}.{i}"
            wheel = make_wheel(Path(tmp), project, version, payload=b"x" * 2048)
            data = wheel.read_bytes()
            body, ctype = upload_form(project, version, wheel.name, data)
            t0 = time.perf_counter()
            try:
                status, answer = http_post(post_port or port, "/", body, ctype)
            except OSError as exc:
                status, answer = 0, str(exc).encode()
            answered = time.perf_counter()
            if status not in (200, 201):
                out.error = f"POST / -> {status} {answer[:120]!r}"
                return out
            _poll(port, page, wheel.name.encode(), t0, answered, out)
            time.sleep(0.2)
    return out


def _poll(port: int, page: str, needle: bytes, t0: float, answered: float, out: Visible) -> None:
    while True:
        sent = time.perf_counter()
        try:
            status, body, headers = http_get(port, page, headers={"Accept": PIP_ACCEPT})
        except OSError:
            status, body, headers = 0, b"", {}
        if status == 200 and needle in body:
            out.total_ms.append((time.perf_counter() - t0) * 1e3)
            out.after_ms.append(max(0.0, sent - answered) * 1e3)
            if NGINX_ETAG.match(headers.get("etag", "")):
                out.by_nginx += 1
            else:
                out.by_app += 1
            return
        if sent - t0 > VISIBLE_TIMEOUT:
            out.total_ms.append(None)
            out.after_ms.append(None)
            return
        time.sleep(0.001)
