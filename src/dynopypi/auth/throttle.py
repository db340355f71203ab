"""Failed logins per client and per account: space out, then refuse, then forgive.

Password guessing is the one attack a private index invites, and bcrypt alone only makes
each guess cost the server as much as the attacker. So each client gets a sliding window:
after ``slow_after`` failures its tries must be spaced out (``step`` more seconds after
each further failure, at most ``max_delay``), after ``block_after`` it is refused
outright. A try that comes too early is answered at once with ``Throttled`` and its
``retry_after``: no worker thread ever sleeps on behalf of a guesser.

What is "one client": an IPv4 address, or an IPv6 /64 (one host commonly gets a whole
/64, so single IPv6 addresses would be free to rotate). And because client addresses can
be claimed (a local process talking to the app port directly sets ``X-Forwarded-For``
when 127.0.0.1 is a trusted proxy; a botnet has many addresses), failures are also
counted per *account name tried*, with a higher cap (``account_block_after``, three
times the client's so one client alone can never lock an account): guesses at one
account stay bounded whatever addresses they come from. Names that do not exist are
counted the same way, so the throttle does not tell which names exist either.

Nothing is permanent: once the window has passed, a key starts afresh, so an attacker
cannot lock anyone out for longer than ``window`` seconds after the guessing stops.
Parallel guesses cannot get past the caps: a try reserves its slots under the lock
before the (slow) password check runs.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from dynopypi.errors import Throttled

MAX_NAME = 128  # account names are counted by their first characters: bounded memory


def seconds(count: int) -> str:
    """``1 second``, ``5 seconds``: what a person is told to wait."""
    return f"{count} second" if count == 1 else f"{count} seconds"


def client_key(address: str) -> str:
    """The unit one client controls: an IPv4 address, or the /64 of an IPv6 address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address[:64] or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass(slots=True)
class _Record:
    """One key: when its recent failures happened, and how many tries are in flight."""

    failures: deque[float]
    pending: int = 0


@dataclass(frozen=True, slots=True)
class _Key:
    name: str  # "client 1.2.3.4" or "account 'alice'"
    cap: int
    spaced: bool  # whether tries after slow_after failures must be spaced out

    @property
    def origin(self) -> str:
        """How messages name the key: "from client 1.2.3.4", "for account 'alice'"."""
        return ("from " if self.spaced else "for ") + self.name


@dataclass(slots=True)
class Throttle:
    """Counts failed logins per client and per account within ``window`` seconds."""

    window: float = 60.0
    slow_after: int = 3
    block_after: int = 10
    account_block_after: int = 30
    step: float = 1.0  # spacing added per failure past slow_after
    max_delay: float = 5.0
    max_keys: int = 10_000  # bounds memory under a spray of addresses or names
    clock: Callable[[], float] = time.monotonic
    _records: dict[str, _Record] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def guard(self, address: str, verify: Callable[[], bool], account: str | None = None) -> bool:
        """Run ``verify`` for a login from ``address`` (to ``account``, if one was named);
        a False result counts as a failure for both.

        Raises Throttled (without calling ``verify``) when either is over its cap, or the
        client tries again sooner than its spacing allows. An exception from ``verify`` is
        not a failed login: the slots are just released.
        """
        keys = [_Key(f"client {client_key(address)}", self.block_after, True)]
        if account is not None:
            keys.append(_Key(f"account {account[:MAX_NAME]!r}", self.account_block_after, False))
        self._reserve(keys)
        ok: bool | None = None
        try:  # from here on the slots are released whatever happens
            ok = verify()
            return ok
        finally:
            self._settle(keys, failed=ok is False)

    def failures(self, address: str) -> int:
        """Failures of the client at ``address`` still inside the window."""
        return self._count(f"client {client_key(address)}")

    def account_failures(self, account: str) -> int:
        return self._count(f"account {account[:MAX_NAME]!r}")

    def tracked(self) -> int:
        """How many keys are remembered (memory stays bounded by ``max_keys``)."""
        with self._lock:
            return len(self._records)

    def _count(self, name: str) -> int:
        with self._lock:
            record = self._records.get(name)
            return len(self._expire(record, self.clock())) if record else 0

    def _reserve(self, keys: list[_Key]) -> None:
        """Take a slot on every key for one try, or raise Throttled and take none."""
        now = self.clock()
        with self._lock:
            for key in keys:
                record = self._records.get(key.name)
                if record is not None:
                    self._check(key, record, now)
            for key in keys:
                record = self._records.get(key.name)
                if record is None:
                    record = self._records[key.name] = _Record(deque(maxlen=key.cap))
                record.pending += 1

    def _check(self, key: _Key, record: _Record, now: float) -> None:
        failures = self._expire(record, now)
        if len(failures) + record.pending >= key.cap:
            # only tries in flight: they finish within seconds, so ask again soon
            oldest = failures[0] if failures else now - self.window
            retry = max(1, math.ceil(oldest + self.window - now))
            raise Throttled(
                f"too many failed logins {key.origin}; try again in {seconds(retry)}",
                retry_after=retry,
            )
        if key.spaced and len(failures) >= self.slow_after:
            gap = min(self.max_delay, self.step * (len(failures) - self.slow_after + 1))
            wait = failures[-1] + gap - now
            if wait > 0:
                retry = max(1, math.ceil(wait))
                raise Throttled(
                    f"{len(failures)} failed logins {key.origin}: wait {seconds(retry)} "
                    "before the next try",
                    retry_after=retry,
                )

    def _settle(self, keys: list[_Key], *, failed: bool) -> None:
        """Release the slots taken by ``_reserve``; a failure stays on the records."""
        now = self.clock()
        with self._lock:
            for key in keys:
                record = self._records.get(key.name)
                if record is None:  # cannot happen: records with tries in flight are kept
                    continue
                record.pending = max(0, record.pending - 1)
                if failed:
                    record.failures.append(now)
                elif not record.pending and not self._expire(record, now):
                    del self._records[key.name]  # a clean login leaves nothing behind
            if len(self._records) > self.max_keys:
                self._prune(now)

    def _expire(self, record: _Record, now: float) -> deque[float]:
        """Drop failures older than the window; returns the ones left."""
        times = record.failures
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def _prune(self, now: float) -> None:
        """Forget idle keys; if that is not enough, the oldest ones not in flight.

        Past ``max_keys`` distinct keys an attacker is spraying from a botnet, which the
        per-account cap still bounds; bounded memory matters more than old records.
        Clients go first (the sort is stable: oldest first within each group).
        """
        for key in [k for k, r in self._records.items() if not r.pending]:
            if not self._expire(self._records[key], now):
                del self._records[key]
        excess = len(self._records) - self.max_keys * 9 // 10
        if excess > 0:  # clients first: a spray of addresses must not erase an account's count
            idle = [k for k, r in self._records.items() if not r.pending]
            idle.sort(key=lambda k: k.startswith("account "))
            for key in idle[:excess]:
                del self._records[key]
