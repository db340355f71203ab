"""A client's view of a file still being fetched: a file object over the growing temp file.

Handed to waitress as ``wsgi.file_wrapper`` (Bottle does so for any object with
``read``), it is sent from waitress's event loop like a cached file, so a client that
reads slowly or not at all holds a socket and a descriptor, never a worker thread.
``read`` never blocks: it gives what the flight lets readers have now (possibly
nothing). While there is nothing, ``pending()`` says "wait" and the channel
(``guard.GuardedChannel.writable``) stops polling the socket for writing; the flight
wakes the loop when more comes. If the fetch fails, ``pending()`` says "broken" and the
channel closes the connection: the client sees a body cut short, never a whole file that
did not verify.

Outside waitress (another WSGI server, in-process tests), ``chunks`` streams the same
bytes from the worker.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator

from dynopypi.upstream.download import Flight, State


class Tail:
    """Read-only, seekable view of ``flight``'s file; its length is the promised size."""

    def __init__(self, flight: Flight, fd: int, wake: Callable[[], None] | None) -> None:
        assert flight.size is not None
        self.flight = flight
        self.size = flight.size
        self._fd = fd
        self._pos = 0
        if wake is not None:
            flight.add_waker(id(self), wake)

    # ---- the file protocol waitress uses -------------------------------------------------
    def read(self, size: int = -1) -> bytes:
        if self._fd < 0:
            return b""
        available = self.flight.readable() - self._pos
        if size >= 0:
            available = min(available, size)
        if available <= 0:
            return b""
        data = os.pread(self._fd, available, self._pos)
        self._pos += len(data)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        self.flight.drop_waker(id(self))
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1

    # ---- what the channel asks -------------------------------------------------------------
    def pending(self) -> str:
        """ "ready" (bytes to send now, or the end), "wait" (more will come), "broken"."""
        if self.flight.state is State.FAILED:
            return "broken"
        if self._pos >= self.size or self.flight.readable() > self._pos:
            return "ready"
        return "wait"


def chunks(tail: Tail, stall: float) -> Iterator[bytes]:
    """The same bytes from a worker thread, for servers without the event-loop path;
    a fetch that moves nothing for ``stall`` seconds (or fails) ends the body short."""
    try:
        while tail.tell() < tail.size:
            data = tail.read(256 * 1024)
            if data:
                yield data
                continue
            if tail.pending() == "broken":
                return
            moved = tail.flight.wait(lambda: tail.pending() != "wait", stall)
            if not moved:
                return
    finally:
        tail.close()
