"""The running service: the parts ``build`` made from Settings, served by waitress, stopped
cleanly.

Everything that starts a thread (the watcher, waitress's workers) is started and stopped
here and nowhere else, so tests and the CLI share one lifecycle.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

import waitress.server
from waitress import wasyncore
from waitress.channel import HTTPChannel

from dynopypi import __version__
from dynopypi.audit.hooks import refused_upload
from dynopypi.build import build_parts
from dynopypi.edge.access_log import with_access_log
from dynopypi.edge.auth_request import for_auth_request
from dynopypi.edge.forwarded import parse_networks, trust_proxies
from dynopypi.edge.gatekeeper import body_gate, refusals_first, upload_stream
from dynopypi.edge.guard import Limits, guard_server
from dynopypi.edge.hosts import checked_host
from dynopypi.edge.metered import metrics_app, observer
from dynopypi.errors import ConfigError, Refused
from dynopypi.ops import systemd
from dynopypi.ops.logs import setup_logging
from dynopypi.ops.metrics import Metrics
from dynopypi.settings.config import Settings
from dynopypi.web import create_app
from dynopypi.web.shell import refusal_response

log = logging.getLogger(__name__)


class Server:
    """The running service: index, watcher and HTTP server built from one Settings."""

    def __init__(self, settings: Settings) -> None:
        self.where = settings.storage or ", ".join(str(r) for r in settings.roots)
        parts = build_parts(settings)
        self.settings = settings = parts.settings
        self.cache, self.index, self.store = parts.cache, parts.index, parts.store
        self.renderer, self.auth, self.catalog = parts.renderer, parts.gate, parts.catalog
        self.publisher = parts.publisher
        app = refusals_first(create_app(parts.services), refusal_response)
        self._networks = parse_networks(settings.trusted_proxies)
        self.metrics = parts.services.metrics
        self.audit = parts.services.audit
        health = (settings.health_endpoint, settings.ready_endpoint)
        observe = observer(self.metrics, health) if self.metrics is not None else None
        self.app = trust_proxies(
            with_access_log(for_auth_request(checked_host(app)), observe), self._networks
        )
        self._http: Any = None
        self._metrics_http: Any = None  # --metrics-listen's listener
        self._stopped = threading.Event()
        self._draining = threading.Event()

    def load(self) -> None:
        """Start watching and load the index, without binding a socket: after this,
        ``self.app`` answers as the server will (in-process tests use it this way)."""
        if self.publisher is not None:  # before the first snapshot: nothing stale served
            self.publisher.attach(self.index)
        self.store.load()
        self.catalog.load_upstream()  # cached public projects (upstream may be down)

    def start(self) -> None:
        """Load the index, start watching, bind the socket (serving starts in ``run``)."""
        self.load()
        if self.audit is not None:
            self.audit.start()  # records written off the request path from now on
        self._http = waitress.server.create_server(
            self.app,
            host=self.settings.host,
            port=self.settings.port,
            threads=self.settings.threads,
            ident=f"dynopypi/{__version__}",
            clear_untrusted_proxy_headers=False,  # edge.forwarded decides, per trusted_proxies
            max_request_body_size=self.settings.max_upload_size + 1024 * 1024,
            max_request_header_size=128 * 1024,  # waitress: 256 KiB per connection
            channel_timeout=120,  # idle keep-alive connections
            cleanup_interval=2,  # how often head and body deadlines are checked
            connection_limit=1000,
        )
        root = self.settings.primary_root  # where uploads are stored (and other bodies wait)
        stream = upload_stream(root, self.settings.max_upload_size)
        for dispatcher in list(self._http_map().values()):
            if isinstance(dispatcher, waitress.server.BaseWSGIServer):
                gate = body_gate(self.auth, self._networks, self._refused_early)
                guard_server(dispatcher, gate, Limits(spool_dir=str(root)), stream)
        threading.Thread(target=self._settle, name="dynopypi-settle", daemon=True).start()
        log.info("serving %s on http://%s:%s/", self.where, *self.address)
        if self.metrics is not None and self.settings.metrics_listen:
            self._serve_metrics(self.metrics, self.settings.metrics_listen)

    def _refused_early(self, refusal: Refused, environ: dict[str, Any]) -> None:
        """An upload refused before its body was read (a stranger, a wrong password, a
        throttled address): its audit record, by the trail's refusal budget."""
        if self.audit is not None:
            self.audit.record(refused_upload(refusal.message, environ))

    def _serve_metrics(self, metrics: Metrics, listen: str) -> None:
        """``--metrics-listen``: /metrics alone, without accounts, on an address of its
        own, served by the same loop and workers (so it starts, drains and stops with the
        rest, and its connections are bounded like every other)."""
        host, _, port = listen.rpartition(":")
        try:
            self._metrics_http = waitress.server.create_server(
                metrics_app(metrics), map=self._http_map(), _dispatcher=self._http.task_dispatcher,
                host=host.strip("[]"), port=int(port), ident=f"dynopypi/{__version__}",
                channel_timeout=30, max_request_body_size=0, max_request_header_size=16 * 1024,
            )  # fmt: skip
        except OSError as exc:
            raise ConfigError(
                f"metrics_listen: cannot listen on {listen}: {exc.strerror or exc}; choose "
                "another address or port"
            ) from None
        where = self._metrics_http.effective_host, self._metrics_http.effective_port
        log.info("serving /metrics on http://%s:%s/metrics", *where)

    def _http_map(self) -> dict[int, Any]:
        return self._http.map if hasattr(self._http, "map") else self._http._map  # type: ignore[no-any-return]

    def _settle(self) -> None:
        """After binding: check the store against the loaded snapshot, then render pages."""
        try:
            self.store.settle()
            self.renderer.warm(self.index.snapshot)
        except Exception:
            log.exception("checking the package store failed")

    def reload(self) -> None:
        """SIGHUP: re-read accounts, rights and yank state now."""
        systemd.reloading()
        self.auth.reload(force=True)
        self.store.reload()
        log.info("reloaded accounts, rights and yank state")
        systemd.notify("READY=1")

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._http.effective_host, self._http.effective_port
        return str(host), int(port)

    def run(self, *, drain_timeout: float = 30.0) -> None:
        """Serve until ``drain()``; then finish the requests in flight and return."""
        socket_map = self._http_map()
        deadline: float | None = None
        try:
            while True:
                wasyncore.loop(timeout=0.5, map=socket_map, use_poll=True, count=1)
                if not self._draining.is_set():
                    continue
                if deadline is None:
                    deadline = time.monotonic() + drain_timeout
                    self._stop_listening(socket_map)
                if self._idle(socket_map) or time.monotonic() > deadline:
                    break
        finally:
            self.stop()

    def drain(self) -> None:
        """Stop accepting connections; ``run`` returns once requests in flight are done.

        Safe from a signal handler: it only sets a flag that the serving loop reads.
        """
        self._draining.set()

    def _stop_listening(self, socket_map: dict[int, Any]) -> None:
        systemd.notify("STOPPING=1")
        for dispatcher in list(socket_map.values()):
            if isinstance(dispatcher, waitress.server.BaseWSGIServer):
                wasyncore.dispatcher.close(dispatcher)  # the listener only, not the trigger

    def _idle(self, socket_map: dict[int, Any]) -> bool:
        tasks = self._http.task_dispatcher
        busy = bool(tasks.queue) or tasks.active_count > 0
        for dispatcher in list(socket_map.values()):
            if isinstance(dispatcher, HTTPChannel):
                request = dispatcher.request  # a body on its way (an upload) is in flight too
                receiving = request is not None and request.headers_finished
                if dispatcher.requests or dispatcher.total_outbufs_len or receiving:
                    busy = True
                else:
                    dispatcher.will_close = True  # idle keep-alive connection
        return not busy

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self._http is not None:
            self._http.task_dispatcher.shutdown(timeout=5)
            wasyncore.close_all(self._http_map())
        if self.audit is not None:
            self.audit.stop()  # what the last requests queued is written first
        self.store.stop()
        if self.publisher is not None:
            self.publisher.stop()
        self.cache.close()


def limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each thread its own malloc arena; with waitress's threads holding page
    bodies that fragments into tens of MB (measured: RSS 143 -> 111 MB at 60,000 files).
    Must run before threads start; a no-op where glibc's mallopt is not available."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(-8, arenas)  # M_ARENA_MAX; None: the symbols already loaded


def raise_open_file_limit() -> None:
    """waitress accepts up to 1000 connections; systemd's default soft limit of 1024 open
    files would make accept() fail (and spin) before that. Use the hard limit."""
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def serve(settings: Settings) -> None:
    limit_malloc_arenas()
    raise_open_file_limit()
    setup_logging(settings.verbosity, settings.log_file)
    server = Server(settings)
    log.debug("settings: %s", settings)
    try:
        server.start()
    except BaseException:  # e.g. the port is taken: stop the watcher and readers, then say so
        server.stop()
        raise
    pending_reload = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: finishing requests in flight, then stopping", signum)
        server.drain()

    def on_hup(signum: int, frame: FrameType | None) -> None:
        pending_reload.set()

    def reloader() -> None:  # file reads stay out of the signal handler
        while not server.stopped:
            if pending_reload.wait(timeout=1.0):
                pending_reload.clear()
                server.reload()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, on_hup)
        threading.Thread(target=reloader, name="dynopypi-reload", daemon=True).start()

    def announce() -> None:  # ready for systemd once the disk has been checked
        server.index.verified.wait()
        systemd.notify(f"READY=1\nSTATUS=serving {server.index.snapshot.file_count} files")

    threading.Thread(target=announce, name="dynopypi-ready", daemon=True).start()
    try:
        server.run()
    finally:
        log.info("stopped")
