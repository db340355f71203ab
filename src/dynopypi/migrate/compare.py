"""What pip would see differently in one project on two indexes (pure): the files of its
page on the old index and on the new, compared file by file.

Each difference has a kind (``KINDS``): a file only on one side, other bytes under one
name (sha256), a different yank state or reason, requires-python, an upload time further
apart than the tolerance (or given on one side only), and another core metadata file
(PEP 658 hash, when both sides give one: a side that gives none makes pip read the
metadata from the file itself, which is the same file when the hashes agree).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from dynopypi.upstream.page import UpstreamFile

ONLY_OLD, ONLY_NEW, SHA256, YANKED = "only-old", "only-new", "sha256", "yanked"
REQUIRES_PYTHON, UPLOAD_TIME, METADATA = "requires-python", "upload-time", "core-metadata"
KINDS = (ONLY_OLD, ONLY_NEW, SHA256, YANKED, REQUIRES_PYTHON, UPLOAD_TIME, METADATA)
_WHAT = {
    ONLY_OLD: "missing on the new index",
    ONLY_NEW: "not on the old index",
    SHA256: "other bytes (sha256)",
    YANKED: "yank state",
    REQUIRES_PYTHON: "requires-python",
    UPLOAD_TIME: "upload time",
    METADATA: "core metadata (sha256)",
}


@dataclass(frozen=True)
class Difference:
    project: str
    kind: str  # one of KINDS
    filename: str
    old: str | None  # what the old index says (None: nothing)
    new: str | None

    def line(self) -> str:
        what = f"{self.project}: {self.filename}: {_WHAT[self.kind]}"
        if self.kind in (ONLY_OLD, ONLY_NEW):
            return what
        return f"{what}: old {_shown(self.old)}, new {_shown(self.new)}"

    def as_json(self) -> dict[str, str | None]:
        return {
            "project": self.project,
            "file": self.filename,
            "kind": self.kind,
            "old": self.old,
            "new": self.new,
        }


def _shown(value: str | None) -> str:
    return "none" if value is None else repr(value)


def _yank(reason: str | None) -> str | None:
    if reason is None:
        return None
    return f"yanked: {reason}" if reason else "yanked"


def _instant(ns: int | None) -> str | None:
    if ns is None:
        return None
    moment = datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def compare_files(
    project: str, old: list[UpstreamFile], new: list[UpstreamFile], *, tolerance_ns: int
) -> list[Difference]:
    """Every difference between the two pages' files, by file name."""
    olds = {f.filename: f for f in old}
    news = {f.filename: f for f in new}
    out: list[Difference] = []
    for name in sorted(olds.keys() | news.keys()):
        a, b = olds.get(name), news.get(name)
        if a is None or b is None:
            out.append(Difference(project, ONLY_NEW if a is None else ONLY_OLD, name, None, None))
            continue
        out += _file_differences(project, a, b, tolerance_ns)
    return out


def _file_differences(
    project: str, a: UpstreamFile, b: UpstreamFile, tolerance_ns: int
) -> list[Difference]:
    out: list[Difference] = []

    def differ(kind: str, old: str | None, new: str | None) -> None:
        if old != new:
            out.append(Difference(project, kind, a.filename, old, new))

    differ(SHA256, a.sha256, b.sha256)
    differ(YANKED, _yank(a.yanked), _yank(b.yanked))
    differ(REQUIRES_PYTHON, a.requires_python, b.requires_python)
    t, u = a.upload_ns, b.upload_ns
    if t is None or u is None or abs(t - u) > tolerance_ns:
        differ(UPLOAD_TIME, _instant(t), _instant(u))
    if a.metadata_sha256 is not None and b.metadata_sha256 is not None:
        differ(METADATA, a.metadata_sha256, b.metadata_sha256)
    return out
