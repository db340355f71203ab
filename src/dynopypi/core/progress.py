"""Progress lines for long work (a cold start or re-read over tens of thousands of files):
how many are done, the rate and the time left, at most every few seconds, so an operator
watching the journal knows the server is working and when it will be complete.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
INTERVAL = 5.0  # seconds between two progress lines


def progress_line(what: str, done: int, total: int, elapsed: float, *, unit: str = "files") -> str:
    """``reading new files: 12000 of 60000 (20%), 2400 files/s, about 20s left``."""
    rate = done / elapsed if elapsed > 0 else 0.0
    line = f"{what}: {done} of {total} ({100 * done // max(total, 1)}%), {rate:.0f} {unit}/s"
    if rate > 0 and done < total:
        line += f", about {(total - done) / rate:.0f}s left"
    return line


def tracked(
    items: Iterable[T],
    total: int,
    what: str,
    *,
    interval: float = INTERVAL,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[T]:
    """``items`` unchanged, logging progress every ``interval`` seconds while they come,
    and one summary line at the end when there were any progress lines."""
    started = last = clock()
    done = 0
    for item in items:
        yield item
        done += 1
        now = clock()
        if now - last >= interval:
            log.info("%s", progress_line(what, done, total, now - started))
            last = now
    if last != started:
        took = clock() - started
        log.info("%s: %d files in %.1fs (%.0f files/s)", what, done, took, done / max(took, 1e-9))
