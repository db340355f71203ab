"""One leader's transfer of an upstream file: response -> temp file + client, verified at
the end (see ``upstream_files``)."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from .dists import DistFile
from .errors import BadGateway, GatewayTimeout, StorageFull

if TYPE_CHECKING:
    from .upstream_files import FileFetcher, Flight

log = logging.getLogger(__name__)
CHUNK = 1024 * 1024  # few, large reads: the stream costs little beyond its sha256
MAX_UNKNOWN_SIZE = 16 * 1024**3  # a file whose size nobody gave is cut off here


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

    def prime(self) -> tuple[bytes, bytes]:
        """The first two chunks; a file that fits in them is verified before it is sent."""
        try:
            first = self._read()
            second = self._read() if first else b""
            if not second:
                self._verify()
            return first, second
        except BaseException:
            self.abandon()
            raise

    def stream(self, head: tuple[bytes, bytes]) -> Iterator[bytes]:
        first, held = head
        try:
            if self.done:
                yield first
                return
            yield first
            while True:
                data = self._read()
                if not data:
                    self._verify()
                    yield held
                    return
                yield held
                held = data
        finally:
            self.abandon()

    def abandon(self) -> None:
        """Clean up whatever happened: a committed file stays, anything else goes."""
        self.response.close()
        if not self.out.closed:
            self.out.close()
        if not self.done:
            with contextlib.suppress(OSError):
                os.unlink(self.tmp)
        self.fetcher.land(self.dist, self.flight)


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
