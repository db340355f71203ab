"""One leader's transfer of an upstream file: response -> temp file + client, verified at
the end (see ``upstream_files``).

A pump thread reads upstream, writes the temp file and hashes, up to ``AHEAD`` chunks
ahead of the request thread, which only hands chunks to waitress: receiving, storing and
hashing overlap with sending (one thread doing both in turn made a first download of a
50 MB file 2.5x slower than fetching it from a loopback upstream). The request thread
holds one chunk back until the pump says the file verified and was committed, so a
client never receives the whole of a file that does not match its sha256.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from .dists import DistFile
from .errors import BadGateway, GatewayTimeout, StorageFull

if TYPE_CHECKING:
    from .upstream_files import FileFetcher, Flight

log = logging.getLogger(__name__)
# 256 KiB: waitress keeps a chunk this size in memory while the client keeps up (a 1 MiB
# chunk always went through its temp-file buffer: written, read back, then sent)
CHUNK = 256 * 1024
AHEAD = 16  # chunks the pump may be ahead of the client (4 MiB of memory per download)
MAX_UNKNOWN_SIZE = 16 * 1024**3  # a file whose size nobody gave is cut off here
DONE = b""  # the pump's last item: everything verified and committed
Item = bytes | BaseException


class Download:
    """One leader's transfer: upstream response -> temp file + client, verified at the end."""

    def __init__(
        self,
        fetcher: FileFetcher,
        dist: DistFile,
        flight: Flight,
        response: http.client.HTTPResponse,
    ) -> None:
        self.fetcher = fetcher
        self.dist = dist
        self.flight = flight
        self.response = response
        length = response.headers.get("Content-Length")
        promised = dist.size or (int(length) if length and length.isdigit() else None)
        self.expected = promised
        self.limit = promised if promised is not None else MAX_UNKNOWN_SIZE
        try:
            fd, path = fetcher.store.staging()
        except OSError as exc:
            response.close()
            raise StorageFull(f"the upstream cache cannot stage {dist.filename}: {exc}") from None
        self.tmp = str(path)
        self.out = os.fdopen(fd, "wb")
        self.sha = hashlib.sha256()  # the other digests are computed after the commit
        self.size = 0
        self.done = False
        self._items: queue.Queue[Item] = queue.Queue(AHEAD)
        self._stop = threading.Event()  # the client went away: the pump gives up
        # the longest a silent pump is waited for: its reads time out well before this
        self._patience = fetcher.timeout * 2 + 30

    # ---- the pump thread ----------------------------------------------------------------
    def _read(self) -> bytes:
        try:
            data = self.response.read(CHUNK)
        except TimeoutError:
            raise GatewayTimeout(
                f"upstream stalled sending {self.dist.filename}; try again later"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            raise BadGateway(f"upstream failed sending {self.dist.filename}: {exc}") from None
        self.size += len(data)
        if self.size > self.limit:
            raise BadGateway(f"upstream sent more of {self.dist.filename} than promised")
        try:
            self.out.write(data)
        except OSError as exc:
            what = self.dist.filename
            raise StorageFull(f"the upstream cache has no room for {what}: {exc}") from None
        self.sha.update(data)
        return data

    def _verify(self) -> None:
        """Everything is in: commit if it is what upstream's page promised, else refuse."""
        self.out.close()
        digest = self.sha.hexdigest()
        wrong_size = self.expected is not None and self.size != self.expected
        if digest != self.dist.sha256 or wrong_size:
            log.error(
                "upstream file %s does not verify (sha256 %s, expected %s; %d bytes): "
                "refused, not cached",
                self.dist.filename, digest, self.dist.sha256, self.size,
            )  # fmt: skip
            raise BadGateway(
                f"upstream sent {self.dist.filename} with content that does not match its "
                "sha256; nothing was kept: try again later, or tell the upstream's operator"
            )
        self.fetcher.commit(self.dist, self.tmp, self.size)
        self.done = True

    def _pump(self) -> None:
        try:
            while not self._stop.is_set():
                data = self._read()
                if not data:
                    self._verify()
                    self._put(DONE)
                    return
                self._put(data)
        except BaseException as exc:  # handed to the request thread, which raises it
            self._put(exc)
        finally:
            self._cleanup()

    def _put(self, item: Item) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(queue.Full):
                self._items.put(item, timeout=1.0)
                return

    def _cleanup(self) -> None:
        """Whatever happened: a committed file stays, anything else goes."""
        self.response.close()
        if not self.out.closed:
            self.out.close()
        if not self.done:
            with contextlib.suppress(OSError):
                os.unlink(self.tmp)
        self.fetcher.land(self.dist, self.flight)

    # ---- the request thread ---------------------------------------------------------------
    def _next(self) -> bytes:
        try:
            item = self._items.get(timeout=self._patience)
        except queue.Empty:
            raise GatewayTimeout(f"fetching {self.dist.filename} stalled") from None
        if isinstance(item, BaseException):
            raise item
        return item

    def prime(self) -> tuple[bytes, bytes]:
        """Start the pump; the first two chunks before any byte is sent (a file that fits
        in them is verified by then), so early failures are clean 502/504 answers."""
        threading.Thread(
            target=self._pump, name=f"upstream-fetch-{self.dist.filename[:40]}", daemon=True
        ).start()
        try:
            first = self._next()
            second = self._next() if first else DONE
            return first, second
        except BaseException:
            self.abandon()
            raise

    def stream(self, head: tuple[bytes, bytes]) -> Iterator[bytes]:
        first, held = head
        try:
            yield first
            while held:
                data = self._next()
                yield held  # the last chunk only once the pump said DONE: verified
                held = data
        finally:
            self.abandon()

    def abandon(self) -> None:
        """The client is gone or done: a pump still running stops (and cleans up)."""
        self._stop.set()


class Body:
    """The WSGI body: ``close`` (which servers always call) cleans up even a stream that
    was never iterated."""

    def __init__(self, chunks: Iterator[bytes], cleanup: Callable[[], None]) -> None:
        self._chunks = chunks
        self._cleanup = cleanup

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return next(self._chunks)

    def close(self) -> None:
        try:
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()
        finally:
            self._cleanup()
