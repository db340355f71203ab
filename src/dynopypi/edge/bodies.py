"""A request body's way in: held back until the app decides on it (``GatedParser``),
then pushed into the app's sink as it arrives or spooled to disk (``guard`` installs the
parser on waitress's channels).

The parser stops at a complete head that announces a body: what else arrives with it is
held, and the body waits for ``allow`` (reading resumes into the buffer chosen) or
``refuse`` (the request completes without it). waitress keeps a body in memory, then in
a nameless temp file, and hands the app a file to read: an upload was so written twice
(spool, then the staged file). ``SinkBuffer`` instead pushes each piece into a
``BodySink`` the app chose before the body was read (an upload's parser: its file is
written once, into the staged file); ``SpoolBuffer`` keeps waitress's way for the other
bodies, on disk in a directory of ours rather than TMPDIR.
"""

from __future__ import annotations

import io
import tempfile
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from waitress.buffers import OverflowableBuffer, TempfileBasedBuffer
from waitress.parser import HTTPRequestParser

from dynopypi.errors import Refused

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


class GatedParser(HTTPRequestParser):  # type: ignore[misc]
    """A request parser that holds a body until the channel's decision arrives."""

    pending = False
    refusal: Refused | None = None

    def __init__(
        self, adj: Any, on_head: Callable[[GatedParser], None], spool_dir: str | None = None
    ) -> None:
        super().__init__(adj)
        self._spool_dir = spool_dir
        self.started = time.monotonic()
        self._on_head = on_head
        self._held = b""
        self._continue = False
        self.expect_continue: bool = False

    def received(self, data: bytes) -> int:
        if self.pending:  # at most one recv() worth: the channel stops reading
            self._held += data
            return len(data)
        had_head = self.headers_finished
        consumed: int = super().received(data)
        if (
            not had_head
            and self.headers_finished
            and not self.completed
            and self.body_rcv is not None
        ):
            self.pending = True
            self._continue, self.expect_continue = self.expect_continue, False
            self._on_head(self)
        return consumed

    def allow(self, sink: BodySink | None = None) -> bytes:
        """Resume (into ``sink`` if given): the bytes held meanwhile, to be received now."""
        self.pending = False
        if sink is not None and self.body_rcv is not None:
            self.body_rcv.buf = SinkBuffer(sink)
        elif self._spool_dir is not None and self.body_rcv is not None:
            self.body_rcv.buf = SpoolBuffer(self.adj.inbuf_overflow, self._spool_dir)
        self.expect_continue = self._continue
        held, self._held = self._held, b""
        return held

    def sink(self) -> BodySink | None:
        buf = getattr(self.body_rcv, "buf", None)
        return buf.sink if isinstance(buf, SinkBuffer) else None

    def abort_body(self) -> None:
        sink = self.sink()
        if sink is not None:
            sink.abort()

    def refuse(self, refusal: Refused) -> None:
        """Complete the request without its body; the connection closes after the answer
        (``guard.GuardedTask`` says ``Connection: close``: the unread body must never be
        taken for the next request)."""
        self.pending = False
        self.refusal = refusal
        self._held = b""
        self.body_rcv = None
        self.content_length = 0
        self.chunked = False
        self.headers["CONTENT_LENGTH"] = "0"
        self.connection_close = True
        self.completed = True
