"""Progress lines for long reads: files done, rate, time left, at most every INTERVAL."""

from __future__ import annotations

import logging

import pytest

from dynopypi.core.progress import INTERVAL, progress_line, tracked


def test_progress_line_says_done_rate_and_time_left() -> None:
    line = progress_line("reading new files", 12000, 60000, 5.0)
    assert line == "reading new files: 12000 of 60000 (20%), 2400 files/s, about 20s left"
    assert "left" not in progress_line("reading new files", 10, 10, 1.0)


def test_tracked_logs_at_most_every_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]

    def clock() -> float:
        now[0] += 0.125  # every file takes an eighth of a second (exact in binary)
        return now[0]

    caplog.set_level(logging.INFO, logger="dynopypi.core.progress")
    items = list(tracked(range(1000), 1000, "reading new files", clock=clock))
    assert items == list(range(1000))
    lines = [r.getMessage() for r in caplog.records]
    # 125 s of work: a line every INTERVAL seconds, then one summary line
    assert len(lines) == int(125 / INTERVAL) + 1, lines
    assert lines[0] == "reading new files: 40 of 1000 (4%), 8 files/s, about 120s left"
    assert lines[-1].startswith("reading new files: 1000 files in ")


def test_tracked_says_nothing_about_short_work(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="dynopypi.core.progress")
    assert list(tracked([1, 2, 3], 3, "reading new files")) == [1, 2, 3]
    assert caplog.records == []
