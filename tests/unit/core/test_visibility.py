"""The cooldown and "as of" filters, as tables (the private-first merge rule that decides
between the local and the upstream layers is in tests/unit/upstream/test_names.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dynopypi.core.visibility import (
    NS,
    AsOf,
    Cooldown,
    Exempt,
    UpstreamTimes,
    format_duration,
    held_summary,
    parse_as_of,
    parse_duration,
    parse_instant,
    split,
    visible,
)
from dynopypi.dists.names import DistFile, normalize, parse_version
from dynopypi.errors import ConfigError, InvalidInput

NOW = 1_800_000_000 * NS
DAY = 86400 * NS


def dist(relpath: str, root: int, project: str = "foo", version: str = "1.0") -> DistFile:
    return DistFile(
        relpath=relpath, root=root, filename=relpath.rsplit("/", 1)[-1],
        project=normalize(project), display_name=project, version=parse_version(version),
        packagetype="bdist_wheel", python_tag="py3", size=1, mtime_ns=NOW - 100 * DAY,
        hashes=bytes(80),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("7d", 604800), ("12h", 43200), ("90m", 5400), ("30", 30), ("P7D", 604800),
     ("PT12H", 43200), ("P1W", 604800), ("P1DT1H", 90000)],
)  # fmt: skip
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "P", "PT", "7x", "-1d", "P1Y"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_instants() -> None:
    assert parse_instant("2026-10-01T00:00:00Z", NOW) == 1790812800 * NS
    assert parse_instant("P1D", NOW) == NOW - DAY
    for bad in ("2026-10-01", "2026-10-01T00:00:00+02:00", "soon", "P" + "1" * 80):
        with pytest.raises(InvalidInput):
            parse_instant(bad, NOW)


def test_exempt_specs() -> None:
    assert Exempt.parse("Foo_Bar==2.0").covers(dist("x/foo_bar-2.0.whl", 1, "foo-bar", "2.0"))
    assert not Exempt.parse("foo==2.0").covers(dist("x/foo-1.0.whl", 1))
    with pytest.raises(ConfigError):
        Exempt.parse("foo==not a version")


def test_cooldown_and_as_of() -> None:
    old, new, vague, local = (dist(f"{n}.whl", 1 if n != "local" else 0)
                              for n in ("old", "new", "vague", "local"))  # fmt: skip
    times = {
        "old.whl": UpstreamTimes(NOW - 30 * DAY, NOW - 2 * DAY),
        "new.whl": UpstreamTimes(NOW - 1 * DAY, NOW - 1 * DAY),
        "vague.whl": UpstreamTimes(None, NOW - 20 * DAY),
    }

    def times_of(d: DistFile) -> UpstreamTimes | None:
        return times.get(d.relpath)

    files = (old, new, vague, local)

    def names(cooldown: Cooldown, as_of: int | None = None) -> list[str]:
        view = None if as_of is None else AsOf(as_of)
        return [d.relpath for d in visible(files, times_of, cooldown, view, NOW)]

    week = 7 * 86400
    assert names(Cooldown()) == ["old.whl", "new.whl", "vague.whl", "local.whl"]
    assert names(Cooldown(week)) == ["old.whl", "local.whl"]  # unknown: fail closed
    assert names(Cooldown(week, unknown="include")) == ["old.whl", "vague.whl", "local.whl"]
    assert names(Cooldown(week, unknown="first-seen")) == ["old.whl", "vague.whl", "local.whl"]
    assert names(Cooldown(week, (Exempt.parse("foo"),))) == [n.relpath for n in files]
    # as of 10 days ago: upstream time, else first seen; local files by their own time
    assert names(Cooldown(), NOW - 10 * DAY) == ["old.whl", "vague.whl", "local.whl"]

    # a fetch a day ago did not list them: they are a day old at most, whatever upstream says
    times["old.whl"] = UpstreamTimes(NOW - 30 * DAY, NOW - 2 * DAY, NOW - DAY)
    times["vague.whl"] = UpstreamTimes(None, NOW - 20 * DAY, NOW - DAY)
    for cooldown in (Cooldown(week), Cooldown(week, unknown="include"),
                     Cooldown(week, unknown="first-seen")):  # fmt: skip
        assert names(cooldown) == ["local.whl"], cooldown
    assert names(Cooldown(), NOW - 10 * DAY) == ["local.whl"]
    assert names(Cooldown(), NOW - DAY) == ["old.whl", "new.whl", "vague.whl", "local.whl"]
    assert times["old.whl"].since_ns == times["vague.whl"].since_ns == NOW - DAY


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(604800, "7d"), (43200, "12h"), (5400, "90m"), (90, "90s"), (1209600, "14d"), (0.5, "0.5s")],
)
def test_durations_are_shown_as_written(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text and parse_duration(text) == seconds


def test_what_the_cooldown_holds_back_and_until_when() -> None:
    """``split``: what a page shows and what it holds back; an unknown upload time is held
    with no date (``exclude``), or dated by when it was first seen (``first-seen``)."""
    files = [dist(f"up/foo-{v}.whl", 9, version=v) for v in ("1.0", "2.0", "2.1")]
    times = {
        files[0].relpath: UpstreamTimes(NOW - 30 * DAY, NOW - 30 * DAY),
        files[1].relpath: UpstreamTimes(NOW - DAY, NOW - DAY),
        files[2].relpath: UpstreamTimes(None, NOW - 2 * DAY),
    }
    local = dist("foo-3.0.whl", 0, version="3.0")  # never held: local files have no cooldown
    cooldown = Cooldown(7 * 86400)
    shown, held = split([*files, local], lambda d: times.get(d.relpath), cooldown, now_ns=NOW)
    assert shown == (files[0], local)
    assert [(str(h.version), h.until_ns) for h in held] == [("2.0", NOW + 6 * DAY), ("2.1", None)]
    assert held_summary(held, cooldown) == (
        "2 files of 2.1, 2.0 inside the cooldown (--min-age 7d); the first is served from "
        "2027-01-21T08:00:00Z; 1 without an upload time (--min-age-unknown exclude)"
    )
    seen = Cooldown(7 * 86400, unknown="first-seen")
    _shown, held = split(files, lambda d: times.get(d.relpath), seen, now_ns=NOW)
    assert [h.until_ns for h in held] == [NOW + 6 * DAY, NOW + 5 * DAY]
    many = split(
        [dist(f"up/foo-{n}.whl", 9, version=f"{n}.0") for n in range(1, 6)],
        lambda d: UpstreamTimes(NOW, NOW), cooldown, now_ns=NOW,
    )[1]  # fmt: skip
    assert held_summary(many, cooldown).startswith(
        "5 files of 5.0, 4.0, 3.0 and 2 more versions inside the cooldown"
    )


def test_a_duration_back_is_a_cooldown_that_leaves_local_files_alone() -> None:
    """Issue 20 #11: ``/as-of/P4D/`` is a consumer's cooldown: like ``--min-age`` it holds
    back fresh upstream files, not the team's upload of a minute ago; an instant
    (``/as-of/2027-01-10T00:00:00Z/``) is a frozen view and holds back both."""
    fresh_local = replace(dist("ours-2.0.whl", 0, "ours", "2.0"), mtime_ns=NOW - 60 * NS)
    fresh_public = dist("up/foo-2.0.whl", 1, version="2.0")
    times = {fresh_public.relpath: UpstreamTimes(NOW - DAY, NOW - DAY)}
    files = (fresh_local, fresh_public)

    def shown(text: str) -> list[str]:
        view = parse_as_of(text, NOW)
        return [
            d.filename for d in visible(files, lambda d: times.get(d.relpath), Cooldown(), view)
        ]

    assert parse_as_of("P4D", NOW) == AsOf(NOW - 4 * 86400 * NS, local=False)
    assert shown("P4D") == shown("p4d") == ["ours-2.0.whl"]
    assert shown("PT1H") == ["ours-2.0.whl", "foo-2.0.whl"]  # the public one is a day old
    assert shown("2027-01-10T00:00:00Z") == []  # a frozen view: the team's upload came later
    assert parse_as_of("2027-01-10T00:00:00Z", NOW).local
