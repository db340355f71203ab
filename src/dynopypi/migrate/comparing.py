"""``dynopypi compare``: every project of two indexes (or those ``--project`` names), each
page read from both (JSON when offered), compared (``compare``), and the report: the
differences, the pages that could not be read, and one summary line.

Only pages are fetched, never package files, so ten thousand projects take minutes;
``jobs`` projects are compared at once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from dynopypi.dists.names import NormalizedName
from dynopypi.migrate.compare import KINDS, Difference, compare_files
from dynopypi.migrate.remote import Listing, Remote, RemoteError
from dynopypi.migrate.source import matching


@dataclass
class Report:
    old: str
    new: str
    projects: int = 0
    files: int = 0
    differences: list[Difference] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # pages not read: not a comparison

    @property
    def alike(self) -> bool:
        return not self.differences and not self.problems

    def counts(self) -> dict[str, int]:
        found = Counter(d.kind for d in self.differences)
        return {kind: found[kind] for kind in KINDS if found[kind]}

    def summary(self) -> str:
        head = f"compared {self.projects} projects, {self.files} files"
        if self.alike:
            return f"{head}: the two indexes answer alike"
        parts = [f"{kind} {n}" for kind, n in self.counts().items()]
        if self.problems:
            parts.append(f"pages not read {len(self.problems)}")
        return f"{head}: {len(self.differences)} differences ({', '.join(parts)})"

    def as_json(self) -> dict[str, Any]:
        return {
            "old": self.old,
            "new": self.new,
            "alike": self.alike,
            "projects": self.projects,
            "files": self.files,
            "counts": self.counts(),
            "differences": [d.as_json() for d in self.differences],
            "problems": self.problems,
        }


def _page(remote: Remote, listed: set[NormalizedName], name: NormalizedName) -> Listing | str:
    if name not in listed:
        return Listing(name, [], [])
    try:
        return remote.page(name)
    except RemoteError as exc:
        return f"{name}: {remote.url}: {exc}"


def compare_indexes(
    old: Remote,
    new: Remote,
    *,
    globs: tuple[str, ...] = (),
    jobs: int = 8,
    tolerance_ns: int = 2_000_000_000,
    on_project: Callable[[int, int], None] | None = None,
) -> Report:
    """Compare every project either index lists; ``RemoteError`` if a project list
    cannot be read (nothing can be compared then)."""
    old_names, new_names = set(old.projects()), set(new.projects())
    names = matching(sorted(old_names | new_names), globs)
    report = Report(old.url, new.url, projects=len(names))

    def one(name: NormalizedName) -> tuple[Listing | str, Listing | str]:
        return _page(old, old_names, name), _page(new, new_names, name)

    with ThreadPoolExecutor(max(1, jobs), thread_name_prefix="dynopypi-compare") as pool:
        for done, (name, (a, b)) in enumerate(zip(names, pool.map(one, names), strict=True)):
            if on_project is not None:
                on_project(done + 1, len(names))
            if isinstance(a, str) or isinstance(b, str):
                report.problems += [p for p in (a, b) if isinstance(p, str)]
                continue
            for side, listing in (("old", a), ("new", b)):
                report.problems += [f"{name}: {side}: skipped {why}" for why in listing.skipped]
            report.files += len({f.filename for f in a.files} | {f.filename for f in b.files})
            report.differences += compare_files(name, a.files, b.files, tolerance_ns=tolerance_ns)
    return report
