"""An upstream project page: fetched (``fetch_page``), then read into plain records
(``parse_page``).

Fetching asks for the page as this index reads it (``ACCEPT``, gzip, and conditionally:
with the validators of the copy held, an unchanged page is a 304) in one exchange of
``http``, and keeps at most ``MAX_PAGE`` bytes of it, inflated.

Parsing (PEP 691 JSON, or PEP 503 HTML) is pure: bytes and the page's URL in,
``UpstreamFile`` records out. Everything an upstream says is untrusted, so each file is
checked on its own and a bad one is skipped with a reason (the caller logs it) instead of
spoiling the page: a file name that does not parse or belongs to another project, a link
that is not http(s), a missing or malformed sha256 (a file we cannot verify is never
served), a size or time that makes no sense.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

from dynopypi.dists.names import NormalizedName, parse_filename
from dynopypi.errors import InvalidFilename
from dynopypi.ops.logsafe import redact
from dynopypi.upstream.http import FetchFailed, PageMemory, open_url, read_bounded
from dynopypi.upstream.origin import Origin
from dynopypi.upstream.reach import Reach

JSON_V1 = "application/vnd.pypi.simple.v1+json"
ACCEPT = f"{JSON_V1}, application/vnd.pypi.simple.latest+json;q=0.9, text/html;q=0.1"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
MAX_FILES = 100_000  # one project; PyPI's biggest have a few tens of thousands
MAX_PAGE = 64 * 1024 * 1024  # a project page bigger than this is refused


@dataclass(frozen=True, slots=True)
class UpstreamFile:
    filename: str
    url: str  # absolute, http(s), without fragment
    sha256: str
    requires_python: str | None = None
    yanked: str | None = None  # as DistFile: None not yanked, "" yanked without reason
    size: int | None = None
    upload_ns: int | None = None  # upstream's upload-time; None when it gives none
    metadata_sha256: str | None = None  # PEP 658/714 core metadata, when it has a hash


@dataclass(frozen=True, slots=True)
class Page:
    body: bytes
    content_type: str
    etag: str | None
    last_modified: str | None
    url: str  # after redirects: relative links resolve against it


class BadPage(ValueError):
    """The page as a whole cannot be read (not JSON, not HTML, wrong shape)."""


def fetch_page(
    origin: Origin,
    reach: Reach,
    url: str,
    accept: str,
    *,
    etag: str | None,
    last_modified: str | None,
    timeout: float,
    deadline: float,
    memory: PageMemory | None = None,
) -> Page:
    """GET one page, conditionally when validators are known, by ``deadline``."""
    headers = {"Accept": accept, "Accept-Encoding": "gzip"}  # big pages shrink ten-fold
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    response = open_url(url, origin, reach, headers, timeout=timeout, deadline=deadline)
    final = response.geturl()
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity", "gzip", "x-gzip"):
        response.close()
        raise FetchFailed(f"{url}: unexpected Content-Encoding {encoding[:40]!r}")
    gzipped = encoding in ("gzip", "x-gzip")
    body = read_bounded(response, MAX_PAGE, url, gzipped=gzipped, memory=memory)
    return Page(
        body,
        response.headers.get("Content-Type", "text/html"),
        response.headers.get("ETag"),
        response.headers.get("Last-Modified"),
        final,
    )


def parse_page(
    body: bytes, content_type: str, page_url: str, project: NormalizedName
) -> tuple[list[UpstreamFile], list[str]]:
    """(files, reasons for the files skipped); raise ``BadPage`` for an unreadable page."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media.endswith("+json") or media == "application/json":
        raw = _json_files(body)
    elif media in ("text/html", "application/xhtml+xml", "application/vnd.pypi.simple.v1+html"):
        raw = _html_files(body)
    else:
        raise BadPage(f"unexpected content type {content_type[:80]!r}")
    files: list[UpstreamFile] = []
    skipped: list[str] = []
    seen: set[str] = set()
    for entry in raw[:MAX_FILES]:
        try:
            item = _file(entry, page_url, project)
        except (InvalidFilename, ValueError, TypeError, KeyError) as exc:
            skipped.append(str(exc)[:200])
            continue
        if item.filename in seen:
            skipped.append(f"{item.filename!r} is listed twice")
            continue
        seen.add(item.filename)
        files.append(item)
    if len(raw) > MAX_FILES:
        skipped.append(f"{len(raw) - MAX_FILES} files over the limit of {MAX_FILES}")
    return files, skipped


def _json_files(body: bytes) -> list[dict[str, Any]]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BadPage(f"not JSON: {str(exc)[:100]}") from None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, list):
        raise BadPage("a PEP 691 page needs a list of files")
    return [f for f in files if isinstance(f, dict)]


class _Links(HTMLParser):
    """Every <a> of a PEP 503 page, as a PEP 691-shaped dict."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.files: list[dict[str, Any]] = []
        self._current: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a" or len(self.files) > MAX_FILES:
            return
        attr = dict(attrs)
        href = attr.get("href") or ""
        url, fragment = urldefrag(href)
        algo, _, value = fragment.partition("=")
        entry: dict[str, Any] = {"url": url, "hashes": {algo: value} if value else {}}
        entry["requires-python"] = attr.get("data-requires-python")
        if "data-yanked" in attr:
            entry["yanked"] = attr["data-yanked"] or True
        meta = attr.get("data-core-metadata", attr.get("data-dist-info-metadata"))
        if meta:
            m_algo, _, m_value = meta.partition("=")
            entry["core-metadata"] = {m_algo: m_value} if m_value else True
        self._current = entry
        self.files.append(entry)

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._current["filename"] = self._current.get("filename", "") + data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._current = None


def _html_files(body: bytes) -> list[dict[str, Any]]:
    parser = _Links()
    try:
        parser.feed(body.decode("utf-8", errors="replace"))
        parser.close()
    except (AssertionError, ValueError) as exc:  # html.parser is lenient; be safe anyway
        raise BadPage(f"unreadable HTML: {exc}") from None
    for entry in parser.files:  # the link text is the file name; else the URL's last part
        text = str(entry.get("filename", "")).strip()
        entry["filename"] = text or urlsplit(entry["url"]).path.rsplit("/", 1)[-1]
    return parser.files


def _file(entry: dict[str, Any], page_url: str, project: NormalizedName) -> UpstreamFile:
    filename = entry.get("filename")
    if not isinstance(filename, str) or len(filename) > 255:
        raise ValueError("a file without a usable name")
    parsed = parse_filename(filename)
    if parsed.project != project:
        raise ValueError(f"{filename!r} belongs to {parsed.project!r}, not {project!r}")
    url, _ = urldefrag(urljoin(page_url, str(entry.get("url", ""))))
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{filename!r}: link {redact(url[:100])!r} is not http(s)")
    if "@" in parts.netloc:  # never stored, logged or listed as evidence; auth is a header
        raise ValueError(f"{filename!r}: a link with credentials in it is refused")
    hashes = entry.get("hashes")
    sha256 = str(hashes.get("sha256", "")).lower() if isinstance(hashes, dict) else ""
    if not _HEX64.match(sha256):
        raise ValueError(f"{filename!r} has no sha256 to verify it with")
    return UpstreamFile(
        filename=filename,
        url=url,
        sha256=sha256,
        requires_python=_text(entry.get("requires-python")),
        yanked=_yanked(entry.get("yanked")),
        size=_size(entry.get("size")),
        upload_ns=_instant(entry.get("upload-time")),
        metadata_sha256=_metadata(entry),
    )


def _text(value: Any) -> str | None:
    return value[:500] if isinstance(value, str) and value.strip() else None


def _yanked(value: Any) -> str | None:
    if value is True:
        return ""
    if isinstance(value, str) and value:
        return value[:500]
    return None


def _size(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 50:
        return value
    return None


def _instant(value: Any) -> int | None:
    """RFC 3339 (PEP 700's upload-time) -> ns since the epoch; None if absent or odd."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return int(moment.timestamp() * 1_000_000) * 1000


def _metadata(entry: dict[str, Any]) -> str | None:
    value = entry.get("core-metadata", entry.get("dist-info-metadata"))
    if isinstance(value, dict):
        digest = str(value.get("sha256", "")).lower()
        return digest if _HEX64.match(digest) else None
    return None
