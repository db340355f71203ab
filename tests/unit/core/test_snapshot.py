"""The merge rule and snapshot updates, as tables: pure functions, no disk."""

from __future__ import annotations

import pytest

from dynopypi.core.snapshot import Layer, Snapshot, first_directory_wins, holding, merged
from dynopypi.dists.names import DistFile, NormalizedName, normalize, parse_version


def dist(relpath: str, root: int = 0, version: str = "1.0", project: str = "foo") -> DistFile:
    name = normalize(project)
    return DistFile(
        relpath=relpath,
        root=root,
        filename=relpath.rsplit("/", 1)[-1],
        project=name,
        display_name=project,
        version=parse_version(version),
        packagetype="bdist_wheel",
        python_tag="py3",
        size=1,
        mtime_ns=0,
        hashes=bytes(80),
    )


def layer(*files: DistFile) -> Layer:
    return {f.relpath: f for f in files}


@pytest.mark.parametrize(
    ("layers", "expected"),
    [
        # (path, root) of each source's files -> (path, root) served
        ([[]], []),
        ([[("a.whl", 0)]], [("a.whl", 0)]),
        ([[("a.whl", 0)], [("a.whl", 1)]], [("a.whl", 0)]),  # the first directory shadows
        ([[], [("a.whl", 1)]], [("a.whl", 1)]),  # a fallback directory fills in
        ([[("a.whl", 0)], [("b.whl", 1)]], [("a.whl", 0), ("b.whl", 1)]),  # union
        ([[("x/a.whl", 0)], [("a.whl", 1)]], [("x/a.whl", 0), ("a.whl", 1)]),  # paths differ
        ([[], [], [("a.whl", 2)], [("a.whl", 3)]], [("a.whl", 2)]),
    ],
)
def test_first_directory_wins(
    layers: list[list[tuple[str, int]]], expected: list[tuple[str, int]]
) -> None:
    sources = [layer(*(dist(path, root) for path, root in files)) for files in layers]
    chosen = first_directory_wins(sources)
    assert sorted((d.relpath, d.root) for d in chosen) == sorted(expected)


def test_merged_replaces_projects_and_files_without_touching_the_old_snapshot() -> None:
    foo1, foo2 = dist("foo-1.0.whl"), dist("foo-2.0.whl", version="2.0")
    sources: dict[NormalizedName, list[Layer]] = {normalize("foo"): [layer(foo2, foo1)]}
    first = merged(Snapshot(), {normalize("foo")}, lambda n: sources.get(n, [{}]))
    assert [f.filename for f in first.projects[normalize("foo")].files] == [
        "foo-1.0.whl",
        "foo-2.0.whl",
    ]  # ordered by version
    assert first.file_at("foo-2.0.whl") is foo2 and first.file_count == 2
    assert (first.generation, first.listing) == (1, 1)

    sources[normalize("foo")] = [layer(foo1)]
    second = merged(first, {normalize("foo")}, lambda n: sources.get(n, [{}]))
    assert second.file_at("foo-2.0.whl") is None
    assert first.file_at("foo-2.0.whl") is foo2  # readers of the old snapshot see no change
    assert (second.generation, second.listing) == (2, 1)  # same projects: same listing

    sources[normalize("foo")] = [{}]
    third = merged(second, {normalize("foo")}, lambda n: sources.get(n, [{}]))
    assert third.projects == {} and third.files == {}
    assert third.listing == 2


def test_nothing_touched_is_the_same_snapshot() -> None:
    snapshot = Snapshot()
    assert merged(snapshot, set(), lambda n: []) is snapshot


@pytest.mark.parametrize(
    ("files", "listing_changes"),
    [
        (["Foo-1.0.whl"], False),  # completed under the name it was listed by
        (["FOO-1.0.whl"], True),  # its files spell it otherwise: /simple/ shows that
        ([], True),  # no file left (removed meanwhile): no longer listed
    ],
)
def test_a_pending_project_completed_changes_the_listing_only_if_it_shows(
    files: list[str], listing_changes: bool
) -> None:
    """/simple/ is rendered again per listing change (10,000 projects at a time); a cold
    start completes projects one by one, most of them under the name they were listed by."""
    name = normalize("foo")
    waiting = holding(Snapshot(), {name: "Foo"})
    sources = {name: [layer(*(dist(f, project=f.split("-")[0]) for f in files))]}
    done = merged(waiting, {name}, lambda n: sources.get(n, [{}]), settled={name})
    assert done.pending == {} and waiting.pending == {name: "Foo"}
    assert (done.listing != waiting.listing) is listing_changes
    assert [p.display_name for p in done.listed()] == [f.split("-")[0] for f in files]
