"""The upstream cache on disk: project pages, files, and the shadowing evidence log.

Layout under ``<cache_dir>/upstream-<key>/`` (the key is a hash of the upstream URLs, so
two configurations never share a cache):

- ``pages/<name>.json``: what upstream last said about a project (its files, validators,
  when it was fetched, when each file was first seen, and for a file that appeared on a
  later fetch, when the fetch before did not list it: ``not_before``);
- ``files/.upstream/<name>/<filename>`` (+ ``.metadata``): fetched files. The URL path of
  a cached file is ``.upstream/<name>/<filename>``; no package directory ever serves a
  dot-directory, so a cached file can never pass for a local one, and the private-first
  rule cannot be fooled by the cache;
- ``tmp/``: downloads in flight (renamed into ``files/`` once verified);
- ``shadowed.jsonl``: one line per upstream file hidden by the private-first rule.

Nothing here is the truth: deleting the directory loses only time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dynopypi.dists.names import NormalizedName, is_valid_project_name, normalize
from dynopypi.upstream.origin import clean_url
from dynopypi.upstream.page import UpstreamFile

log = logging.getLogger(__name__)
PREFIX = ".upstream/"
METADATA = ".metadata"  # a cached file's core metadata sits beside it: <filename>.metadata


def upstream_dir(cache_dir: Path, upstreams: Sequence[str]) -> Path:
    """Keyed on the URLs without credentials: rotating a token keeps the cache."""
    key = "\0".join(clean_url(u) for u in upstreams)
    key = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir / f"upstream-{key}"


def relpath_of(project: NormalizedName, filename: str) -> str:
    return f"{PREFIX}{project}/{filename}"


@dataclass
class CachedPage:
    """One project's upstream page as last fetched (or revalidated)."""

    name: NormalizedName
    origin: str  # which --upstream answered
    page_url: str
    etag: str | None
    last_modified: str | None
    fetched: float  # wall-clock seconds
    files: list[UpstreamFile]
    first_seen: dict[str, int] = field(default_factory=dict)  # filename -> ns
    # filename -> ns: files new since an earlier fetch (or 304), and when that was
    not_before: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["files"] = [asdict(f) for f in self.files]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CachedPage:
        files = [UpstreamFile(**f) for f in data["files"]]
        return cls(
            normalize(str(data["name"])),
            str(data["origin"]),
            str(data["page_url"]),
            data.get("etag"),
            data.get("last_modified"),
            float(data["fetched"]),
            files,
            {str(k): int(v) for k, v in data.get("first_seen", {}).items()},
            {str(k): int(v) for k, v in data.get("not_before", {}).items()},  # none before 18
        )


def not_before(previous: CachedPage | None, files: Sequence[UpstreamFile]) -> dict[str, int]:
    """For each of ``files`` (a page just fetched) that ``previous`` (its last fetch) did
    not list, the time of that fetch: the file was uploaded after it, whatever upstream's
    ``upload-time`` claims (a release "from 2000" first seen a minute ago is a minute
    old). Files listed before keep what was known. On a page's first fetch nothing is
    known, and upstream's times are believed."""
    if previous is None:
        return {}
    listed = {item.filename for item in previous.files}
    checked = int(previous.fetched * 1_000_000_000)
    out = {}
    for item in files:
        if item.filename not in listed:
            out[item.filename] = checked
        elif item.filename in previous.not_before:
            out[item.filename] = previous.not_before[item.filename]
    return out


class UpstreamStore:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.pages = base / "pages"
        self.files = base / "files"
        self.tmp = base / "tmp"
        self.evidence = base / "shadowed.jsonl"

    def create(self) -> None:
        for directory in (self.pages, self.files / PREFIX, self.tmp):
            directory.mkdir(parents=True, exist_ok=True)
        for stale in self.tmp.iterdir():  # downloads cut short by a stop
            with contextlib.suppress(OSError):
                stale.unlink()

    def load_pages(self) -> Iterator[CachedPage]:
        if not self.pages.is_dir():
            return
        for path in sorted(self.pages.glob("*.json")):
            try:
                yield CachedPage.from_json(json.loads(path.read_text()))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("ignoring cached upstream page %s: %s", path, exc)

    def load_page(self, name: NormalizedName) -> CachedPage | None:
        """One project's cached page (None: not cached, or unreadable)."""
        try:
            return CachedPage.from_json(json.loads((self.pages / f"{name}.json").read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save_page(self, page: CachedPage) -> None:
        """Best effort: a page that cannot be saved is still served from memory."""
        try:
            self._write_atomic(
                self.pages / f"{page.name}.json", json.dumps(page.to_json()).encode()
            )
        except OSError as exc:
            log.warning("cannot save the upstream page of %s: %s", page.name, exc)

    def drop_page(self, name: NormalizedName) -> None:
        with contextlib.suppress(OSError):
            (self.pages / f"{name}.json").unlink()

    def file_path(self, relpath: str) -> Path:
        return self.files / relpath

    def staging(self) -> tuple[int, Path]:
        """A temp file for a download in flight (the directory may have been purged).

        It is readable like an uploaded package (0644 less the umask), not mkstemp's 0600:
        once renamed into ``files/``, nginx (another user) sends it."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.tmp, suffix=".part")
        os.fchmod(fd, 0o644 & ~_UMASK)
        return fd, Path(name)

    def record_shadowed(self, entries: Sequence[dict[str, Any]]) -> None:
        if not entries:
            return
        with open(self.evidence, "a", encoding="utf-8") as fh:
            for entry in entries:
                fh.write(json.dumps(entry, sort_keys=True) + "\n")

    def shadowed(self) -> list[dict[str, Any]]:
        try:
            lines = self.evidence.read_text(encoding="utf-8").splitlines()
        except OSError:
            return []
        out = []
        for line in lines:
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def purge(self, name: str | None) -> list[Path]:
        """Remove one project's cached page and files, or the whole cache."""
        if name is None:
            if self.base.exists():
                shutil.rmtree(self.base)
            return [self.base]
        if not is_valid_project_name(name):
            raise ValueError(f"{name!r} is not a valid project name")
        project = normalize(name)
        removed = []
        for path in (self.pages / f"{project}.json", self.files / PREFIX / project):
            if path.is_dir():
                shutil.rmtree(path)
                removed.append(path)
            elif path.exists():
                path.unlink()
                removed.append(path)
        return removed

    def remove_file(self, relpath: str) -> None:
        """Remove one cached file and its ``.metadata`` (a running server notices within a
        second and fetches it again when asked)."""
        path = self.file_path(relpath)
        for victim in (path, path.with_name(path.name + METADATA)):
            with contextlib.suppress(FileNotFoundError):
                victim.unlink()

    def _write_atomic(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def cached_files(self) -> list[tuple[str, int, int, float]]:
        """(relpath, file bytes, ``.metadata`` bytes, last use) of every cached file, oldest
        use first. A file's core metadata is counted (and evicted) with it, also when only
        the metadata was fetched (pip resolved with it and never downloaded the file)."""
        found: dict[str, list[float]] = {}
        top = self.files / PREFIX
        if not top.is_dir():
            return []
        for project in top.iterdir():
            if not project.is_dir():
                continue
            for item in project.iterdir():
                with contextlib.suppress(OSError):
                    st = item.stat()
                    name = item.name.removesuffix(METADATA)
                    row = found.setdefault(f"{PREFIX}{project.name}/{name}", [0, 0, 0.0])
                    row[1 if item.name.endswith(METADATA) else 0] += st.st_size
                    row[2] = max(row[2], st.st_atime, st.st_mtime)
        out = [(rel, int(r[0]), int(r[1]), r[2]) for rel, r in found.items()]
        out.sort(key=lambda row: row[3])
        return out


def stale_files(
    cached: list[tuple[str, int, int, float]],
    now: float,
    *,
    unused_for: float | None,
    down_to: int | None,
) -> list[tuple[str, int]]:
    """(relpath, bytes) of the cached files to remove (pure): those not used for
    ``unused_for`` seconds, then the least recently used until ``down_to`` bytes are left.
    ``cached`` is ``UpstreamStore.cached_files()``: oldest use first."""
    chosen: list[tuple[str, int]] = []
    left = sum(size + meta for _rel, size, meta, _used in cached)
    for relpath, size, meta, used in cached:
        old = unused_for is not None and now - used > unused_for
        over = down_to is not None and left > down_to
        if not (old or over):
            continue
        chosen.append((relpath, size + meta))
        left -= size + meta
    return chosen


def now_ns() -> int:
    return time.time_ns()


def _read_umask() -> int:
    """Read once at import, while single-threaded: os.umask can only be read by setting it."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()
