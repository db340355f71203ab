"""Where an allowed request body goes while it arrives (``guard`` installs these as
waitress's body buffers).

waitress keeps a body in memory, then in a nameless temp file, and hands the app a file
to read: an upload was so written twice (spool, then the staged file). ``SinkBuffer``
instead pushes each piece into a ``BodySink`` the app chose before the body was read (an
upload's parser: its file is written once, into the staged file); ``SpoolBuffer`` keeps
waitress's way for the other bodies, on disk in a directory of ours rather than TMPDIR.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from waitress.buffers import OverflowableBuffer, TempfileBasedBuffer

STREAMED = "dynopypi.streamed"  # environ key: the BodySink an allowed body went into


class BodySink(Protocol):
    """Where an allowed body goes as it arrives. ``feed`` runs in the event loop: it must
    be quick and never raise (keep an error for whoever reads the sink). ``abort``: the
    body will not be used (connection closed, request failed); safe more than once."""

    def feed(self, data: bytes) -> None: ...

    def abort(self) -> None: ...


# the sink for a body, from (headers, method, path, chunked); None: spool it as usual.
# A ``Refused`` raised here refuses the request before its body, as ``decide`` does.
Stream = Callable[[Mapping[str, str], str, str, bool], "BodySink | None"]


class _DiskSpool(TempfileBasedBuffer):  # type: ignore[misc]
    directory: str | None = None

    def newfile(self) -> Any:
        return tempfile.TemporaryFile("w+b", dir=self.directory)


class SpoolBuffer(OverflowableBuffer):  # type: ignore[misc]
    """waitress's body buffer, spilling to a nameless file in ``directory`` (the package
    directory: disk, not a tmpfs /tmp under PrivateTmp=) once over ``overflow`` bytes."""

    buf: Any

    def __init__(self, overflow: int, directory: str) -> None:
        super().__init__(overflow)
        self._spool = type("Spool", (_DiskSpool,), {"directory": directory})

    def _set_large_buffer(self) -> None:
        old = self.buf
        self.buf = self._spool(old)
        if hasattr(old, "close"):
            old.close()
        self.overflowed = True


class SinkBuffer:
    """In place of waitress's body buffer (the methods its receivers and tasks call): the
    de-chunked body goes to ``sink`` piece by piece, nothing is kept here."""

    def __init__(self, sink: BodySink) -> None:
        self.sink = sink
        self.size = 0

    def append(self, data: bytes) -> None:
        self.size += len(data)
        self.sink.feed(data)

    def __len__(self) -> int:  # the Content-Length waitress reports for a chunked body
        return self.size

    def getfile(self) -> io.BytesIO:  # wsgi.input: empty, the body is in the sink
        return io.BytesIO()

    def close(self) -> None:  # waitress is done with the request: whatever is left goes
        self.sink.abort()
