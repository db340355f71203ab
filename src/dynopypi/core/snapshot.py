"""The immutable view every reader uses, and the named rule that merges sources into it.

A ``Snapshot`` maps normalized project names to projects and URL paths to files. It is
never changed once published: writers build the next one (``Overlay``s: at the cost of what
changed, not of the 60,000 files it holds) and swap a reference, so readers never lock and
never see half a change.

Sources are ordered (the package directories as given; later an upstream index). For each
project the **merge rule** decides which of the sources' files are served. Today's rule
between package directories is ``first_directory_wins``: the same relative path in two
directories is served from the first. With an upstream index, the last source is the
upstream's cache and the rule is ``private_first``: a private name is never merged with
upstream files. The rule is a value, not code buried in the index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from packaging.utils import canonicalize_version

from dynopypi.core.model import Project
from dynopypi.core.overlay import Overlay
from dynopypi.dists.names import DistFile, NormalizedName

Layer = Mapping[str, DistFile]  # one source's files of one project, by relative path
MergeRule = Callable[[Sequence[Layer]], list[DistFile]]


def first_directory_wins(layers: Sequence[Layer]) -> list[DistFile]:
    """Every file of every source; a path present in several sources comes from the first.

    That is how a second package directory works as a read-only fallback (pypiserver's
    semantics): it adds files, and a copy in the first directory shadows its own.
    """
    if len(layers) == 1:
        return list(layers[0].values())
    chosen: dict[str, DistFile] = {}
    for layer in layers:
        for relpath, dist in layer.items():
            chosen.setdefault(relpath, dist)
    return list(chosen.values())


def private_first(
    local_sources: int,
    is_private: Callable[[NormalizedName], bool],
    may_merge: Callable[[NormalizedName], bool],
) -> MergeRule:
    """The dependency-confusion guard, as a merge rule over [local..., upstream] layers.

    A name is private when ``is_private`` says so (``--private`` globs) or when any local
    source has a file of it, unless ``may_merge`` (``--merge`` globs: a patched fork
    beside the public releases). A private name is served from local files only,
    whatever the upstream publishes under it; other names get the local files plus the
    upstream files of the releases that have no local file: a local release replaces the
    upstream's whole release (``release_of``), not only the files of the same name, or a
    build tag or a respelled version (``1.0-1``, ``1.0.0``) would beat the fork.
    """

    def rule(layers: Sequence[Layer]) -> list[DistFile]:
        local = first_directory_wins(layers[:local_sources]) if local_sources else []
        upstream = layers[local_sources] if len(layers) > local_sources else {}
        if not upstream:
            return local
        name = next(iter(upstream.values())).project
        if is_private(name) or (local and not may_merge(name)):
            return local
        if not local:
            return list(upstream.values())
        forked = {release_of(dist) for dist in local}
        return local + [d for d in upstream.values() if release_of(d) not in forked]

    return rule


def release_of(dist: DistFile) -> tuple[str, str]:
    """The release a file belongs to as installers match it: the normalized name and the
    canonical public version, so ``1.0``, ``1.0.0`` and ``1.0+fork`` are one release
    (``==1.0`` accepts all three, PEP 440, and pip then takes the highest). Every
    ``DistFile`` has a PEP 440 version: a file name whose version is not one is never
    indexed (``dists.names.parse_filename`` refuses it), so there is nothing else to compare."""
    return dist.project, canonicalize_version(dist.version.public)


def hidden(layers: Sequence[Layer], chosen: Sequence[DistFile], source: int) -> list[DistFile]:
    """The files of ``layers[source]`` that the rule did not serve (evidence of shadowing)."""
    if len(layers) <= source:
        return []
    served = {id(d) for d in chosen}
    return [d for d in layers[source].values() if id(d) not in served]


def _file_order(dist: DistFile) -> tuple[object, str]:
    return dist.version, dist.filename


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Projects and files as served. ``listing`` changes only when the set of projects (or
    a display name) changes, so /simple/ is re-rendered only then."""

    generation: int = 0
    listing: int = 0
    projects: Mapping[NormalizedName, Project] = field(default_factory=dict)
    files: Mapping[str, DistFile] = field(default_factory=dict)  # by URL path
    # projects found on disk whose files are still being read (cold start): listed in
    # /simple/, completed on demand, never served half-read. Name -> display name.
    pending: Mapping[NormalizedName, str] = field(default_factory=dict)

    def project(self, name: NormalizedName) -> Project | None:
        return self.projects.get(name)

    def file_at(self, url_path: str) -> DistFile | None:
        return self.files.get(url_path)

    @property
    def file_count(self) -> int:
        return len(self.files)

    def sorted_projects(self) -> list[Project]:
        return sorted(self.projects.values(), key=lambda p: p.name)

    def listed(self) -> list[Project]:
        """What /simple/ lists: every project, including those still being read."""
        stubs = [Project(n, d, ()) for n, d in self.pending.items() if n not in self.projects]
        return sorted([*self.projects.values(), *stubs], key=lambda p: p.name)


def merged(
    snapshot: Snapshot,
    touched: set[NormalizedName],
    layers_of: Callable[[NormalizedName], Sequence[Layer]],
    rule: MergeRule = first_directory_wins,
    *,
    settled: Iterable[NormalizedName] = (),
) -> Snapshot:
    """The next snapshot: every touched project merged again from its sources' layers;
    ``settled`` projects are no longer pending."""
    pending = snapshot.pending
    done = {name for name in settled if name in pending}
    if done:  # a C-level copy and a few deletions, not a Python pass over every pending
        pending = dict(pending)  # name (each project a cold start completes is a change)
        for name in done:
            del pending[name]
    if not touched and not done:
        return snapshot
    # what changes, then the next version of each map at the cost of those changes only
    # (``Overlay``: no copy of 60,000 files per upload)
    new_projects: dict[NormalizedName, Project] = {}
    gone_projects: list[NormalizedName] = []
    new_files: dict[str, DistFile] = {}
    gone_files: list[str] = []
    for name in touched:
        old = snapshot.projects.get(name)
        if old is not None:
            gone_files += [d.relpath for d in old.files if snapshot.files.get(d.relpath) is d]
        chosen = rule(layers_of(name))
        if not chosen:
            gone_projects.append(name)
            continue
        ordered = tuple(sorted(chosen, key=_file_order))
        new_projects[name] = Project(name, ordered[-1].display_name, ordered)
        for dist in ordered:
            new_files[dist.relpath] = dist
    projects = Overlay.of(snapshot.projects).updated(new_projects, gone_projects)
    files = Overlay.of(snapshot.files).updated(new_files, gone_files)
    # /simple/ shows (name, display name) of projects and pending ones: a pending project
    # completed under the name it was listed by does not change it (nor its page, rendered
    # again per listing change: 10,000 projects, once per project a cold start completes)
    listing_changed = any(
        _listed(snapshot.projects, snapshot.pending, name) != _listed(projects, pending, name)
        for name in touched | done
    )
    return Snapshot(
        snapshot.generation + 1,
        snapshot.listing + (1 if listing_changed else 0),
        projects,
        files,
        pending,
    )


def _listed(
    projects: Mapping[NormalizedName, Project],
    pending: Mapping[NormalizedName, str],
    name: NormalizedName,
) -> str | None:
    """The display name /simple/ lists ``name`` by (None: not listed)."""
    project = projects.get(name)
    return project.display_name if project is not None else pending.get(name)


def holding(snapshot: Snapshot, names: Mapping[NormalizedName, str]) -> Snapshot:
    """The next snapshot with ``names`` pending (listed, to be completed)."""
    pending = {**snapshot.pending, **names}
    return Snapshot(
        snapshot.generation + 1, snapshot.listing + 1, snapshot.projects, snapshot.files, pending
    )
