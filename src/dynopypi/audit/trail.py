"""The audit trail in a store: one object per record, one chain for every writer.

Record ``n`` is ``.dynopypi/audit/<n>.json`` in the package directory or the bucket,
written only if absent (``Storage.write(expect=None)``), like the bucket's journal: two
replicas (or a server and the CLI) appending at once cannot both take number ``n``; the one
that loses reads the winner's record, links to it and takes the next number. So there is one
chain, never a fork. After each record the head (``head.json``: the last number and hash) is
moved forward when it is behind, and logged: the server's log (journald) then holds anchors
that an edit of the store cannot reach.

In the server, records are written by the trail's own thread (``start``/``stop``), in the
order the writes happened, so no upload waits for the audit's round trips and fsyncs; the
command line writes them at once. Refused writes are recorded too, at most
``REFUSALS_PER_MINUTE`` a minute (with a burst): past that they are counted, and the next
refusal recorded says how many were left out, so a flood of refused uploads cannot fill the
disk. Every record is bounded (``records.bounded``).
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

from dynopypi.audit.records import (
    GENESIS,
    RECORD_LIMIT,
    REFUSED,
    Event,
    Head,
    Problem,
    check_chain,
    digest,
    encode,
)
from dynopypi.store.base import STATE_PREFIX, KeyExists, Storage, StoreUnavailable, VersionChanged

log = logging.getLogger(__name__)
PREFIX = STATE_PREFIX + "audit/"
HEAD_KEY = PREFIX + "head.json"
REFUSALS_PER_MINUTE = 10
REFUSAL_BURST = 30
QUEUE_LIMIT = 10_000  # records waiting for the writer thread
QUEUE_WAIT = 5.0  # seconds a request waits for room before its record is given up
_RECORD = re.compile(r"(\d{12})\.json")


def record_key(seq: int) -> str:
    return f"{PREFIX}{seq:012d}.json"


def record_seq(key: str) -> int | None:
    found = _RECORD.fullmatch(key[len(PREFIX) :]) if key.startswith(PREFIX) else None
    return int(found.group(1)) if found else None


class RefusalBudget:
    """A token bucket for refused writes: ``rate`` a minute, ``burst`` at once."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        self.rate, self.burst, self.clock = rate / 60.0, burst, clock
        self.tokens, self.at = float(burst), clock()
        self.dropped = 0

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            self.dropped += 1
            return False
        self.tokens -= 1
        return True


class AuditTrail:
    def __init__(
        self,
        storage: Storage,
        *,
        refusals_per_minute: float = REFUSALS_PER_MINUTE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.storage = storage
        self.clock = clock
        self.budget = RefusalBudget(refusals_per_minute, REFUSAL_BURST, time.monotonic)
        self._lock = threading.Lock()
        self._tail: Head | None = None  # the last record this process knows of
        self._queue: queue.Queue[Event | None] | None = None  # while start()ed
        self._order = threading.Lock()
        self._thread: threading.Thread | None = None

    def record(self, event: Event) -> Head | None:
        """Record a change already made (what every writer calls: the web actions, the CLI,
        token and publisher changes). While ``start``ed (the server), it is queued and
        written by the trail's thread, so no request waits for the store; otherwise (the
        CLI) written now, and the new head returned. A store that fails is logged as an
        error, never raised, since the change cannot be taken back."""
        writer = self._queue
        if writer is None:
            admitted = self._admit(event)
            return None if admitted is None else self._write_logged(admitted)
        with self._order:  # stamped and queued in one step: the times are in order
            admitted = self._admit(event)
            if admitted is None:
                return None
            try:  # a refusal never waits: it may come from waitress's event loop
                writer.put(admitted, timeout=QUEUE_WAIT if admitted.outcome != REFUSED else 0)
            except queue.Full:
                log.error("the audit trail is %d records behind: %s of %r not recorded",
                          QUEUE_LIMIT, event.action, event.project)  # fmt: skip
        return None

    def append(self, event: Event) -> Head | None:
        """Record ``event`` now, after every record any writer made; the new head, or None
        when it was a refusal over the budget. ``StoreUnavailable`` when the store fails."""
        admitted = self._admit(event)
        return None if admitted is None else self._write(admitted)

    def _admit(self, event: Event) -> Event | None:
        """The event stamped with its time, or None for a refusal over the budget (the
        next one admitted says how many were left out)."""
        with self._lock:
            extra = event.extra
            if event.outcome == REFUSED:
                if not self.budget.take():
                    return None
                if self.budget.dropped:
                    extra = {**extra, "refusals_not_recorded": self.budget.dropped}
                    self.budget.dropped = 0
        return replace(event, extra=extra, at=event.at or self.clock())

    # ---- the writer thread (the server's) ----------------------------------------------
    def start(self) -> None:
        self._queue = queue.Queue(QUEUE_LIMIT)
        self._thread = threading.Thread(target=self._drain, name="dynopypi-audit", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued (for at most ``timeout`` seconds), then stop."""
        if self._queue is None or self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout)
        self._queue = None

    def _drain(self) -> None:
        assert self._queue is not None
        while (event := self._queue.get()) is not None:
            self._write_logged(event)

    def _write_logged(self, event: Event) -> Head | None:
        try:
            return self._write(event)
        except (StoreUnavailable, OSError) as exc:
            log.error(
                "the audit trail could not record %s of %r: %s", event.action, event.project, exc
            )
            return None

    def _write(self, event: Event) -> Head:
        with self._lock:
            tail = self._tail or self._find_tail()
            while True:
                data = encode(event, tail.seq + 1, tail.hash, self.clock())
                try:
                    self.storage.write(record_key(tail.seq + 1), data, expect=None)
                except KeyExists:  # another writer took this number: link to its record
                    tail = self._read_head_of(tail.seq + 1)
                    continue
                break
            self._tail = head = Head(tail.seq + 1, digest(data))
        self._anchor(head)
        log.info(
            "audit record %d: %s %s %s by %s: %s (chain head %s)",
            head.seq, event.action, event.project, event.version,
            dict(event.actor) or "anonymous", event.outcome, head.hash,
        )  # fmt: skip
        return head

    def _read_head_of(self, seq: int) -> Head:
        found = self.storage.read(record_key(seq), RECORD_LIMIT)
        if found is None:
            raise StoreUnavailable(f"audit record {seq} exists and then does not: retry")
        return Head(seq, digest(found[0]))

    def _find_tail(self) -> Head:
        """The last record: from the anchored head forward, else from a listing."""
        found = self.storage.read(HEAD_KEY, 1024)
        head = Head.decode(found[0]) if found else None
        if head is None:
            numbers = [n for n in (record_seq(s.key) for s in self.storage.list(PREFIX)) if n]
            if not numbers:
                return Head(0, GENESIS)
            head = self._read_head_of(max(numbers))
        else:
            head = self._read_head_of(head.seq) if head.seq else Head(0, GENESIS)
        while True:
            nxt = self.storage.read(record_key(head.seq + 1), RECORD_LIMIT)
            if nxt is None:
                return head
            head = Head(head.seq + 1, digest(nxt[0]))

    def _anchor(self, head: Head) -> None:
        """Move ``head.json`` forward to ``head`` unless it is already there or beyond."""
        for _ in range(5):
            found = self.storage.read(HEAD_KEY, 1024)
            current = Head.decode(found[0]) if found else None
            if current is not None and current.seq >= head.seq:
                return
            try:
                self.storage.write(
                    HEAD_KEY, head.encode(), expect=found[1].version if found else None
                )
                return
            except (KeyExists, VersionChanged):
                continue  # another writer moved it: look again

    # ---- reading --------------------------------------------------------------------
    def head(self) -> Head | None:
        found = self.storage.read(HEAD_KEY, 1024)
        return Head.decode(found[0]) if found else None

    def stored(self) -> Iterator[tuple[int, bytes]]:
        """(number, bytes) of every record, in order."""
        numbers = sorted(n for n in (record_seq(s.key) for s in self.storage.list(PREFIX)) if n)
        for seq in numbers:
            found = self.storage.read(record_key(seq), RECORD_LIMIT)
            if found is not None:
                yield seq, found[0]

    def verify(self, anchor: Head | None = None) -> tuple[int, list[Problem]]:
        """(records checked, every break in the chain): against the stored head, and
        against ``anchor`` (a head an operator kept elsewhere, from the server's log)."""
        count, problems = check_chain(self.stored(), self.head())
        if anchor is not None:
            problems += check_chain(self.stored(), anchor)[1]
        return count, problems
