"""The real dynopypi app in this process, spoken to over requests without a socket.

``Server(settings).load()`` builds everything ``dynopypi run`` builds (index, watcher,
accounts, the WSGI app) except the listening socket; ``server.app`` is then the WSGI
callable waitress would call. ``WSGIAdapter`` is a requests transport that hands each
prepared request to that callable, so tests keep requests' semantics (redirects, auth,
``files=``, gzip decoding) and read the same as against a subprocess, at no start-up cost.

Only ``Server``, ``load``, ``app``, ``stop`` and HTTP are used: nothing inside the index.
What the app cannot see here is waitress itself (request parsing, size limits, keep-alive,
signals); tests of those stay in ``tests/e2e`` with a real server.
"""

from __future__ import annotations

import copy
import io
import logging
import sys
import threading
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers

from dynopypi.server import Server
from dynopypi.settings.config import build_settings
from support.clients import REQUEST_TIMEOUT, IndexClient, RawResponse
from support.server import Factory

BASE = "http://dynopypi.test"  # reserved TLD: a request that escaped the adapter fails fast

# ``dynopypi run`` flags the tests pass, as settings names (the value follows the flag)
FLAGS = {
    "-P": "passwords",
    "--passwords": "passwords",
    "--rights": "rights",
    "-a": "authenticate",
    "--authenticate": "authenticate",
    "--fallback-url": "fallback_url",
    "--hash-algo": "hash_algo",
    "--welcome": "welcome",
    "--cache-control": "cache_control",
    "--health-endpoint": "health_endpoint",
    "--ready-endpoint": "ready_endpoint",
    "--max-upload-size": "max_upload_size",
    "--trusted-proxies": "trusted_proxies",
    "--x-accel-redirect": "x_accel_redirect",
    "--upstream": "upstream",
    "--upstream-timeout": "upstream_timeout",
    "--min-age": "min_age",
    "--private": "private",
    "--ldap-url": "ldap_url",
    "--ldap-user-dn": "ldap_user_dn",
    "--ldap-timeout": "ldap_timeout",
    "--quota-project": "quota_project",
    "--quota-total": "quota_total",
    "--pages-dir": "pages_dir",
}
SWITCHES = {"-o": "overwrite", "--overwrite": "overwrite", "--private-check": "private_check"}
OFF = {"--no-metrics": "metrics"}


def flags_from_args(package_dir: Path, extra_args: Iterable[str]) -> dict[str, Any]:
    """Settings flags for ``dynopypi run PACKAGE_DIR *extra_args`` (the subset tests use)."""
    roots: list[str] = [str(package_dir)]
    flags: dict[str, Any] = {}
    args = iter(extra_args)
    for arg in args:
        if arg in FLAGS:
            flags[FLAGS[arg]] = next(args)
        elif arg in SWITCHES:
            flags[SWITCHES[arg]] = True
        elif arg in OFF:
            flags[OFF[arg]] = False
        elif arg.startswith("-"):
            raise ValueError(f"in-process server: flag {arg!r} is not supported")
        else:
            roots.append(arg)
    flags["roots"] = roots
    return flags


# --------------------------------------------------------------------------- WSGI transport


def wsgi_environ(
    method: str, target: str, headers: Iterable[tuple[str, str | bytes]], body: bytes
) -> dict[str, Any]:
    """The environ waitress builds for this request line, headers and body."""
    parts = urlsplit(target)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        # waitress: percent-decoded bytes, as latin-1 (PEP 3333)
        "PATH_INFO": unquote_to_bytes(parts.path).decode("latin-1"),
        "QUERY_STRING": parts.query,
        "REQUEST_URI": target,
        "RAW_URI": target,
        "SERVER_NAME": "dynopypi.test",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_SOFTWARE": "dynopypi-inproc",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_HOST": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in headers:
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        key = name.upper().replace("-", "_")
        if key == "TRANSFER_ENCODING":
            continue  # the body is whole here; waitress de-chunks and sets the length
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        environ[key] = f"{environ[key]},{text}" if key in environ else text
    if body or method in ("POST", "PUT", "PATCH"):
        environ["CONTENT_LENGTH"] = str(len(body))
    return environ


def call_app(app: Any, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """Run one request through the WSGI callable: (status line, headers, body)."""
    seen: dict[str, Any] = {}
    written: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if exc_info is not None and "status" in seen:
            raise exc_info[1].with_traceback(exc_info[2])
        for name, value in headers:  # what waitress refuses (it answers 500 instead)
            if "\r" in name + value or "\n" in name + value:
                raise ValueError(f"CR or LF in response header {name!r}: {value!r}")
            (name + value).encode("latin-1")
        seen["status"], seen["headers"] = status, list(headers)
        return written.append

    result = app(environ, start_response)
    try:
        chunks = list(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    headers: list[tuple[str, str]] = seen["headers"]
    body = b"".join(written + chunks)
    has_length = any(k.lower() == "content-length" for k, _ in headers)
    if not has_length and len(chunks) == 1 and not written:
        headers.append(("Content-Length", str(len(body))))  # as waitress does for one chunk
    if environ["REQUEST_METHOD"] == "HEAD":
        body = b""  # waitress never sends a body for HEAD
    return seen["status"], headers, body


def _request_body(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if hasattr(body, "read"):
        data = body.read()
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)
    return b"".join(c.encode("utf-8") if isinstance(c, str) else bytes(c) for c in body)


def _decoded(body: bytes, encoding: str) -> bytes:
    """What urllib3 hands requests for this Content-Encoding (requests asks for gzip)."""
    if not body:  # HEAD, 304
        return body
    if encoding == "gzip":
        return zlib.decompress(body, 16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        try:
            return zlib.decompress(body)
        except zlib.error:
            return zlib.decompress(body, -zlib.MAX_WBITS)
    return body


class WSGIAdapter(BaseAdapter):
    """A requests transport that calls a WSGI app instead of opening a connection."""

    def __init__(self, app: Any, remote_addr: str = "127.0.0.1") -> None:
        super().__init__()
        self.app = app
        self.remote_addr = remote_addr

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, stream: bool = False, **kwargs: Any
    ) -> requests.Response:
        parts = urlsplit(request.url or "")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers: list[tuple[str, str | bytes]] = [("Host", parts.netloc)]
        headers += [(k, v) for k, v in request.headers.items() if k.lower() != "host"]
        body = _request_body(request.body)
        environ = wsgi_environ(request.method or "GET", target, headers, body)
        environ["REMOTE_ADDR"] = environ["REMOTE_HOST"] = self.remote_addr
        status, response_headers, data = call_app(self.app, environ)
        merged: CaseInsensitiveDict[str] = CaseInsensitiveDict()
        for key, value in response_headers:
            merged[key] = f"{merged[key]}, {value}" if key in merged else value
        response = requests.Response()
        response.status_code = int(status.split(" ", 1)[0])
        response.reason = status.split(" ", 1)[1] if " " in status else ""
        response.headers = merged
        response.raw = io.BytesIO(data)
        response._content = _decoded(data, merged.get("Content-Encoding", "").strip().lower())
        response._content_consumed = True
        response.url = request.url or ""
        response.request = request
        response.encoding = get_encoding_from_headers(merged)
        response.connection = self  # type: ignore[assignment]  # requests' own is an HTTPAdapter
        return response

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------- the server


class _Records(logging.Handler):
    """Keeps the app's log lines for failure messages (the subprocess has its stderr)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


class AppServer(IndexClient):
    """dynopypi built from settings in this process; same interface as ``DynoServer``."""

    _saved_level = logging.NOTSET

    def __init__(self, package_dir: Path, work_dir: Path, *extra_args: str) -> None:
        self.package_dir = Path(package_dir)
        self.work_dir = work_dir
        self.extra_args = extra_args
        flags = flags_from_args(self.package_dir, extra_args)
        flags.update(cache_dir=str(work_dir / "cache"), rescan_interval="0")
        self.settings = build_settings(flags, environ={})
        self.server = Server(self.settings)
        self.adapter = WSGIAdapter(self.server.app)
        self._records = _Records()
        self._local = threading.local()
        self._running = False

    @property
    def running(self) -> bool:
        """Loaded and not stopped (there is no process to check)."""
        return self._running

    @property
    def base(self) -> str:
        return BASE

    @property
    def label(self) -> str:
        return f"dynopypi in-process ({self.package_dir})"

    def start(self) -> None:
        logger = logging.getLogger("dynopypi")
        if not any(isinstance(h, _Records) for h in logger.handlers):
            AppServer._saved_level = logger.level  # the first live in-process server
        logger.addHandler(self._records)
        logger.setLevel(logging.INFO)  # as ``dynopypi run`` logs by default
        self.server.load()
        self._running = True

    def stop(self) -> None:
        self._running = False
        self.server.stop()
        logger = logging.getLogger("dynopypi")
        logger.removeHandler(self._records)
        if not any(isinstance(h, _Records) for h in logger.handlers):
            logger.setLevel(AppServer._saved_level)

    def logs(self, limit: int = 6000) -> str:
        text = "\n".join(self._records.lines)
        if len(text) > limit:
            text = "...\n" + text[-limit:]
        return f"----- in-process log -----\n{text}"

    def from_address(self, address: str) -> AppServer:
        """The same server, seen by a client at ``address`` (REMOTE_ADDR): per-address
        policy (throttling) without binding real sockets."""
        peer = copy.copy(self)
        peer.adapter = WSGIAdapter(self.server.app, remote_addr=address)
        peer._local = threading.local()
        return peer

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:  # one per thread: tests make concurrent requests
            session = requests.Session()
            session.trust_env = False  # no proxies or netrc from the machine
            session.mount(BASE + "/", self.adapter)
            self._local.session = session
        return session

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", REQUEST_TIMEOUT)
        url = path if path.startswith("http") else self.url(path)
        if not url.startswith(BASE + "/"):
            raise ValueError(f"in-process server: {url} is not on {BASE}")
        return self._session().request(method, url, **kwargs)

    def raw(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | None = None,
        timeout: float = REQUEST_TIMEOUT,
    ) -> RawResponse:
        """As http.client sends it: Host and ``Accept-Encoding: identity`` unless given."""
        given = dict(headers or {})
        lower = {k.lower() for k in given}
        sent: list[tuple[str, str | bytes]] = []
        if "host" not in lower:
            sent.append(("Host", urlsplit(BASE).netloc))
        if "accept-encoding" not in lower:
            sent.append(("Accept-Encoding", "identity"))
        sent += list(given.items())
        environ = wsgi_environ(method, path, sent, b"")
        status, response_headers, body = call_app(self.server.app, environ)
        return RawResponse(
            status=int(status.split(" ", 1)[0]),
            headers={k.lower(): v for k, v in response_headers},
            body=body,
        )


class AppFactory(Factory[AppServer]):
    """In-process servers: the real app, no socket."""

    kind = "app"

    def make(self, package_dir: Path, work: Path, extra_args: tuple[str, ...]) -> AppServer:
        return AppServer(package_dir, work, *extra_args)
