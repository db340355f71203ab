"""Watchdog glue: turn filesystem events into index refreshes, off the request path.

Only events that change content count (created, modified, closed-after-write, moved,
deleted); since watchdog 2.3 plain reads fire opened/closed-no-write events, and those
must not cost anything: they are not even subscribed to (a cold start reads 60,000 files,
and watchdog's thread handling 120,000 read events in this process halved its speed).
A file still being written is refreshed once it is closed, or after it has been quiet for
``settle`` seconds. A periodic ``Reconciler.sync`` covers
filesystems where inotify sees nothing (NFS, SMB).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirModifiedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from dynopypi.store.directory.updates import PathUpdates

log = logging.getLogger(__name__)

_IMMEDIATE = (
    FileClosedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
)
_SETTLING = (FileCreatedEvent, FileModifiedEvent)


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: Watcher, root: int) -> None:
        self.watcher = watcher
        self.root = root

    def on_any_event(self, event: FileSystemEvent) -> None:
        if isinstance(event, DirModifiedEvent):
            return
        if isinstance(event, _IMMEDIATE):
            delay = 0.0
        elif isinstance(event, _SETTLING):
            delay = self.watcher.settle
        else:
            return  # opened, closed-no-write: reads must not invalidate anything
        self.watcher.schedule(self.root, _text(event.src_path), delay)
        dest = getattr(event, "dest_path", "")
        if dest:
            self.watcher.schedule(self.root, _text(dest), 0.0)


def _text(path: str | bytes) -> str:
    return path.decode() if isinstance(path, bytes) else path


class Watcher:
    """Owns the observer and one worker thread; ``start``/``stop`` are the only entry points."""

    settle = 0.25  # seconds a created or modified file must stay quiet before it is read

    def __init__(
        self,
        paths: PathUpdates,
        *,
        rescan_interval: float = 60.0,
        on_state_change: Callable[[int, Path], None] | None = None,
    ) -> None:
        self.paths = paths
        self.roots = paths.reconciler.index.roots
        self.rescan_interval = rescan_interval
        self.on_state_change = on_state_change
        self._pending: dict[tuple[int, str], float] = {}
        self._cond = threading.Condition()
        self._stopping = False
        self._observer = Observer()
        self._worker = threading.Thread(target=self._run, name="dynopypi-watcher", daemon=True)
        # for /metrics: written by the worker thread only
        self.refreshed = 0  # paths refreshed after filesystem events
        self.rescanned = 0  # files the periodic re-check found changed (missed events)
        self.errors = 0

    def start(self) -> None:
        for root, path in enumerate(self.roots):
            path.mkdir(parents=True, exist_ok=True)
            # only the events that change content are subscribed to: inotify then never
            # reports the reads of downloads and of a cold start (two events per file)
            self._observer.schedule(
                _Handler(self, root),
                str(path),
                recursive=True,
                event_filter=[*_IMMEDIATE, *_SETTLING],
            )
        self._observer.start()
        self._worker.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if not self._observer.is_alive():  # never started (a bucket has no directories)
            return
        self._observer.stop()
        self._observer.join(timeout=5)
        self._worker.join(timeout=5)

    def schedule(self, root: int, path: str, delay: float) -> None:
        due = time.monotonic() + delay
        with self._cond:
            self._pending[(root, path)] = due
            self._cond.notify()

    def _take_due(self) -> list[tuple[int, str]]:
        """Wait for work; return the paths whose time has come (empty on stop or rescan)."""
        next_rescan = time.monotonic() + self.rescan_interval if self.rescan_interval else None
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                due = [key for key, when in self._pending.items() if when <= now]
                if due:
                    for key in due:
                        del self._pending[key]
                    return due
                if next_rescan is not None and now >= next_rescan:
                    return []
                waits = [when - now for when in self._pending.values()]
                if next_rescan is not None:
                    waits.append(next_rescan - now)
                self._cond.wait(timeout=min(waits) if waits else None)
            return []

    def _run(self) -> None:
        while not self._stopping:
            due = self._take_due()
            if self._stopping:
                return
            try:
                if not due:
                    changed = self.paths.reconciler.sync()
                    self.rescanned += changed
                    if changed:
                        log.info("periodic re-check found %d changed files", changed)
                    continue
                for root, path in due:
                    self._refresh(root, Path(path))
                    self.refreshed += 1
            except Exception:  # the watcher must outlive any one bad file
                self.errors += 1
                log.exception("error while refreshing the index")

    def _refresh(self, root: int, path: Path) -> None:
        rel = path.relative_to(self.roots[root]).parts if path.is_absolute() else ()
        if rel and rel[0] == ".dynopypi":
            if self.on_state_change is not None:
                self.on_state_change(root, path)
            return
        self.paths.refresh(root, path)
