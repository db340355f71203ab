"""The persistent digest and metadata cache: an SQLite file that can be deleted at any time.

Rows are keyed by (package directory, relative path) and are valid only while the file's
size and mtime_ns match; so a restart over tens of thousands of files reads one table
instead of every archive. What it does not do: notice a file rewritten with the same size
within the same nanosecond timestamp (no filesystem we serve from does that in practice).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from dynopypi.dists.facts import CacheEntry

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    root TEXT NOT NULL,
    relpath TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    hashes BLOB NOT NULL,
    extra_hash TEXT,
    requires_python TEXT,
    metadata_digest BLOB,
    name TEXT,
    project TEXT NOT NULL,
    version TEXT NOT NULL,
    packagetype TEXT NOT NULL,
    python_tag TEXT NOT NULL,
    metadata BLOB,
    PRIMARY KEY (root, relpath)
)
"""
# one row: "complete" is "1" while the rows cover every file of the directories as last
# checked, "0" while a cold start or a full check is reading (a kill then leaves a part)
_STATE = "CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
SCHEMA_VERSION = 4
_COLUMNS = (
    "size, mtime_ns, hashes, extra_hash, requires_python, metadata_digest, name, "
    "project, version, packagetype, python_tag"
)


class DigestCache:
    """Thread-safe: one connection behind a lock (every statement is a short key lookup)."""

    def __init__(self, path: Path | None) -> None:
        self._lock = threading.Lock()
        target = ":memory:"
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                target = str(path)
            except OSError as exc:
                log.warning("cache directory %s unusable (%s); caching in memory", path, exc)
        self._db = self._open(target)

    @staticmethod
    def _open(target: str) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                db.execute("DROP TABLE IF EXISTS files")
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.execute(_SCHEMA)
            db.execute(_STATE)
            return db
        except sqlite3.DatabaseError as exc:
            log.warning("cache %s unreadable (%s); starting an in-memory cache", target, exc)
            db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            db.execute(_SCHEMA)
            db.execute(_STATE)
            return db

    def load(self, root: str, prefix: str = "") -> dict[str, CacheEntry]:
        """Every entry below ``prefix`` (a relpath ending in '/', or '' for all)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT relpath, {_COLUMNS} FROM files "
                "WHERE root = ? AND relpath >= ? AND relpath < ?",
                (root, prefix, prefix + "\U0010ffff"),
            ).fetchall()
        make = CacheEntry._make
        return {row[0]: make(row[1:]) for row in rows}

    def entries(self, root: str, batch: int = 1000) -> Iterator[tuple[str, CacheEntry]]:
        """Every entry of ``root``, read ``batch`` rows at a time (in path order).

        For the warm start, which keeps little of each row (a DistFile and its strings):
        reading all 60,000 rows at once left their freed remains scattered between the
        kept objects, RSS that was never given back (after the warm start 103 -> 79 MB,
        no slower). Each batch is one complete query under the lock, so writers are never
        blocked for long and no statement stays open between batches.
        """
        after = ""
        make = CacheEntry._make
        while True:
            with self._lock:
                rows = self._db.execute(
                    f"SELECT relpath, {_COLUMNS} FROM files "
                    "WHERE root = ? AND relpath > ? ORDER BY relpath LIMIT ?",
                    (root, after, batch),
                ).fetchall()
            for row in rows:
                yield row[0], make(row[1:])
            if len(rows) < batch:
                return
            after = rows[-1][0]

    def get(self, root: str, relpath: str) -> CacheEntry | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM files WHERE root = ? AND relpath = ?", (root, relpath)
            ).fetchone()
        return None if row is None else CacheEntry._make(row)

    def put_many(self, root: str, items: list[tuple[str, CacheEntry, bytes | None]]) -> None:
        if not items:
            return
        rows = [(root, relpath, *entry, metadata) for relpath, entry, metadata in items]
        with self._lock:
            try:
                self._db.execute("BEGIN")
                self._db.executemany(
                    f"INSERT OR REPLACE INTO files (root, relpath, {_COLUMNS}, metadata) "
                    f"VALUES ({', '.join('?' * (len(CacheEntry._fields) + 3))})",
                    rows,
                )
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                log.warning("could not write the cache (%s); continuing without it", exc)
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")

    def metadata(self, root: str, relpath: str, size: int, mtime_ns: int) -> bytes | None:
        with self._lock:
            row = self._db.execute(
                "SELECT metadata FROM files WHERE root = ? AND relpath = ? AND size = ? "
                "AND mtime_ns = ?",
                (root, relpath, size, mtime_ns),
            ).fetchone()
        return None if row is None else row[0]

    def forget(self, root: str, relpaths: list[str]) -> None:
        if not relpaths:
            return
        with self._lock:
            try:
                self._db.executemany(
                    "DELETE FROM files WHERE root = ? AND relpath = ?",
                    [(root, r) for r in relpaths],
                )
            except sqlite3.Error as exc:
                log.warning("could not update the cache (%s)", exc)

    def complete(self) -> bool:
        """Whether the rows covered every file when the directories were last checked
        (False for a new cache, or one a reading was interrupted in: its projects may be
        cached in part, so a start must not serve them from it alone)."""
        with self._lock:
            try:
                row = self._db.execute("SELECT value FROM state WHERE key = 'complete'").fetchone()
            except sqlite3.Error:
                return False
        return row is not None and row[0] == "1"

    def set_complete(self, complete: bool) -> None:
        with self._lock:
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO state (key, value) VALUES ('complete', ?)",
                    ("1" if complete else "0",),
                )
            except sqlite3.Error as exc:
                log.warning("could not update the cache (%s)", exc)

    def close(self) -> None:
        with self._lock:
            self._db.close()
