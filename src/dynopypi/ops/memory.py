"""Handing memory back to the system after one-off work (a cold start's reading).

CPython frees the objects, but glibc keeps the freed heap for reuse, so a server that read
60,000 archives once would hold that peak for the rest of its life. ``malloc_trim``
returns free heap pages to the system; elsewhere it is a no-op.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import sys

log = logging.getLogger(__name__)


def hand_back() -> None:
    """Collect garbage, then give glibc's free heap back (what RSS counts)."""
    gc.collect()
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)  # None: the C library already loaded
