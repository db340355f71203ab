"""Walking the package directories: which files count, which links are refused, and
reading many new files on every core (what one file yields is ``dists.facts``).

Pure functions over the filesystem, kept apart from the index so the rules read in one
place, and so that worker processes import only this.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import stat
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from dynopypi.core.progress import tracked
from dynopypi.dists.facts import Facts, Found, SizeAndTime, is_ignored_name, read_facts
from dynopypi.dists.names import DIST_SUFFIXES

log = logging.getLogger(__name__)
PARALLEL_THRESHOLD = 500  # below this a process pool costs more than it saves


def is_text(path: str) -> bool:
    """Paths that are not UTF-8 (surrogate-escaped bytes) cannot become URLs; skip them."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def within(path: str, root_real: str) -> bool:
    real = os.path.realpath(path)
    return real == root_real or real.startswith(root_real + os.sep)


def walk(
    base: Path, top: Path, root_real: str, warn: Callable[[str, str], None]
) -> Iterator[tuple[str, SizeAndTime]]:
    """(relpath below ``base``, size and time) of every candidate file under ``top``.

    Dotfiles and dot-directories are skipped, directory links are not followed, file
    links that resolve outside the root and paths that are not UTF-8 are refused.
    """
    base_len = len(str(base)) + 1  # roots are absolute and normalized
    stack = [str(top)]
    while stack:
        for entry in _entries(stack.pop()):
            if is_ignored_name(entry.name):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                    continue
                if not entry.name.lower().endswith(DIST_SUFFIXES):
                    continue
                if entry.is_symlink() and not within(entry.path, root_real):
                    warn(entry.path, "symlink points outside the package directory")
                    continue
                st = entry.stat()
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                relpath = entry.path[base_len:]
                if is_text(relpath):
                    yield relpath, SizeAndTime(st.st_size, st.st_mtime_ns)
                else:
                    warn(repr(entry.path), "its path is not valid UTF-8")


def _entries(directory: str) -> Iterator[os.DirEntry[str]]:
    """A directory's entries one at a time, never as a list: each entry keeps its stat, and
    60,000 of them at once were a ~45 MB spike at every re-check (every 60 s, so during
    the bench's load) of a flat directory, which the process kept when requests allocated
    meanwhile (RSS after the bench's load at 60,000 files: 161 -> 122 MB)."""
    try:
        with os.scandir(directory) as entries:
            yield from entries
    except OSError:  # gone or unreadable: nothing (more) to list here
        return


def read_misses(
    base: Path, misses: Sequence[Found], hash_algo: str | None
) -> Iterator[Facts] | None:
    """Facts of a big batch of new files from worker processes, in order; None when the
    batch is too small for a process pool to pay off (the caller reads them itself)."""
    if len(misses) < PARALLEL_THRESHOLD or (os.cpu_count() or 1) < 2:
        return None
    log.info("reading %d new files in worker processes", len(misses))
    paths = [str(base / found.relpath) for found in misses]
    return read_many(paths, [found.parsed.packagetype for found in misses], hash_algo)


def read_many(paths: list[str], kinds: list[str], hash_algo: str | None) -> Iterator[Facts]:
    """``read_facts`` over many files on every core, results in order (a cold start over
    tens of thousands of files is otherwise bound to one)."""
    workers = min(4, os.cpu_count() or 1)
    context = multiprocessing.get_context("forkserver")  # never fork a threaded process
    with (
        _HELPERS.used(),
        ProcessPoolExecutor(workers, mp_context=context, initializer=_behind) as pool,
    ):
        results = pool.map(read_facts, paths, kinds, [hash_algo] * len(paths), chunksize=64)
        yield from tracked(results, len(paths), "reading new files")


READ_NICENESS = 10  # added to the workers' niceness: the reading yields to serving


def _behind() -> None:
    """A worker reads behind the server, which serves meanwhile (a cold start lists every
    project at once): on a busy machine the requests get the cores first, and the reading
    takes what they leave (one project page under load during a cold start's reading:
    0.75x the steady rate at the same niceness, on 2 cores)."""
    with contextlib.suppress(OSError):
        os.nice(READ_NICENESS)


class _Helpers:
    """multiprocessing's forkserver and resource tracker outlive the pools that started
    them (25 MB for the server's life, measured at 60,000 files): the last pool to finish
    stops them (the next pool starts them again)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pools = 0

    @contextlib.contextmanager
    def used(self) -> Iterator[None]:
        with self._lock:
            self._pools += 1
        try:
            yield
        finally:
            with self._lock:
                self._pools -= 1
                if self._pools == 0:
                    stop_helpers()


def stop_helpers() -> None:
    """Stop the forkserver and the resource tracker if they run (their ``_stop`` is what
    CPython's own tests use; where it is missing they stay, as before)."""
    from multiprocessing import forkserver, resource_tracker

    for helper in (forkserver._forkserver, resource_tracker._resource_tracker):
        stop = getattr(helper, "_stop", None)
        if stop is not None:
            with contextlib.suppress(OSError, ChildProcessError):
                stop()


_HELPERS = _Helpers()
