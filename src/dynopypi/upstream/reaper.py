"""Deadlines that hold whatever the other end does: one thread that cuts overdue sockets.

A socket timeout bounds one ``recv``, not a request: an upstream that sends one byte
every few seconds never trips it, in the status line, the headers or the body, and a
read of 64 KiB waits for all of them. So every upstream exchange registers its socket
here with a deadline, and at the deadline the socket is shut down: whatever read is
blocked on it returns at once, in whichever thread, and the exchange sees ``fired``.
One thread serves every exchange (a timer thread each would cost a thread per request).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Watch:
    """One socket's deadline; ``fired`` once it was cut, ``cancel`` when done with it."""

    sock: socket.socket
    deadline: float
    fired: bool = False
    cancelled: bool = False
    _reaper: Reaper | None = field(default=None, repr=False)

    def cancel(self) -> None:
        self.cancelled = True
        self.sock.close()  # our duplicate only: the exchange closes its own

    def move(self, deadline: float) -> None:
        """A new deadline (a download's, once its size is known)."""
        if self._reaper is not None and not self.cancelled:
            self._reaper.move(self, deadline)


class Reaper:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Watch]] = []
        self._count = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, sock: socket.socket, deadline: float) -> Watch:
        """Cut ``sock`` at ``deadline`` unless cancelled first. A duplicate of it is kept,
        so the cut still lands once TLS has taken the socket over (``wrap_socket``
        detaches the object it was given)."""
        entry = Watch(sock.dup(), deadline, _reaper=self)
        self._push(entry)
        return entry

    def move(self, entry: Watch, deadline: float) -> None:
        with self._wake:
            entry.deadline = deadline  # the old heap item is skipped when its time comes
            heapq.heappush(self._heap, (deadline, next(self._count), entry))
            self._wake.notify()

    def _push(self, entry: Watch) -> None:
        with self._wake:
            heapq.heappush(self._heap, (entry.deadline, next(self._count), entry))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="upstream-deadlines")
                self._thread.daemon = True
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._heap and self._heap[0][2].cancelled:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._wake.wait(60.0)
                    continue
                when, _, entry = self._heap[0]
                wait = when - time.monotonic()
                if wait > 0:
                    self._wake.wait(min(wait, 60.0))
                    continue
                heapq.heappop(self._heap)
                if entry.cancelled or entry.deadline != when:
                    continue  # done meanwhile, or moved (a later item stands for it)
                entry.fired = True
            with contextlib.suppress(OSError):
                entry.sock.shutdown(socket.SHUT_RDWR)


REAPER = Reaper()
