"""Retention: which releases old rules remove (pure), as a plan a person reads first.

``plan_releases`` looks at every project the globs select and picks whole releases, each
with the first rule that selects it: beyond the last ``keep_last`` final releases; pre- and
dev releases older than an age; releases whose every file is yanked, older than an age.
Versions are ordered by PEP 440 (``packaging``), never as strings. Never selected: the
newest release of a project (by version, whatever else the rules say), and a release a
``keep`` requirement matches (``acme==1.2.*``). A release's age is its newest file's.

The plan is JSON (``to_json``/``from_json``): each release with its files (name, size,
sha256) and the rule. ``apply`` removes a release only while ``changed`` finds it exactly
as planned, so nothing uploaded, replaced or removed since is touched.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from dynopypi.core.model import Project
from dynopypi.dists.names import DistFile
from dynopypi.errors import InvalidInput

PLAN_FORMAT = 1


@dataclass(frozen=True)
class Rules:
    keep_last: int | None = None  # final releases kept per project
    prereleases_older_than: float | None = None  # seconds
    yanked_older_than: float | None = None
    projects: tuple[str, ...] = ("*",)
    keep: tuple[str, ...] = ()  # requirements never removed (``acme==1.2.*``)

    def kept(self) -> list[Requirement]:
        try:
            return [Requirement(spec) for spec in self.keep]
        except InvalidRequirement as exc:
            raise InvalidInput(f"--keep: {exc}") from None


@dataclass(frozen=True)
class PlannedFile:
    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class PlannedRelease:
    project: str
    version: str
    rule: str
    files: tuple[PlannedFile, ...] = field(default_factory=tuple)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def plan_releases(projects: Iterable[Project], rules: Rules, now: float) -> list[PlannedRelease]:
    """Every release the rules remove, by project then version."""
    kept = rules.kept()
    planned: list[PlannedRelease] = []
    for project in sorted(projects, key=lambda p: p.name):
        if not any(fnmatch.fnmatchcase(project.name, canonicalize_name(g)) for g in rules.projects):
            continue
        planned += _plan_project(project, rules, kept, now)
    return planned


def _plan_project(
    project: Project, rules: Rules, kept: Sequence[Requirement], now: float
) -> list[PlannedRelease]:
    releases: dict[Version, list[DistFile]] = {}
    for dist in project.files:
        releases.setdefault(dist.version, []).append(dist)
    versions = sorted(releases, reverse=True)
    finals = [v for v in versions if not (v.is_prerelease or v.is_devrelease)]
    out: list[PlannedRelease] = []
    for version in versions[1:]:  # never the newest
        if any(_matches(req, project.name, version) for req in kept):
            continue
        files = releases[version]
        rule = _rule(rules, version, files, finals, now)
        if rule is not None:
            planned = tuple(
                PlannedFile(f.filename, f.size, f.sha256) for f in sorted(files, key=_name)
            )
            out.append(PlannedRelease(project.name, str(version), rule, planned))
    return out


def _name(dist: DistFile) -> str:
    return dist.filename


def _matches(req: Requirement, project: str, version: Version) -> bool:
    return canonicalize_name(req.name) == project and req.specifier.contains(
        version, prereleases=True
    )


def _rule(
    rules: Rules, version: Version, files: list[DistFile], finals: list[Version], now: float
) -> str | None:
    """The first rule that selects this release, as the plan names it."""
    age = now - max(f.mtime_ns for f in files) / 1e9
    if rules.keep_last is not None and version in finals[rules.keep_last :]:
        return f"keep-last {rules.keep_last}"
    pre = version.is_prerelease or version.is_devrelease
    if pre and rules.prereleases_older_than is not None and age > rules.prereleases_older_than:
        return f"drop-prereleases-older-than {_days(rules.prereleases_older_than)}"
    yanked = all(f.is_yanked for f in files)
    if yanked and rules.yanked_older_than is not None and age > rules.yanked_older_than:
        return f"drop-yanked-older-than {_days(rules.yanked_older_than)}"
    return None


def _days(seconds: float) -> str:
    return f"{seconds / 86400:g}d" if seconds >= 86400 else f"{seconds:g}s"


def changed(planned: PlannedRelease, current: Sequence[DistFile]) -> str | None:
    """Why the release is no longer as planned (None: it is, it may go)."""
    now = {f.filename: (f.size, f.sha256) for f in current}
    then = {f.name: (f.size, f.sha256) for f in planned.files}
    if not now:
        return "it is already gone"
    if now != then:
        added = sorted(set(now) - set(then))
        if added:
            return f"files were added since the plan ({', '.join(added)})"
        return "its files changed since the plan"
    return None


def to_json(planned: Sequence[PlannedRelease], rules: Rules, created: str) -> str:
    document = {
        "format": PLAN_FORMAT,
        "created": created,
        "rules": asdict(rules),
        "releases": [asdict(p) | {"bytes": p.size} for p in planned],
        "total": {
            "releases": len(planned),
            "files": sum(len(p.files) for p in planned),
            "bytes": sum(p.size for p in planned),
        },
    }
    return json.dumps(document, indent=1) + "\n"


def from_json(text: str) -> list[PlannedRelease]:
    """The releases of a plan ``to_json`` wrote; ``InvalidInput`` for anything else."""
    try:
        document: Any = json.loads(text)
        if document.get("format") != PLAN_FORMAT:
            raise ValueError(f"format {document.get('format')!r}, expected {PLAN_FORMAT}")
        return [
            PlannedRelease(
                str(r["project"]),
                str(r["version"]),
                str(r["rule"]),
                tuple(
                    PlannedFile(str(f["name"]), int(f["size"]), str(f["sha256"]))
                    for f in r["files"]
                ),
            )
            for r in document["releases"]
        ]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidInput(f"not a retention plan: {exc}") from None
