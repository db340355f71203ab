"""Serving a file over HTTP: validators, conditional requests and byte ranges, kept pure.

``plan_download`` decides status and headers from the request headers and the file's
size, mtime and digest; the route only opens the file and streams the chosen range.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime

from dynopypi.dists.names import DistFile

_TYPES = (
    (".whl", "application/zip"),
    (".zip", "application/zip"),
    (".egg", "application/zip"),
    (".tar.gz", "application/gzip"),
    (".tgz", "application/gzip"),
    (".tar.bz2", "application/x-bzip2"),
    (".tar.xz", "application/x-xz"),
    (".tar", "application/x-tar"),
    (".metadata", "text/plain; charset=utf-8"),
)


def content_type_for(filename: str) -> str:
    """Archives are never labelled with a Content-Encoding, so clients keep the bytes as-is."""
    lower = filename.lower()
    for suffix, media in _TYPES:
        if lower.endswith(suffix):
            return media
    return "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Download:
    status: int
    headers: dict[str, str]
    start: int = 0
    length: int = 0  # bytes of body to send (0 for 304/416)


def etag_of(dist: DistFile) -> str:
    return f'"{dist.hashes[:16].hex()}"'


def _parse_range(header: str, size: int) -> tuple[int, int] | bool | None:
    """(start, end inclusive) for one satisfiable range; None to ignore; False if unsatisfiable."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None  # other units and multiple ranges: send the whole file (RFC 9110 allows)
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if not first:
            suffix = int(last)
            if suffix <= 0:
                return False
            return max(0, size - suffix), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size:
        return False
    if start < 0 or end < start:
        return None
    return start, min(end, size - 1)


def plan_download(
    dist: DistFile, request_headers: Mapping[str, str], *, cache_control: int | None
) -> Download:
    etag = etag_of(dist)
    last_modified_s = dist.mtime_ns // 1_000_000_000
    headers = {
        "Content-Type": content_type_for(dist.filename),
        "ETag": etag,
        "Last-Modified": formatdate(last_modified_s, usegmt=True),
        "Accept-Ranges": "bytes",
    }
    if cache_control is not None:
        headers["Cache-Control"] = f"public, max-age={cache_control}"
    if not_modified(request_headers, etag, last_modified_s):
        return Download(304, headers)
    size = dist.size
    range_header = request_headers.get("Range")
    if_range = request_headers.get("If-Range")
    if range_header and (not if_range or if_range.strip() == etag):
        parsed = _parse_range(range_header, size)
        if parsed is False:
            headers["Content-Range"] = f"bytes */{size}"
            return Download(416, headers)
        if isinstance(parsed, tuple):
            start, end = parsed
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            headers["Content-Length"] = str(end - start + 1)
            return Download(206, headers, start, end - start + 1)
    headers["Content-Length"] = str(size)
    return Download(200, headers, 0, size)


def not_modified(
    request_headers: Mapping[str, str], etag: str, last_modified_s: int | None = None
) -> bool:
    inm = request_headers.get("If-None-Match")
    if inm is not None:
        tags = {tag.strip().removeprefix("W/") for tag in inm.split(",")}
        return "*" in tags or etag in tags
    ims = request_headers.get("If-Modified-Since")
    if ims and last_modified_s is not None:
        try:
            return int(parsedate_to_datetime(ims).timestamp()) >= last_modified_s
        except (TypeError, ValueError, OverflowError):
            return False
    return False
