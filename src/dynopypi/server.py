"""Composition root: build the parts from Settings, run waitress, stop everything cleanly.

Everything that starts a thread (the watcher, waitress's workers) is started and stopped
here and nowhere else, so tests and the CLI share one lifecycle.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import logging.handlers
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FrameType
from typing import Any

import waitress.server
from waitress import wasyncore
from waitress.channel import HTTPChannel

from . import systemd
from .cache import DigestCache
from .config import Settings
from .describe import Describer
from .paths import PathUpdates
from .policy import build_gate
from .proxy import WSGIApp, parse_networks, trust_proxies
from .reader import FileReader
from .reconcile import Reconciler
from .releases import Releases
from .render import Renderer
from .services import Services
from .upstream_build import build_catalog, build_index
from .watcher import Watcher
from .web import create_app
from .yank import YankStore

log = logging.getLogger(__name__)
access_log = logging.getLogger("dynopypi.access")


def setup_logging(settings: Settings) -> None:
    level = {-2: logging.ERROR, -1: logging.WARNING, 0: logging.INFO}.get(
        settings.verbosity, logging.DEBUG
    )
    handler: logging.Handler
    if settings.log_file is not None:
        handler = logging.handlers.WatchedFileHandler(settings.log_file)  # logrotate-safe
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("watchdog").setLevel(logging.WARNING)


def with_access_log(app: WSGIApp) -> WSGIApp:
    """One line per request: method, path, status, bytes, duration, user."""

    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not access_log.isEnabledFor(logging.INFO):
            return app(environ, start_response)
        started = time.perf_counter()
        seen: dict[str, str] = {}

        def recording_start_response(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            seen["status"] = status.split(" ", 1)[0]
            for key, value in headers:
                if key.lower() == "content-length":
                    seen["bytes"] = value
            return start_response(status, headers, *exc)

        result = app(environ, recording_start_response)
        access_log.info(
            "%s %s %s %s %.1fms %s",
            environ.get("REQUEST_METHOD"),
            environ.get("PATH_INFO"),
            seen.get("status", "-"),
            seen.get("bytes", "-"),
            (time.perf_counter() - started) * 1000,
            environ.get("REMOTE_USER") or "-",
        )
        return result

    return middleware


def cache_path(settings: Settings) -> Path:
    """One cache file per set of package directories, so two servers never share rows."""
    key = "\0".join(str(r.resolve()) for r in settings.roots)
    return settings.cache_dir / f"index-{hashlib.sha256(key.encode()).hexdigest()[:16]}.sqlite3"


class Server:
    """The running service: index, watcher and HTTP server built from one Settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        for root in settings.roots:
            root.mkdir(parents=True, exist_ok=True)
        self.cache = DigestCache(cache_path(settings))
        self.yanks = YankStore(settings.roots)
        self.index, self.upstream_store = build_index(settings)
        describer = Describer(settings.hash_algo, self.yanks.lookup)
        self.reconciler = Reconciler(self.index, self.cache, describer)
        self.paths = PathUpdates(self.reconciler)
        self.renderer = Renderer(settings.hash_algo)
        self.auth = build_gate(settings.passwords, settings.authenticate, settings.rights)
        self.watcher = Watcher(
            self.paths,
            rescan_interval=settings.rescan_interval,
            on_state_change=self._state_changed,
        )
        reader = FileReader(self.index, self.cache)
        self.catalog = build_catalog(settings, self.reconciler, reader, self.upstream_store)
        services = Services(
            settings,
            self.index,
            self.reconciler,
            self.paths,
            reader,
            self.renderer,
            self.auth,
            Releases(self.paths, self.yanks),
            self.catalog,
        )
        app = create_app(services)
        self.app = trust_proxies(with_access_log(app), parse_networks(settings.trusted_proxies))
        self._http: Any = None
        self._stopped = threading.Event()
        self._draining = threading.Event()

    def load(self) -> None:
        """Start watching and load the index, without binding a socket: after this,
        ``self.app`` answers as the server will (in-process tests use it this way)."""
        self.watcher.start()  # before the scan, so nothing copied in meanwhile is missed
        if not self.reconciler.load_cached() and not self.reconciler.start_cold():
            self.reconciler.sync()
        self.catalog.load_upstream()  # cached public projects (upstream may be down)

    def start(self) -> None:
        """Load the index, start watching, bind the socket (serving starts in ``run``)."""
        self.load()
        self._http = waitress.server.create_server(
            self.app,
            host=self.settings.host,
            port=self.settings.port,
            threads=self.settings.threads,
            ident="dynopypi",
            clear_untrusted_proxy_headers=False,  # proxy.py decides, per trusted_proxies
            max_request_body_size=self.settings.max_upload_size + 1024 * 1024,
            channel_timeout=300,
            connection_limit=1000,
        )
        threading.Thread(target=self._settle, name="dynopypi-settle", daemon=True).start()
        log.info(
            "serving %s on http://%s:%s/",
            ", ".join(str(r) for r in self.settings.roots),
            *self.address,
        )

    def _settle(self) -> None:
        """After binding: check the disk against the cached snapshot, then render pages."""
        try:
            self.reconciler.completer.done.wait()  # a cold start reads files first
            if not self.index.verified.is_set():
                changed = self.reconciler.sync()
                log.info("package directories checked: %d files changed meanwhile", changed)
            self.renderer.warm(self.index.snapshot)
        except Exception:
            log.exception("checking the package directories failed")

    def _state_changed(self, root: int, path: Path) -> None:
        """Something under <root>/.dynopypi/ changed: pick up yanks made by the CLI."""
        if self.yanks.reload(root):
            self.paths.reyank()

    def reload(self) -> None:
        """SIGHUP: re-read accounts, rights and yank state now."""
        systemd.reloading()
        self.auth.reload(force=True)
        for root in range(len(self.settings.roots)):
            self._state_changed(root, self.settings.roots[root])
        log.info("reloaded accounts, rights and yank state")
        systemd.notify("READY=1")

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._http.effective_host, self._http.effective_port
        return str(host), int(port)

    def run(self, *, drain_timeout: float = 30.0) -> None:
        """Serve until ``drain()``; then finish the requests in flight and return."""
        socket_map = self._http.map if hasattr(self._http, "map") else self._http._map
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
                if dispatcher.requests or dispatcher.total_outbufs_len:
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
            wasyncore.close_all(self._http.map if hasattr(self._http, "map") else self._http._map)
        self.watcher.stop()
        self.cache.close()


def limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each thread its own malloc arena; with waitress's threads holding page
    bodies that fragments into tens of MB (measured: RSS 143 -> 111 MB at 60,000 files).
    Must run before threads start; a no-op where glibc's mallopt is not available."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(-8, arenas)  # M_ARENA_MAX; None: the symbols already loaded


def serve(settings: Settings) -> None:
    limit_malloc_arenas()
    setup_logging(settings)
    server = Server(settings)
    server.start()
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
