"""Shared fixtures: the dynopypi server as a real subprocess, and helpers for real clients.

End-to-end tests live in ``tests/e2e``. They start ``python -m dynopypi run`` on a free
loopback port over a temporary package directory and talk to it over HTTP, with
``requests``, ``http.client`` (for paths that must reach the server byte for byte),
``pip``, ``uv`` and ``pypi_simple``.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from packaging.utils import canonicalize_name
from support.clients import clean_env, run_client
from support.net import free_port, healthy, wait_ready
from support.processes import port_was_taken, stop_process

T = TypeVar("T")

STARTUP_TIMEOUT = 60.0  # seconds; the machine is noisy and imports can be slow
REQUEST_TIMEOUT = 30.0
POLL_BOUND = 5.0  # bound for "eventually" assertions (watchdog updates)

JSON_V1 = "application/vnd.pypi.simple.v1+json"
JSON_LATEST = "application/vnd.pypi.simple.latest+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
HTML_LATEST = "application/vnd.pypi.simple.latest+html"


# --------------------------------------------------------------------------- helpers


def poll_until(
    probe: Callable[[], T],
    *,
    timeout: float = POLL_BOUND,
    interval: float = 0.05,
    message: str | Callable[[], str] = "condition not met",
) -> T:
    """Call ``probe`` until it returns a truthy value, at most ``timeout`` seconds.

    Returns that value; on timeout fails the test with ``message`` and the last value.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            pytest.fail(f"{text} (within {timeout:.1f}s); last probe result: {last!r}")
        time.sleep(interval)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    return sha256_bytes(Path(path).read_bytes())


def wheel_metadata(path: Path) -> bytes:
    """The ``*.dist-info/METADATA`` member of a wheel."""
    with zipfile.ZipFile(path) as zf:
        names = [
            n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
        ]
        assert len(names) == 1, f"{path}: METADATA members {names}"
        return zf.read(names[0])


class _AnchorParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[dict[str, Any]] = []
        self.metas: list[dict[str, str | None]] = []
        self._current: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._current = {"attrs": dict(attrs), "text": ""}
            self.anchors.append(self._current)
        elif tag == "meta":
            self.metas.append(dict(attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._current = None

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._current["text"] += data


@dataclass
class Anchor:
    href: str
    text: str
    attrs: dict[str, str | None]


@dataclass
class HtmlPage:
    anchors: list[Anchor]
    metas: list[dict[str, str | None]]

    def meta(self, name: str) -> str | None:
        for m in self.metas:
            if m.get("name") == name:
                return m.get("content")
        return None

    def by_text(self) -> dict[str, Anchor]:
        return {a.text.strip(): a for a in self.anchors}


def parse_html(text: str) -> HtmlPage:
    parser = _AnchorParser()
    parser.feed(text)
    parser.close()
    anchors = [
        Anchor(href=a["attrs"].get("href") or "", text=a["text"], attrs=a["attrs"])
        for a in parser.anchors
    ]
    return HtmlPage(anchors=anchors, metas=parser.metas)


def media_type(response: requests.Response) -> str:
    return response.headers.get("Content-Type", "").split(";")[0].strip().lower()


# --------------------------------------------------------------------------- corpus

FIXED_MTIME = 1614834367  # 2021-03-04T05:06:07Z, whole seconds (HTTP dates have no fraction)


@dataclass
class Corpus:
    """A package directory with known contents, next to files that must stay private."""

    root: Path
    pkgdir: Path
    files: dict[str, Path]  # file name -> path (file names are unique in the corpus)
    projects: dict[str, list[str]]  # normalized project name -> its file names
    secret: Path

    def relpath(self, filename: str) -> str:
        return self.files[filename].relative_to(self.pkgdir).as_posix()


def build_corpus(root: Path) -> Corpus:
    """The standard read-only corpus used by most e2e modules."""
    from support.fakedist import make_sdist, make_wheel

    pkgdir = root / "pkgs"
    sub = pkgdir / "sub"
    deeper = sub / "deeper"
    deeper.mkdir(parents=True)
    made: list[tuple[str, Path]] = [
        ("foo-bar", make_wheel(pkgdir, "Foo.Bar", "1.0")),
        ("foo-bar", make_sdist(pkgdir, "Foo.Bar", "1.0")),
        ("foo-bar", make_wheel(pkgdir, "Foo.Bar", "1.1", requires_python=">=3.8")),
        ("lib", make_wheel(pkgdir, "lib", "1.0")),
        ("lib", make_wheel(pkgdir, "lib", "2.0")),
        ("app", make_wheel(pkgdir, "app", "1.0", requires=["lib>=1"])),
        ("zeta", make_wheel(sub, "zeta", "0.1")),
        ("zeta", make_wheel(deeper, "zeta", "0.2")),
        ("big", make_wheel(pkgdir, "big", "1.0", payload=bytes(range(256)) * 1200)),
        ("ver-sort", make_wheel(pkgdir, "ver_sort", "1.9")),
        ("ver-sort", make_wheel(pkgdir, "ver_sort", "1.10")),
        ("ver-sort", make_wheel(pkgdir, "ver_sort", "2.0rc1")),
    ]
    # files that are not distributions: never listed
    (pkgdir / "notapackage.txt").write_text("not a package\n")
    (pkgdir / "foo.whl").write_bytes(b"PK not really a wheel")
    (sub / "README").write_text("hello\n")
    secret = root / "secret"
    secret.write_bytes(b"TOP-SECRET-CONTENT-0123456789\n")

    files: dict[str, Path] = {}
    projects: dict[str, list[str]] = {}
    for project, path in made:
        assert path.name not in files
        files[path.name] = path
        projects.setdefault(project, []).append(path.name)
    for path in [*files.values(), pkgdir / "notapackage.txt", pkgdir / "foo.whl"]:
        os.utime(path, (FIXED_MTIME, FIXED_MTIME))
    return Corpus(root=root, pkgdir=pkgdir, files=files, projects=projects, secret=secret)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return build_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def server(module_server_factory: ServerFactory, corpus: Corpus) -> DynoServer:
    """One server per module over the standard corpus (tests must not modify it)."""
    return module_server_factory(corpus.pkgdir)


# --------------------------------------------------------------------------- server


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class DynoServer:
    """A running ``python -m dynopypi run`` subprocess."""

    package_dir: Path
    work_dir: Path
    extra_args: tuple[str, ...] = ()
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    _logs: list[Any] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def index_url(self) -> str:
        return f"{self.base}/simple/"

    @property
    def stderr_path(self) -> Path:
        return self.work_dir / "server.stderr"

    @property
    def stdout_path(self) -> Path:
        return self.work_dir / "server.stdout"

    def url(self, path: str) -> str:
        return self.base + ("" if path.startswith("/") else "/") + path

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "dynopypi",
            "run",
            "-p",
            str(self.port),
            "-i",
            "127.0.0.1",
            "--cache-dir",
            str(self.work_dir / "cache"),
            "--rescan-interval",
            "0",
            str(self.package_dir),
            *self.extra_args,
        ]

    # ---- lifecycle

    def start(self) -> None:
        (self.work_dir / "cache").mkdir(parents=True, exist_ok=True)
        last_error: str = ""
        for _attempt in range(3):  # the free port can be stolen between bind and use
            self.port = free_port()
            out = self.stdout_path.open("ab")
            err = self.stderr_path.open("ab")
            log_start = err.tell()
            self._logs = [out, err]
            env = dict(os.environ)
            env["PYTHONUNBUFFERED"] = "1"
            self.proc = subprocess.Popen(
                self.command(),
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
            last_error = wait_ready(healthy(self.port), timeout=STARTUP_TIMEOUT, process=self.proc)
            if not last_error:
                return
            self.stop()
            if not port_was_taken(self.stderr_path, log_start):
                break  # a real start-up failure, not a lost race for the port
        pytest.fail(
            f"dynopypi did not become ready: {last_error}\ncommand: {self.command()}\n{self.logs()}"
        )

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
        for fh in self._logs:
            fh.close()
        self._logs = []

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def logs(self, limit: int = 6000) -> str:
        parts = []
        for label, path in (("stderr", self.stderr_path), ("stdout", self.stdout_path)):
            try:
                text = path.read_text(errors="replace")
            except FileNotFoundError:
                text = ""
            if len(text) > limit:
                text = "...\n" + text[-limit:]
            parts.append(f"----- server {label} -----\n{text}")
        return "\n".join(parts)

    def explain(self, response: requests.Response | RawResponse | None = None) -> str:
        """A message for assertions: the response (if any) and the server's logs."""
        head = ""
        if isinstance(response, requests.Response):
            body = response.content[:1500]
            head = (
                f"{response.request.method} {response.url} -> {response.status_code}\n"
                f"headers: {dict(response.headers)}\nbody: {body!r}\n"
            )
        elif isinstance(response, RawResponse):
            head = (
                f"-> {response.status}\nheaders: {response.headers}\n"
                f"body: {response.body[:1500]!r}\n"
            )
        return head + self.logs()

    # ---- HTTP

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", REQUEST_TIMEOUT)
        url = path if path.startswith("http") else self.url(path)
        return requests.request(method, url, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def head(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("allow_redirects", False)
        return self.request("HEAD", path, **kwargs)

    def raw(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | None = None,
        timeout: float = REQUEST_TIMEOUT,
    ) -> RawResponse:
        """Send ``path`` exactly as given (no dot-segment removal, no re-quoting)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, headers=dict(headers or {}))
            resp = conn.getresponse()
            body = resp.read()
            return RawResponse(
                status=resp.status,
                headers={k.lower(): v for k, v in resp.getheaders()},
                body=body,
            )
        finally:
            conn.close()

    # ---- conveniences for the simple API

    def project_html(self, project: str) -> tuple[requests.Response, HtmlPage]:
        r = self.get(f"/simple/{project}/", headers={"Accept": "text/html"})
        assert r.status_code == 200, self.explain(r)
        return r, parse_html(r.text)

    def project_json(self, project: str) -> tuple[requests.Response, dict[str, Any]]:
        r = self.get(f"/simple/{project}/", headers={"Accept": JSON_V1})
        assert r.status_code == 200, self.explain(r)
        return r, r.json()

    def listed_files(self, project: str) -> dict[str, str] | None:
        """``{filename: sha256}`` from the JSON project page, ``None`` if it is a 404."""
        r = self.get(f"/simple/{project}/", headers={"Accept": JSON_V1})
        if r.status_code == 404:
            return None
        assert r.status_code == 200, self.explain(r)
        return {f["filename"]: f["hashes"]["sha256"] for f in r.json()["files"]}

    def listed_projects(self) -> set[str]:
        r = self.get("/simple/", headers={"Accept": JSON_V1})
        assert r.status_code == 200, self.explain(r)
        return {canonicalize_name(p["name"]) for p in r.json()["projects"]}

    def file_url(self, project_page_url: str, href: str) -> str:
        """Absolute URL of a file link (fragment dropped)."""
        return urljoin(project_page_url, href).split("#", 1)[0]


_LIVE: list[DynoServer] = []


class ServerFactory:
    """Starts servers; stops all of them at teardown."""

    def __init__(self, tmp_root: Path) -> None:
        self.tmp_root = tmp_root
        self.servers: list[DynoServer] = []

    def __call__(self, package_dir: Path, *extra_args: str) -> DynoServer:
        work = self.tmp_root / f"server{len(self.servers)}"
        work.mkdir(parents=True, exist_ok=True)
        server = DynoServer(package_dir=Path(package_dir), work_dir=work, extra_args=extra_args)
        self.servers.append(server)
        _LIVE.append(server)
        server.start()
        return server

    def close(self) -> None:
        for server in self.servers:
            server.stop()
            if server in _LIVE:
                _LIVE.remove(server)


@pytest.fixture
def server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    """Per-test servers: ``server_factory(package_dir, *extra_args)``."""
    factory = ServerFactory(tmp_path_factory.mktemp("srv"))
    yield factory
    factory.close()


@pytest.fixture(scope="module")
def module_server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    """Servers shared by the tests of one module (for read-only package directories)."""
    factory = ServerFactory(tmp_path_factory.mktemp("modsrv"))
    yield factory
    factory.close()


@pytest.fixture(scope="session")
def helpers() -> SimpleNamespace:
    """Helper functions for the tests (conftest modules are not imported directly)."""
    return SimpleNamespace(
        clean_env=clean_env,
        poll_until=poll_until,
        sha256_bytes=sha256_bytes,
        sha256_file=sha256_file,
        wheel_metadata=wheel_metadata,
        parse_html=parse_html,
        media_type=media_type,
        run_client=run_client,
        urlsplit=urlsplit,
        JSON_V1=JSON_V1,
        JSON_LATEST=JSON_LATEST,
        HTML_V1=HTML_V1,
        HTML_LATEST=HTML_LATEST,
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Iterator[None] | Any:
    """On failure, attach the logs of every server that is alive to the report."""
    report = yield
    if report.failed:
        for server in list(_LIVE):
            report.sections.append(
                (f"dynopypi on port {server.port} ({server.package_dir})", server.logs())
            )
    return report
