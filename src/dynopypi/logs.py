"""Logging: where lines go and how much is said (-q/-v); what is said is escaped (logsafe).

The levels follow what a person asks for: ``-q`` drops the access log and nothing else
(start, stop, warnings stay), ``-qq`` keeps warnings and errors only, ``-v`` adds dynopypi's
debug lines (settings, file events, refusals with their reason), ``-vv`` the libraries'
debug lines too, ``-vvv`` even watchdog's.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
import time
from collections.abc import Callable

from .config import Settings
from .logsafe import SafeFormatter, access_log


def setup_logging(settings: Settings) -> None:
    """-q drops the access log only (start, stop and warnings stay); -qq keeps warnings and
    errors; -v adds dynopypi's debug lines; -vv the libraries' as well."""
    verbosity = settings.verbosity
    handler: logging.Handler
    if settings.log_file is not None:
        handler = logging.handlers.WatchedFileHandler(settings.log_file)  # logrotate-safe
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(
        logging.DEBUG if verbosity >= 2 else logging.WARNING if verbosity <= -2 else logging.INFO
    )
    logging.getLogger("dynopypi").setLevel(logging.DEBUG if verbosity >= 1 else logging.NOTSET)
    access_log.setLevel(logging.WARNING if verbosity <= -1 else logging.NOTSET)
    for library in ("watchdog", "botocore", "boto3", "urllib3"):  # their chatter only at -vvv
        logging.getLogger(library).setLevel(logging.DEBUG if verbosity >= 3 else logging.WARNING)
    queue_log = logging.getLogger("waitress.queue")
    queue_log.filters[:] = [QueueDepthDigest()]


class QueueDepthDigest(logging.Filter):
    """waitress warns "Task queue depth is N" on every request that finds no idle worker:
    under load that is thousands of lines a second (a log that fills the disk, and 2-3%
    of the CPU spent writing it). One line per ``every`` seconds says the same: how many
    requests waited, and the deepest queue seen."""

    def __init__(self, every: float = 10.0, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.every = every
        self.clock = clock
        self._lock = threading.Lock()
        self._next = 0.0  # when the next line may go out
        self._held = 0  # warnings swallowed since the last line
        self._deepest = 0

    def filter(self, record: logging.LogRecord) -> bool:
        depth = record.args[0] if isinstance(record.args, tuple) and record.args else None
        if not isinstance(depth, int):
            return True  # not the line this is about
        with self._lock:
            self._deepest = max(self._deepest, depth)
            now = self.clock()
            if now < self._next:
                self._held += 1
                return False
            held, deepest = self._held, self._deepest
            self._next, self._held, self._deepest = now + self.every, 0, 0
        record.msg = (
            "task queue depth is %d: requests are waiting for a worker thread (%d more "
            "such waits since the last line, deepest queue %d); if it lasts, raise "
            "--threads or add a replica"
        )
        record.args = (depth, held, deepest)
        return True
