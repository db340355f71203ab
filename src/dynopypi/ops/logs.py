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
from pathlib import Path

from dynopypi.ops.logsafe import SafeFormatter, access_log


def setup_logging(verbosity: int, log_file: Path | None) -> None:
    """-q drops the access log only (start, stop and warnings stay); -qq keeps warnings and
    errors; -v adds dynopypi's debug lines; -vv the libraries' as well."""
    handler: logging.Handler
    if log_file is not None:
        handler = logging.handlers.WatchedFileHandler(log_file)  # logrotate-safe
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
