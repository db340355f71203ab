"""Retention planning as tables: PEP 440 order, never the newest release, each rule, the
``keep`` requirements, globs; and a plan through JSON and ``changed``."""

from __future__ import annotations

import pytest

from dynopypi.core.model import Project
from dynopypi.dists.names import DistFile, normalize, parse_version
from dynopypi.errors import InvalidInput
from dynopypi.publish.retention import Rules, changed, from_json, plan_releases, to_json

NOW = 1_800_000_000.0
DAY = 86400.0


def dist(project: str, version: str, age_days: float, *, yanked: bool = False) -> DistFile:
    filename = f"{project}-{version}-py3-none-any.whl"
    return DistFile(
        relpath=filename, root=0, filename=filename, project=normalize(project),
        display_name=project, version=parse_version(version), packagetype="bdist_wheel",
        python_tag="py3", size=100, mtime_ns=int((NOW - age_days * DAY) * 1e9),
        hashes=bytes(80), yanked="bad" if yanked else None,
    )  # fmt: skip


def project(name: str, *files: DistFile) -> Project:
    return Project(normalize(name), name, tuple(files))


# versions that sort wrongly as strings: 1.10 > 1.9, 2.0rc1 < 2.0, 1.0.post1 > 1.0
ACME = project(
    "acme",
    *(dist("acme", v, age) for v, age in [
        ("1.9", 300), ("1.10", 200), ("1.0", 400), ("1.0.post1", 350), ("2.0rc1", 100),
        ("2.0", 90), ("2.1.dev3", 60), ("2.1a1", 5)]),
    dist("acme", "1.5", 250, yanked=True),
)  # fmt: skip


def planned(rules: Rules, *projects: Project) -> list[tuple[str, str, str]]:
    return [(p.project, p.version, p.rule) for p in plan_releases(projects or (ACME,), rules, NOW)]


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        (Rules(keep_last=3), [("acme", "1.5", "keep-last 3"), ("acme", "1.0.post1", "keep-last 3"),
                              ("acme", "1.0", "keep-last 3")]),
        (Rules(prereleases_older_than=30 * DAY),
         [("acme", "2.1.dev3", "drop-prereleases-older-than 30d"),
          ("acme", "2.0rc1", "drop-prereleases-older-than 30d")]),
        (Rules(yanked_older_than=DAY), [("acme", "1.5", "drop-yanked-older-than 1d")]),
        (Rules(keep_last=3, keep=("acme>=1.5,<1.10",)),
         [("acme", "1.0.post1", "keep-last 3"), ("acme", "1.0", "keep-last 3")]),
        (Rules(keep_last=0, projects=("other-*",)), []),
    ],
)  # fmt: skip
def test_rules_select_releases_in_pep440_order(
    rules: Rules, expected: list[tuple[str, str, str]]
) -> None:
    assert planned(rules) == expected


def test_the_newest_release_is_never_removed() -> None:
    only_pre = project("tool", dist("tool", "0.1a1", 500), dist("tool", "0.1a2", 400))
    assert planned(Rules(keep_last=0, prereleases_older_than=0), only_pre) == [
        ("tool", "0.1a1", "drop-prereleases-older-than 0s")
    ]
    everything = planned(Rules(keep_last=0))
    assert ("acme", "2.1a1", "keep-last 0") not in everything  # the newest: a pre-release
    assert ("acme", "2.0", "keep-last 0") in everything


def test_a_plan_round_trips_and_changes_are_found() -> None:
    plan = plan_releases([ACME], Rules(yanked_older_than=DAY), NOW)
    again = from_json(to_json(plan, Rules(yanked_older_than=DAY), "now"))
    assert again == plan
    files = [f for f in ACME.files if str(f.version) == "1.5"]
    assert changed(again[0], files) is None
    assert changed(again[0], []) == "it is already gone"
    extra = dist("acme", "1.5", 0)
    extra.filename = "acme-1.5.tar.gz"
    assert changed(again[0], [*files, extra]) == "files were added since the plan (acme-1.5.tar.gz)"
    with pytest.raises(InvalidInput, match="not a retention plan"):
        from_json('{"format": 2}')
    with pytest.raises(InvalidInput, match="--keep"):
        planned(Rules(keep_last=1, keep=("not a requirement!",)))
