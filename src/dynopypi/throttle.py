"""Failed logins per client address: slow down, then refuse, then forgive.

Password guessing is the one attack a private index invites, and bcrypt alone only makes
each guess cost the server as much as the attacker. So each address gets a sliding window:
after ``slow_after`` failures every further try waits a little longer, after
``block_after`` the address is refused outright (``Throttled`` with ``retry_after``).
Nothing is permanent: once the window has passed, an address starts afresh, so an attacker
cannot lock a real user out for longer than ``window`` seconds.

Parallel guesses must not get past the cap: an attempt reserves its slot under the lock
before the (slow) password check runs, so ten guesses in flight count as ten even before
any of them has failed.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import Throttled


@dataclass(slots=True)
class _Record:
    """One address: when its recent failures happened, and how many tries are in flight."""

    failures: deque[float]
    pending: int = 0


@dataclass(slots=True)
class Throttle:
    """Counts failed logins per address within ``window`` seconds; see the module doc."""

    window: float = 60.0
    slow_after: int = 3
    block_after: int = 10
    step: float = 0.25  # extra wait per failure past slow_after
    max_delay: float = 2.0  # a slowed-down login still finishes within a client's timeout
    max_addresses: int = 10_000  # bounds memory under a spray of addresses
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _records: dict[str, _Record] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def guard(self, address: str, verify: Callable[[], bool]) -> bool:
        """Run ``verify`` for a login from ``address``; a False result counts as a failure.

        Raises Throttled (without calling ``verify``) when the address is over the cap.
        An exception from ``verify`` is not a failed login: the slot is just released.
        """
        delay = self._reserve(address)
        ok: bool | None = None
        try:  # from here on the slot is released whatever happens
            if delay > 0:
                self.sleep(delay)
            ok = verify()
            return ok
        finally:
            self._settle(address, failed=ok is False)

    def failures(self, address: str) -> int:
        """Failures from ``address`` still inside the window (for logs and tests)."""
        with self._lock:
            record = self._records.get(address)
            return len(self._expire(record, self.clock())) if record else 0

    def tracked(self) -> int:
        """How many addresses are remembered (memory stays bounded by ``max_addresses``)."""
        with self._lock:
            return len(self._records)

    def _reserve(self, address: str) -> float:
        """Take a slot for one try, or raise Throttled; returns how long to wait first."""
        now = self.clock()
        with self._lock:
            record = self._records.get(address)
            if record is None:
                record = self._records[address] = _Record(deque(maxlen=self.block_after))
            seen = len(self._expire(record, now)) + record.pending
            if seen >= self.block_after:
                # only tries in flight: they finish within seconds, so ask again soon
                oldest = record.failures[0] if record.failures else now - self.window
                retry = max(1, int(oldest + self.window - now) + 1)
                raise Throttled(
                    f"too many failed logins from {address}; try again in {retry} seconds",
                    retry_after=retry,
                )
            record.pending += 1
        return min(self.max_delay, self.step * max(0, seen - self.slow_after + 1))

    def _settle(self, address: str, *, failed: bool) -> None:
        """Release the slot taken by ``_reserve``; a failure stays on the record."""
        now = self.clock()
        with self._lock:
            record = self._records.get(address)
            if record is None:  # cannot happen: records with tries in flight are kept
                return
            record.pending = max(0, record.pending - 1)
            if failed:
                record.failures.append(now)
            elif not record.pending and not self._expire(record, now):
                del self._records[address]  # a clean login leaves nothing behind
            if len(self._records) > self.max_addresses:
                self._prune(now)

    def _expire(self, record: _Record, now: float) -> deque[float]:
        """Drop failures older than the window; returns the ones left."""
        times = record.failures
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def _prune(self, now: float) -> None:
        """Forget idle addresses; if that is not enough, the oldest ones not in flight.

        Past ``max_addresses`` distinct addresses an attacker is spraying from a botnet,
        which a per-address throttle cannot stop anyway; bounded memory matters more.
        """
        for key in [k for k, r in self._records.items() if not r.pending]:
            if not self._expire(self._records[key], now):
                del self._records[key]
        excess = len(self._records) - self.max_addresses * 9 // 10
        if excess > 0:
            idle = [k for k, r in self._records.items() if not r.pending][:excess]
            for key in idle:
                del self._records[key]
