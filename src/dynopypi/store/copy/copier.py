"""``dynopypi storage copy``: every package from one store to another, verified, resumable.

Each object goes through the same steps whatever the two ends are: if the destination
holds the key already, the same sha256 is a skip and other bytes are a conflict (kept,
reported, never overwritten); otherwise the bytes are read into a staged temp file while
hashing, checked against what the source's records say (a bucket object whose bytes differ
from its facts record is refused, nothing is written), and put in place only if the key is
still free. So a second run does nothing, and a run after an interruption does only the
rest. Each file keeps the upload time its source gives; yank state travels after the
files, for the files that are at the destination; then the API tokens and trusted
publishers (``CARRIED_STATE``: small records, digests only), each only where the
destination has none by that key.

A store that stops answering stops the copy (every further object would fail the same
way, each after its timeouts); what was done stays done.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace

from dynopypi.dists.metadata import Hasher
from dynopypi.store.base import CARRIED_STATE, KeyExists, Missing, Storage, StoreUnavailable
from dynopypi.store.copy.sides import CHUNK, Conflict, Item, Placed, Side, same, staged_facts

log = logging.getLogger(__name__)

COPIED, SKIPPED, CONFLICT, FAILED = "copied", "skipped", "conflict", "failed"
STATE_LIMIT = 64 * 1024  # a token or publisher record is a few hundred bytes


@dataclass(frozen=True)
class Result:
    item: Item
    outcome: str  # COPIED, SKIPPED, CONFLICT or FAILED
    detail: str = ""
    size: int = 0  # bytes copied


@dataclass
class Summary:
    total: int = 0
    total_bytes: int = 0
    copied: int = 0
    copied_bytes: int = 0
    skipped: int = 0
    conflicts: int = 0
    failed: int = 0
    ignored: list[str] = field(default_factory=list)
    yanks: int = 0
    state: int = 0  # token and publisher records carried
    seconds: float = 0.0
    stopped: str | None = None  # why the copy stopped early (a store stopped answering)
    done_keys: set[str] = field(default_factory=set)  # at the destination, same bytes

    @property
    def done(self) -> int:
        return self.copied + self.skipped + self.conflicts + self.failed

    @property
    def ok(self) -> bool:
        return not (self.conflicts or self.failed or self.stopped)

    def add(self, result: Result) -> None:
        if result.outcome == COPIED:
            self.copied += 1
            self.copied_bytes += result.size
        elif result.outcome == SKIPPED:
            self.skipped += 1
        elif result.outcome == CONFLICT:
            self.conflicts += 1
        else:
            self.failed += 1
        if result.outcome in (COPIED, SKIPPED):
            self.done_keys.add(result.item.key)


def copy_one(src: Side, dst: Side, item: Item) -> Result:
    """One object, start to end; a store that stops answering raises StoreUnavailable."""
    try:
        return _copy_one(src, dst, item)
    except StoreUnavailable:
        raise
    except Missing:
        return Result(item, FAILED, "vanished from the source while copying")
    except OSError as exc:
        return Result(item, FAILED, f"{exc.strerror or exc}")
    except Exception as exc:  # one object's trouble is reported, never a traceback
        log.debug("copying %s failed", item.key, exc_info=True)
        return Result(item, FAILED, f"{type(exc).__name__}: {exc}")


def _conflict(theirs: str, ours: str) -> str:
    return (
        f"the destination holds other bytes (sha256 {theirs[:16]}…, the source's "
        f"{ours[:16]}…); kept, not overwritten"
    )


def _copy_one(src: Side, dst: Side, item: Item) -> Result:
    existing = dst.existing(item.key)
    if existing is not None:
        ours = src.sha256(item)
        if not same(existing.sha256, ours):
            return Result(item, CONFLICT, _conflict(existing.sha256, ours))
        if existing.complete:
            return Result(item, SKIPPED)
    with dst.stage(item) as (out, path):
        hasher = Hasher()
        size = 0
        with src.open(item) as stream:
            while chunk := stream.read(CHUNK):
                hasher.update(chunk)
                out.write(chunk)
                size += len(chunk)
        out.flush()
        os.fsync(out.fileno())
        out.close()
        digests = hasher.hexdigests()
        if item.sha256 is not None and not same(digests["sha256"], item.sha256):
            return Result(
                item,
                FAILED,
                f"its bytes (sha256 {digests['sha256'][:16]}…, {size} bytes) differ from "
                f"the source's record (sha256 {item.sha256[:16]}…); refused, nothing written",
            )
        item = replace(item, mtime_ns=src.upload_time(item))
        facts = staged_facts(digests, path, item)
        try:
            dst.place(item, path, facts)
        except Placed:
            return Result(item, SKIPPED)
        except Conflict as exc:
            return Result(item, CONFLICT, _conflict(exc.sha256, digests["sha256"]))
    return Result(item, COPIED, size=size)


def copy(
    src: Side,
    dst: Side,
    *,
    jobs: int = 8,
    on_result: Callable[[Result, Summary], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Summary:
    """Copy every package of ``src`` to ``dst`` with ``jobs`` threads, then the yanks."""
    started = clock()
    items, ignored = src.items()
    summary = Summary(len(items), sum(i.size for i in items), ignored=ignored)
    _copy_files(src, dst, items, summary, jobs, on_result)
    if summary.stopped is None:
        try:
            dst.finish()
        except StoreUnavailable as exc:
            summary.stopped = exc.message
    if summary.stopped is None:
        carried = {k: r for k, r in src.yanks(items).items() if k in summary.done_keys}
        try:
            summary.yanks = dst.add_yanks(carried)
            if src.storage is not None and dst.storage is not None:
                summary.state = carry_state(src.storage, dst.storage)
        except StoreUnavailable as exc:
            summary.stopped = exc.message
    summary.seconds = clock() - started
    return summary


def carry_state(src: Storage, dst: Storage) -> int:
    """Copy the records under ``CARRIED_STATE`` that the destination lacks; how many."""
    carried = 0
    for prefix in CARRIED_STATE:
        for stat in src.list(prefix):
            found = src.read(stat.key, STATE_LIMIT)
            if found is None:
                continue
            try:
                dst.write(stat.key, found[0], expect=None)
            except KeyExists:
                continue  # the destination's own record wins; a rerun changes nothing
            carried += 1
    return carried


def _copy_files(
    src: Side,
    dst: Side,
    items: list[Item],
    summary: Summary,
    jobs: int,
    on_result: Callable[[Result, Summary], None] | None,
) -> None:
    """Every item, ``jobs`` at a time, counted in ``summary``; a store that stops answering
    stops the rest (``summary.stopped``). Interrupted, the objects being copied finish and
    what is placed gets its journal entry."""
    lock = threading.Lock()
    stop = threading.Event()

    def work(item: Item) -> None:
        if stop.is_set():
            return
        try:
            result = copy_one(src, dst, item)
        except StoreUnavailable:
            stop.set()
            raise
        with lock:
            summary.add(result)
            if on_result is not None:
                on_result(result, summary)

    pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="dynopypi-copy")
    try:
        futures: list[Future[None]] = [pool.submit(work, item) for item in items]
        finished, _pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in finished:
            exc = future.exception()
            if isinstance(exc, StoreUnavailable):
                summary.stopped = exc.message
                break
            if exc is not None:
                raise exc
    except KeyboardInterrupt:  # the objects being copied finish; the rest is for a rerun
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        with contextlib.suppress(StoreUnavailable):
            dst.finish()  # what is placed gets its journal entry: replicas show it
        raise
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
