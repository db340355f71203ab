"""One upstream file being fetched: a ``Flight`` (the progress every reader shares) and
its pump thread (upstream response -> temp file, hashed, verified, committed).

The pump belongs to the file, not to a client: it runs to the end (or to one of its
bounds) whoever reads along, so a client that never reads, leaves, or asks with a Range
costs no fetch twice, and the file is cached once it verifies. Its bounds, whatever
upstream does:

- silence: a read waits at most ``--upstream-timeout``;
- a drip: at least ``MIN_RATE`` bytes a second, measured over windows of
  ``--upstream-timeout`` seconds;
- overall: ``3 x --upstream-timeout`` plus the promised size at ``MIN_RATE`` (the
  socket is cut then, see ``reaper``);
- size: what the page promised (or the response's Content-Length), else
  ``MAX_UNKNOWN_SIZE`` (or ``--upstream-cache-max`` when smaller): nothing more is kept.

Readers (``tail``) read the temp file as it grows, through their own file
descriptor, and never the last ``HOLD`` bytes before the sha256 and size match what the
page promised: a client never receives the whole of a file that does not verify.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from enum import Enum

from dynopypi.dists.names import DistFile
from dynopypi.errors import BadGateway, GatewayTimeout, NotFound, Refused, StorageFull
from dynopypi.upstream.http import BOUND, FetchFailed, Missing, Response

log = logging.getLogger(__name__)
CHUNK = 256 * 1024  # one read from upstream (read1: what has arrived, up to this)
HOLD = 256 * 1024  # bytes no reader gets before the file verified
MIN_RATE = 64 * 1024  # bytes/s below which a transfer is a drip and is abandoned
MAX_UNKNOWN_SIZE = 16 * 1024**3  # a file whose size nobody gave is cut off here
READY = 2 * CHUNK  # a first asker's answer starts once this much is in (or the end)

Commit = Callable[[DistFile, str, int], None]  # verified temp file -> the cache


def refused(exc: FetchFailed | Missing, what: str) -> Refused:
    """A client's answer: what failed, in words a stranger may read (``exc.public``)."""
    if isinstance(exc, Missing):
        return NotFound(f"upstream no longer has {what}")
    kind = GatewayTimeout if exc.timeout else BadGateway
    return kind(f"cannot fetch {what} from upstream ({exc.public}); try again later")


class State(Enum):
    RUNNING = "running"
    DONE = "done"  # verified and committed
    FAILED = "failed"


class Flight:
    """The shared progress of one fetch. Readers wait on ``changed``; wakers (an event
    loop's trigger) are called after every chunk so that a loop sending it looks again."""

    def __init__(self, dist: DistFile, tmp: str, fd: int) -> None:
        self.dist = dist
        self.tmp = tmp
        self.fd = fd  # read side of the temp file; valid after its rename or unlink
        self.changed = threading.Condition()
        self.state = State.RUNNING
        self.error: Refused | None = None
        self.size: int | None = dist.size or None  # known once the page or headers say
        self.written = 0
        self.moved = time.monotonic()  # when the last byte came
        self.started = self.moved
        self._wakers: dict[int, Callable[[], None]] = {}

    # ---- what readers see -------------------------------------------------------------
    def readable(self) -> int:
        """Bytes any reader may have now: all once verified, else all but ``HOLD``."""
        if self.state is State.DONE:
            return self.written
        if self.state is State.FAILED or self.size is None:
            return 0
        return max(0, min(self.written, self.size - HOLD))

    def ready(self) -> bool:
        """Enough to answer a first asker: the end, or a known size and ``READY`` bytes."""
        if self.state is not State.RUNNING:
            return True
        if self.size is None or self.size <= READY + HOLD:
            return False  # a small file is verified whole before its answer starts
        return self.readable() >= READY

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(predicate, timeout)

    def dup(self) -> int | None:
        """A reader's own descriptor of the temp file (None: the flight is over)."""
        with self.changed:
            return os.dup(self.fd) if self.fd >= 0 else None

    def add_waker(self, key: int, wake: Callable[[], None]) -> None:
        with self.changed:
            self._wakers[key] = wake

    def drop_waker(self, key: int) -> None:
        with self.changed:
            self._wakers.pop(key, None)

    # ---- what the pump does ---------------------------------------------------------------
    def advance(self, count: int) -> None:
        with self.changed:
            self.written += count
            self.moved = time.monotonic()
            self.changed.notify_all()
            wakers = list(self._wakers.values())
        for wake in wakers:
            wake()

    def end(self, error: Refused | None) -> None:
        with self.changed:
            self.state = State.FAILED if error is not None else State.DONE
            self.error = error
            os.close(self.fd)
            self.fd = -1
            self.changed.notify_all()
            wakers = list(self._wakers.values())
        for wake in wakers:
            wake()


class Pump:
    """Reads one upstream response into the flight's temp file (a thread of its own)."""

    def __init__(
        self,
        flight: Flight,
        response: Response,
        out: int,
        *,
        timeout: float,
        limit: int,
        commit: Commit,
        landed: Callable[[Flight], None],
    ) -> None:
        self.flight = flight
        self.response = response
        self.out = out
        self.timeout = timeout
        self.commit = commit
        self.landed = landed
        length = response.headers.get("Content-Length", "")
        if flight.size is None and length.isdigit():
            flight.size = int(length)
        self.limit = flight.size if flight.size is not None else limit
        self.sha = hashlib.sha256()  # the other digests are computed after the commit
        response.extend(time.monotonic() + BOUND * timeout + self.limit / MIN_RATE)

    def start(self) -> None:
        name = f"upstream-fetch-{self.flight.dist.filename[:40]}"
        threading.Thread(target=self.run, name=name, daemon=True).start()

    def run(self) -> None:
        error: Refused | None = None
        try:
            self._transfer()
            self._verify()
        except Refused as exc:
            error = exc
        except FetchFailed as exc:
            log.warning("upstream file %s: %s", self.flight.dist.filename, exc)
            error = refused(exc, self.flight.dist.filename)
        except Exception:  # never leave readers waiting on a dead pump
            log.exception("fetching %s from upstream failed", self.flight.dist.filename)
            error = BadGateway(f"fetching {self.flight.dist.filename} from upstream failed")
        finally:
            self.response.close()
            with contextlib.suppress(OSError):
                os.close(self.out)
            if error is not None:
                with contextlib.suppress(OSError):
                    os.unlink(self.flight.tmp)
            self.flight.end(error)
            self.landed(self.flight)

    def _transfer(self) -> None:
        flight, window_start, window_bytes = self.flight, time.monotonic(), 0
        while data := self.response.read1(CHUNK):
            if flight.written + len(data) > self.limit:
                raise BadGateway(f"upstream sent more of {flight.dist.filename} than promised")
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self.out, view) :]
            except OSError as exc:
                what = flight.dist.filename
                raise StorageFull(f"the upstream cache has no room for {what}: {exc}") from None
            self.sha.update(data)
            flight.advance(len(data))
            window_bytes += len(data)
            now = time.monotonic()
            if now - window_start >= self.timeout:
                if window_bytes < MIN_RATE * (now - window_start):
                    raise GatewayTimeout(
                        f"upstream sends {flight.dist.filename} too slowly "
                        f"({window_bytes} bytes in {now - window_start:.0f} s); try again later"
                    )
                window_start, window_bytes = now, 0

    def _verify(self) -> None:
        """Everything is in: commit if it is what upstream's page promised, else refuse."""
        flight = self.flight
        digest = self.sha.hexdigest()
        wrong_size = flight.size is not None and flight.written != flight.size
        if digest != flight.dist.sha256 or wrong_size:
            log.error(
                "upstream file %s does not verify (sha256 %s, expected %s; %d bytes): "
                "refused, not cached",
                flight.dist.filename, digest, flight.dist.sha256, flight.written,
            )  # fmt: skip
            raise BadGateway(
                f"upstream sent {flight.dist.filename} with content that does not match its "
                "sha256; nothing was kept: try again later, or tell the upstream's operator"
            )
        flight.size = flight.written
        self.commit(flight.dist, flight.tmp, flight.written)
