"""A hostile index as the source of ``dynopypi storage copy``: each lie or stall is
refused within its bound, reported in one line, and leaves nothing partial behind; what
the source answered honestly is still imported (an honest file beside each attacked file).

The source is ``FakeUpstream`` on loopback; ``--timeout 1`` makes the bounds short.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from support.fakedist import make_sdist, make_wheel
from support.indexes import dynopypi, last_line
from support.upstream import Answer, FakeUpstream

TIMEOUT = "1"


def _index(fake: FakeUpstream, tmp_path: Path) -> tuple[Path, Path]:
    """``victim`` with a wheel (to be attacked) and an honest sdist."""
    built = tmp_path / "built"
    built.mkdir()
    wheel, sdist = make_wheel(built, "victim", "1.0"), make_sdist(built, "victim", "1.0")
    fake.publish("victim", [(wheel, None, None), (sdist, None, None)])
    fake.answers["/simple/"] = Answer(b'<a href="victim/">victim</a>', "text/html")
    return wheel, sdist


def _import(fake: FakeUpstream, dest: Path) -> tuple[float, str, str]:
    dest.mkdir(exist_ok=True)
    started = time.monotonic()
    done = dynopypi("storage", "copy", fake.index_url, dest, "--timeout", TIMEOUT, "-j", "2")
    assert done.returncode == 1, done.stdout + done.stderr
    return time.monotonic() - started, last_line(done), done.stderr


def _only(dest: Path, path: Path) -> None:
    assert sorted(p.name for p in dest.iterdir() if p.is_file()) == [path.name]
    assert (dest / path.name).read_bytes() == path.read_bytes()


@pytest.mark.parametrize(
    ("attack", "said"),
    [
        (lambda data: Answer(data + b"\0" * 100_000), "over the"),  # more than promised
        (lambda data: Answer(data + b"\0" * 100_000, length=False), "more than the"),
        (lambda data: Answer(data, stall_after=100), "too slow"),  # silence mid-file
        (lambda data: Answer(b"", status=500), "answered 500"),
    ],
    ids=["oversize", "oversize-unannounced", "stall", "error"],
)
def test_a_file_that_lies_or_stalls_is_refused_within_its_bound(
    fake: FakeUpstream, tmp_path: Path, attack: object, said: str
) -> None:
    wheel, sdist = _index(fake, tmp_path)
    path = f"/files/{wheel.name}"
    fake.answers[path] = attack(fake.answers[path].body)  # type: ignore[operator]
    took, summary, stderr = _import(fake, tmp_path / "dest")
    assert took < 15, took
    assert summary.startswith("copied 1 (") and "failed 1" in summary, stderr
    assert f"failed: {wheel.name}: " in stderr and said in stderr, stderr
    _only(tmp_path / "dest", sdist)


def test_a_file_of_another_project_on_a_page_is_refused(fake: FakeUpstream, tmp_path: Path) -> None:
    wheel, sdist = _index(fake, tmp_path)
    other = make_wheel(tmp_path / "built", "intruder", "6.6")
    page = fake.answers["/simple/victim/"]
    fake.publish("victim", [(wheel, None, None), (sdist, None, None), (other, None, None)])
    assert fake.answers["/simple/victim/"] is not page
    _took, summary, stderr = _import(fake, tmp_path / "dest")
    assert summary.startswith("copied 2 (") and "failed 0, refused 1 (pages or links)" in summary
    assert "dynopypi: refused: victim: 'intruder-6.6-py3-none-any.whl' belongs to" in stderr
    assert not (tmp_path / "dest" / other.name).exists()


def test_a_slow_page_is_cut_at_its_deadline(fake: FakeUpstream, tmp_path: Path) -> None:
    _wheel, _sdist = _index(fake, tmp_path)
    fake.answers["/simple/victim/"].drip = 0.5  # a byte every half second: never done
    took, summary, stderr = _import(fake, tmp_path / "dest")
    assert took < 10, took  # 3 x --timeout, and the command's own start
    assert "dynopypi: refused: victim: page not read: " in stderr and "too slow" in stderr
    assert summary.startswith("copied 0 (0 B)") and "refused 1" in summary
