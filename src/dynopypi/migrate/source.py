"""A remote index as the source of ``dynopypi storage copy`` (``IndexSide``): every file of
every project page (or of the projects ``--project`` names), with the sha256, upload time
and yank state the page gives.

The copier does the rest as for any source: a file already at the destination with the
same sha256 is skipped (a rerun transfers nothing), other bytes there are a conflict, and
a download whose sha256 differs from the page's is refused and never stored. The upload
time a file lands with is the page's PEP 700 ``upload-time``, else the download's
``Last-Modified``, else unknown: the file then gets the time of the import (as an upload
would) and is counted in ``unknown_times``. Files and pages that cannot be read are
``problems``: the import reports them and fails (exit 1) after doing the rest.
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, NoReturn, cast

from dynopypi.dists.facts import Facts
from dynopypi.dists.names import NormalizedName
from dynopypi.errors import ConfigError
from dynopypi.migrate.remote import Listing, Remote, RemoteError
from dynopypi.store.base import StoreUnavailable
from dynopypi.store.copy.sides import Existing, Item, item_of
from dynopypi.upstream.page import UpstreamFile


def matching(names: list[NormalizedName], globs: tuple[str, ...]) -> list[NormalizedName]:
    """The names that match any glob (all of them without globs)."""
    if not globs:
        return names
    patterns = [g.lower().replace("_", "-").replace(".", "-") for g in globs]
    return [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]


class IndexSide:
    """A PEP 503/691 index at a URL, read only."""

    storage = None  # a remote index has no tokens or publishers to carry

    def __init__(
        self,
        remote: Remote,
        *,
        globs: tuple[str, ...] = (),
        since_ns: int | None = None,
        jobs: int = 8,
    ) -> None:
        self.remote = remote
        self.globs = globs
        self.since_ns = since_ns
        self.jobs = jobs
        self.projects: list[NormalizedName] = []
        self.problems: list[str] = []  # refusals: the import fails after doing the rest
        self.unknown_times = 0  # files that got the time of the import
        self.older = 0  # files left out by ``since_ns``
        self.on_page: Callable[[int, int], None] | None = None  # (pages read, of how many)
        self._read = 0
        self._files: dict[str, UpstreamFile] = {}
        self._modified: dict[str, int] = {}
        self._lock = threading.Lock()

    def describe(self) -> str:
        return self.remote.url

    def where(self) -> str:
        return self.remote.url

    def prepare(self, role: str) -> None:
        if role != "SRC":
            raise ConfigError(f"{role}: an index URL can only be copied from (SRC), not into")
        try:
            self.projects = matching(self.remote.projects(), self.globs)
        except RemoteError as exc:
            raise StoreUnavailable(str(exc)) from None

    # ---- as the source
    def items(self) -> tuple[list[Item], list[str]]:
        found: list[Item] = []
        with ThreadPoolExecutor(max(1, self.jobs), thread_name_prefix="dynopypi-pages") as pool:
            listings = list(pool.map(self._listing, self.projects))
        for listing in listings:
            if listing is None:
                continue
            self.problems += [f"{listing.project}: {why}" for why in listing.skipped]
            for file in listing.files:
                if self._too_old(file):
                    self.older += 1
                    continue
                unreachable = self.remote.reachable(file.url)
                if unreachable is not None:
                    self.problems.append(f"{listing.project}: {file.filename}: {unreachable}")
                    continue
                item = item_of(file.filename, file.size or 0, file.upload_ns or 0, file.sha256)
                if isinstance(item, str):
                    self.problems.append(f"{listing.project}: {file.filename}: {item}")
                    continue
                self._files[item.key] = file
                found.append(item)
        return found, []

    def _listing(self, project: NormalizedName) -> Listing | None:
        try:
            return self.remote.page(project)
        except RemoteError as exc:
            with self._lock:
                self.problems.append(f"{project}: page not read: {exc}")
            return None
        finally:
            with self._lock:
                self._read += 1
                if self.on_page is not None:
                    self.on_page(self._read, len(self.projects))

    def _too_old(self, file: UpstreamFile) -> bool:
        return (
            self.since_ns is not None
            and file.upload_ns is not None
            and (file.upload_ns < self.since_ns)
        )

    def open(self, item: Item) -> BinaryIO:
        file = self._files[item.key]
        download = self.remote.open(file.url, file.size)
        if download.last_modified_ns is not None:
            with self._lock:
                self._modified[item.key] = download.last_modified_ns
        return cast(BinaryIO, download)

    def sha256(self, item: Item) -> str:
        assert item.sha256 is not None  # a page's file always has one (parse_page)
        return item.sha256

    def upload_time(self, item: Item) -> int:
        """The page's upload-time, else the download's Last-Modified, else now."""
        given = self._files[item.key].upload_ns
        if given is not None:
            return given
        with self._lock:
            modified = self._modified.pop(item.key, None)
            if modified is None:
                self.unknown_times += 1
        return modified if modified is not None else time.time_ns()

    def yanks(self, items: list[Item]) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in items:
            reason = self._files[item.key].yanked
            if reason is not None:
                out[item.key] = reason
        return out

    # ---- never a destination (``prepare`` refuses first)
    def _read_only(self) -> NoReturn:
        raise ConfigError("an index URL can only be copied from")

    def existing(self, key: str) -> Existing | None:
        self._read_only()

    def stage(self, item: Item) -> NoReturn:
        self._read_only()

    def place(self, item: Item, staged: Path, facts: Facts) -> None:
        self._read_only()

    def finish(self) -> None:
        """Nothing to finish: nothing was written here."""

    def add_yanks(self, yanks: dict[str, str]) -> int:
        self._read_only()
