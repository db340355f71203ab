"""waitress, hardened against clients that send slowly, never finish, or are strangers.

waitress reads a whole request (head and body, spooled to a temporary file) before the
app sees it, sends ``100 Continue`` to anyone, and only times out channels with no
request in progress. Three additions, installed on the server ``server.py`` builds:

- **A body waits for the app's yes.** When a request head announcing a body is
  complete, ``GatedParser`` stops the channel reading and a worker asks ``decide`` (the
  app's gate: identity and policy for an upload). Refused: the answer is sent at once,
  no ``100 Continue``, no body byte read beyond what came with the head, and the
  connection closes. Allowed: reading resumes (and ``100 Continue`` is sent if asked).
  Identity checks (bcrypt) run in a worker, never in the event loop.
- **Deadlines for unfinished requests.** A head must be complete within
  ``head_timeout`` seconds of its first byte; a body must move at least every
  ``body_timeout`` seconds; otherwise the channel is closed.
- **A stalled reader cannot hold a worker.** Files (downloads, ranges) are sent from
  the event loop; a streamed body blocks its worker only until the client has taken
  nothing for ``send_timeout`` seconds, then the connection is closed.
- **At the connection limit, the idlest connection goes.** Instead of no longer
  accepting (which took /health away from everyone), the connections that are not being
  served by a worker and have been quiet longest are closed to make room.
"""

from __future__ import annotations

import functools
import logging
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from waitress.buffers import OverflowableBuffer, TempfileBasedBuffer
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import BaseWSGIServer
from waitress.task import WSGITask

from .errors import Refused

log = logging.getLogger(__name__)

Decide = Callable[[Mapping[str, str], str], "Refused | None"]
REFUSED = "dynopypi.refused"  # environ key: the refusal decided before the body was read


@dataclass(frozen=True)
class Limits:
    head_timeout: float = 10.0
    body_timeout: float = 30.0
    evict_fraction: float = 0.02  # of the limit, closed at once when it is reached
    spool_dir: str | None = None  # where allowed bodies over 512 KiB wait (None: TMPDIR)
    send_timeout: float = 60.0  # a worker waits this long for a reader that takes nothing


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

    def allow(self) -> bytes:
        """Resume: the bytes held meanwhile, to be received now."""
        self.pending = False
        if self._spool_dir is not None and self.body_rcv is not None:
            self.body_rcv.buf = SpoolBuffer(self.adj.inbuf_overflow, self._spool_dir)
        self.expect_continue = self._continue
        held, self._held = self._held, b""
        return held

    def refuse(self, refusal: Refused) -> None:
        """Complete the request without its body; the connection closes after the answer."""
        self.pending = False
        self.refusal = refusal
        self._held = b""
        self.body_rcv = None
        self.content_length = 0
        self.chunked = False
        self.headers["CONTENT_LENGTH"] = "0"
        self.connection_close = True
        self.completed = True


class GuardedTask(WSGITask):  # type: ignore[misc]
    def get_environment(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environment()
        refusal = getattr(self.request, "refusal", None)
        if refusal is not None:
            environ[REFUSED] = refusal
        return environ


@dataclass
class _Decision:
    """A waitress task: ask ``decide`` in a worker, hand the answer to the event loop."""

    channel: GuardedChannel
    parser: GatedParser

    def service(self) -> None:
        refusal: Refused | None
        try:
            refusal = self.channel.decide(self.parser.headers, str(self.channel.addr[0]))
        except Refused as exc:
            refusal = exc
        except Exception:
            log.exception("deciding on a request body failed; refusing it")
            refusal = Refused("the server could not check this request; try again")
        answer = functools.partial(self.channel.resolve, self.parser, refusal)
        self.channel.server.trigger.pull_trigger(answer)

    def cancel(self) -> None:
        self.channel.will_close = True


class GuardedChannel(HTTPChannel):  # type: ignore[misc]
    task_class = GuardedTask
    request: GatedParser | None = None  # the request being received (waitress's name)
    connected: bool
    decide: Decide  # these two are set on the subclass that ``guard_server`` makes
    limits: Limits

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.parser_class = functools.partial(
            GatedParser, on_head=self._ask, spool_dir=self.limits.spool_dir
        )

    def readable(self) -> bool:
        request = self.request
        if request is not None and request.pending:
            return False
        return bool(super().readable())

    def _flush_outbufs_below_high_watermark(self) -> None:
        """A worker writing a streamed body (a generator, not a file) waits here while the
        client's unsent output is over waitress's high-water mark. waitress waits for as
        long as the socket stays open, so each stalled reader held a worker; here a
        reader that takes nothing for ``send_timeout`` seconds is disconnected."""
        if self.total_outbufs_len <= self.adj.outbuf_high_watermark:
            return
        with self.outbuf_lock:
            while self.connected and self.total_outbufs_len > self.adj.outbuf_high_watermark:
                quiet = time.time() - self.last_activity
                if quiet > self.limits.send_timeout:  # write_soon then raises ClientDisconnected
                    log.info("closing a connection whose client read nothing for %.0f s", quiet)
                    self.will_close, self.connected = True, False
                    self.server.pull_trigger()
                    return
                self.server.pull_trigger()  # the event loop sends what the client takes
                self.outbuf_lock.wait(timeout=min(1.0, self.limits.send_timeout - quiet))

    def _ask(self, parser: GatedParser) -> None:
        self.server.add_task(_Decision(self, parser))

    def resolve(self, parser: GatedParser, refusal: Refused | None) -> None:
        """In the event loop: act on the decision for the body ``parser`` holds."""
        if self.request is not parser or not self.connected or self.will_close:
            return
        if refusal is not None:
            with self.requests_lock:
                parser.refuse(refusal)
                self.requests.append(parser)
                if len(self.requests) == 1:
                    self.server.add_task(self)
                self.request = None
            return
        held = parser.allow()
        if parser.expect_continue and not self.requests and not self.sent_continue:
            self.send_continue()
        if held:
            self.received(held)


def _maintain(server: Any, limits: Limits, now: float) -> None:
    """waitress's idle timeout, plus deadlines for heads and bodies in progress."""
    BaseWSGIServer.maintenance(server, now)
    clock = time.monotonic()
    for channel in list(server.active_channels.values()):
        request = channel.request
        if request is None or channel.requests:
            continue
        head_late = not request.headers_finished and clock - request.started > limits.head_timeout
        body_idle = not request.pending and now - channel.last_activity > limits.body_timeout
        if head_late or body_idle:
            channel.will_close = True


def _readable(server: Any, limits: Limits) -> bool:
    """Accept while under the limit; at the limit, make room by closing the idlest."""
    if server.accepting and len(server._map) >= server.adj.connection_limit:
        quiet = [
            channel
            for channel in server.active_channels.values()
            if not channel.requests and not channel.will_close
        ]
        quiet.sort(key=lambda channel: channel.last_activity)
        victims = quiet[: max(1, int(server.adj.connection_limit * limits.evict_fraction))]
        for channel in victims:
            channel.will_close = True
        if victims:
            log.warning("at the connection limit: closing the %d idlest", len(victims))
    return bool(BaseWSGIServer.readable(server))


def guard_server(server: Any, decide: Decide, limits: Limits = Limits()) -> None:
    """Install the gate, the deadlines and the eviction on a waitress server (each
    listening socket's server object, as ``create_server`` made it)."""
    channel_class = type(
        "DynopypiChannel", (GuardedChannel,), {"decide": staticmethod(decide), "limits": limits}
    )
    server.channel_class = channel_class
    server.maintenance = functools.partial(_maintain, server, limits)
    server.readable = functools.partial(_readable, server, limits)
