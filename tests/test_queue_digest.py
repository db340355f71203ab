"""waitress's per-request "Task queue depth" warning becomes one line per interval."""

from __future__ import annotations

import logging

import pytest

from dynopypi.logs import QueueDepthDigest


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def warn(digest: QueueDepthDigest, depth: int) -> logging.LogRecord | None:
    record = logging.LogRecord(
        "waitress.queue", logging.WARNING, __file__, 1, "Task queue depth is %d", (depth,), None
    )
    return record if digest.filter(record) else None


def test_one_line_per_interval_says_how_many_waited_and_the_deepest_queue() -> None:
    clock = Clock()
    digest = QueueDepthDigest(every=10.0, clock=clock)
    first = warn(digest, 3)
    assert first is not None
    assert first.getMessage().startswith("task queue depth is 3: requests are waiting")
    swallowed = [warn(digest, depth) for depth in (5, 9, 2) * 1000]
    assert swallowed == [None] * 3000  # thousands a second under load: none written
    clock.now += 10.0
    line = warn(digest, 4)
    assert line is not None
    message = line.getMessage()
    assert "(3000 more such waits since the last line, deepest queue 9)" in message
    assert "--threads" in message
    assert warn(digest, 1) is None


@pytest.mark.parametrize("args", [(), ("x",), None])
def test_other_lines_of_that_logger_pass_untouched(args: tuple[object, ...] | None) -> None:
    digest = QueueDepthDigest(clock=Clock())
    record = logging.LogRecord("waitress.queue", logging.WARNING, __file__, 1, "other", args, None)
    assert digest.filter(record)
    assert record.msg == "other"
