"""The upstream source in process (issue 18): what a hostile upstream can make the process
hold (at most ``MAX_HELD_FILES`` upstream files in memory, set low here; the pages fetched
longest ago dropped first and fetched again when asked for), and a first download served
without waitress's event loop."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.fakedist import make_wheel
from support.inproc import AppFactory
from support.upstream import FakeUpstream

import dynopypi.upstream.held


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


def test_upstream_files_in_memory_are_bounded(
    app_factory: AppFactory, upstream: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dynopypi.upstream.held, "MAX_HELD_FILES", 8)
    made = tmp_path / "made"
    made.mkdir()
    for name in ("one", "two", "three"):
        wheels = [make_wheel(made, name, f"{v}.0") for v in range(1, 5)]
        upstream.publish(name, [(w, None, "2020-01-01T00:00:00Z") for w in wheels])
    (tmp_path / "local").mkdir()
    index = app_factory(tmp_path / "local", "--upstream", upstream.index_url)
    for name in ("one", "two", "three"):
        assert len(index.listed_files(name) or {}) == 4
    assert upstream.hits["/simple/one/"] == 1
    assert index.get("/ready").json()["upstream"]["cached_projects"] == 2  # "one" went
    assert len(index.listed_files("one") or {}) == 4  # asked again: fetched again
    assert upstream.hits["/simple/one/"] == 2


def test_a_first_download_outside_waitress_streams_from_the_worker(
    app_factory: AppFactory, upstream: FakeUpstream, tmp_path: Path
) -> None:
    """No event loop to hand the growing file to (another WSGI server, these in-process
    tests): ``upstream.tail.chunks`` sends the same verified bytes from the worker."""
    made = tmp_path / "made"
    made.mkdir()
    wheel = make_wheel(made, "streamed", "1.0", payload=os.urandom(3_000_000))
    upstream.publish("streamed", [(wheel, None, "2020-01-01T00:00:00Z")], trickle=0.01)
    (tmp_path / "local").mkdir()
    index = app_factory(tmp_path / "local", "--upstream", upstream.index_url)
    got = index.get(f"/packages/.upstream/streamed/{wheel.name}")
    assert got.status_code == 200 and got.content == wheel.read_bytes()
    assert upstream.hits[f"/files/{wheel.name}"] == 1
