"""waitress, hardened against clients that send slowly, never finish, or are strangers.

waitress reads a whole request (head and body, spooled to a temporary file) before the
app sees it, sends ``100 Continue`` to anyone, and only times out channels with no
request in progress. The additions, installed on the server ``server.py`` builds:

- **A body waits for the app's yes.** When a request head announcing a body is
  complete, the parser (``bodies.GatedParser``) stops the channel reading and a worker
  asks ``decide`` (the app's gate: identity and policy for an upload). Refused: the
  answer is sent at once, no ``100 Continue``, no body byte read beyond what came with
  the head, and the connection closes. Allowed: reading resumes (and ``100 Continue`` is
  sent if asked). Identity checks (bcrypt) run in a worker, never in the event loop.
- **An allowed body can go straight where it belongs.** ``stream`` (the app's, asked
  after ``decide``) may give a ``BodySink`` for the body: each piece is then pushed into
  it as it arrives, instead of into waitress's spool, and the app finds the sink under
  ``environ[STREAMED]`` (an upload's file is so written once, into its staged file).
  A connection that closes first aborts the sink. Other bodies are spooled in
  ``spool_dir``.
- **Deadlines for unfinished requests.** A head must be complete within
  ``head_timeout`` seconds of its first byte; a body must move at least every
  ``body_timeout`` seconds; otherwise the channel is closed.
- **A stalled reader cannot hold a worker.** Files (downloads, ranges) are sent from
  the event loop; a streamed body blocks its worker only until the client has taken
  nothing for ``send_timeout`` seconds, then the connection is closed.
- **A body that is still arriving costs no worker.** A file object with ``pending()``
  (an upstream file being fetched) is sent from the event loop like a file; while it
  has nothing new, its channel is not polled for writing, and its source wakes the loop
  (``environ[WAKE]``, the server's trigger) when more comes.
- **At the connection limit, the idlest connection goes.** Instead of no longer
  accepting (which took /health away from everyone), the connections that are not being
  served by a worker and have been quiet longest are closed to make room.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer
from waitress.task import WSGITask

from dynopypi.edge.bodies import STREAMED, BodySink, GatedParser, Stream
from dynopypi.errors import Refused

log = logging.getLogger(__name__)

Decide = Callable[[Mapping[str, str], str, str], "Refused | None"]  # headers, peer, path
REFUSED = "dynopypi.refused"  # environ key: the refusal decided before the body was read
WAKE = "dynopypi.wake"  # environ key: wakes the event loop (web/files.py hands it to a Tail)


@dataclass(frozen=True)
class Limits:
    head_timeout: float = 10.0
    body_timeout: float = 30.0
    evict_fraction: float = 0.02  # of the limit, closed at once when it is reached
    spool_dir: str | None = None  # where allowed bodies over 512 KiB wait (None: TMPDIR)
    send_timeout: float = 60.0  # a worker waits this long for a reader that takes nothing


class GuardedTask(WSGITask):  # type: ignore[misc]
    def build_response_header(self) -> bytes:
        """A request refused before its body is answered with ``Connection: close``, and
        the connection closes: its body was never read, so whatever follows on the socket
        is that body, never a request. (waitress ignores the parser's ``connection_close``;
        behind a proxy's kept-alive connection, a body read as the next request would
        answer another client's request: a desync.)"""
        if getattr(self.request, "refusal", None) is not None and not self.close_on_finish:
            self.set_close_on_finish()
        header: bytes = super().build_response_header()
        return header

    def get_environment(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environment()
        refusal = getattr(self.request, "refusal", None)
        if refusal is not None:
            environ[REFUSED] = refusal
        if isinstance(self.request, GatedParser) and (sink := self.request.sink()) is not None:
            environ[STREAMED] = sink
        environ[WAKE] = self.channel.server.pull_trigger  # a growing body has more to send
        return environ


@dataclass
class _Decision:
    """A waitress task: ask ``decide`` in a worker, hand the answer to the event loop."""

    channel: GuardedChannel
    parser: GatedParser

    def service(self) -> None:
        refusal: Refused | None
        sink: BodySink | None = None
        parser = self.parser
        try:
            peer = str(self.channel.addr[0])
            refusal = self.channel.decide(parser.headers, peer, parser.path)
            stream = self.channel.stream
            if refusal is None and stream is not None:
                sink = stream(parser.headers, parser.command, parser.path, parser.chunked)
        except Refused as exc:
            refusal = exc
        except Exception:
            log.exception("deciding on a request body failed; refusing it")
            refusal = Refused("the server could not check this request; try again")
        answer = functools.partial(self.channel.resolve, parser, refusal, sink)
        self.channel.server.trigger.pull_trigger(answer)

    def cancel(self) -> None:
        self.channel.will_close = True


class GuardedChannel(HTTPChannel):  # type: ignore[misc]
    task_class = GuardedTask
    request: GatedParser | None = None  # the request being received (waitress's name)
    connected: bool
    will_close: bool
    close_when_flushed: bool
    outbufs: list[Any]
    decide: Decide  # these three are set on the subclass that ``guard_server`` makes
    limits: Limits
    stream: Stream | None

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

    def writable(self) -> bool:
        """A body still arriving (a ``pending()`` file, e.g. an upstream file being
        fetched) that has nothing to send now is not polled for writing: the loop would
        spin. Its source pulls the trigger when more comes; a broken one closes."""
        head = self.outbufs[0] if self.outbufs else None
        pending = getattr(getattr(head, "file", None), "pending", None)
        if pending is not None and not (self.will_close or self.close_when_flushed):
            state = pending()
            if state == "broken":
                log.info("closing a download whose upstream fetch failed")
                self.will_close = True
                return True
            if state == "wait":
                return False
        return bool(super().writable())

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

    def del_channel(self, map: Any = None) -> None:
        """Every close ends here: a body still arriving is not going to be used."""
        request = self.request
        super().del_channel(map)
        if isinstance(request, GatedParser):
            request.abort_body()

    def cancel(self) -> None:
        """The server stops with requests not yet served: their bodies go too."""
        for request in [self.request, *self.requests]:
            if isinstance(request, GatedParser):
                request.abort_body()
        super().cancel()

    def _ask(self, parser: GatedParser) -> None:
        self.server.add_task(_Decision(self, parser))

    def resolve(
        self, parser: GatedParser, refusal: Refused | None, sink: BodySink | None = None
    ) -> None:
        """In the event loop: act on the decision for the body ``parser`` holds."""
        if self.request is not parser or not self.connected or self.will_close:
            if sink is not None:
                sink.abort()
            return
        if refusal is not None:
            with self.requests_lock:
                parser.refuse(refusal)
                self.requests.append(parser)
                if len(self.requests) == 1:
                    self.server.add_task(self)
                self.request = None
            return
        held = parser.allow(sink)
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


def guard_server(
    server: Any, decide: Decide, limits: Limits = Limits(), stream: Stream | None = None
) -> None:
    """Install the gate, the deadlines and the eviction on a waitress server (each
    listening socket's server object, as ``create_server`` made it)."""
    members = {
        "decide": staticmethod(decide),
        "limits": limits,
        "stream": None if stream is None else staticmethod(stream),
    }
    channel_class = type("DynopypiChannel", (GuardedChannel,), members)
    server.channel_class = channel_class
    server.maintenance = functools.partial(_maintain, server, limits)
    server.readable = functools.partial(_readable, server, limits)
