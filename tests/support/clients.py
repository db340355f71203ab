"""How a test reaches a server under test, and reads what it answers.

- Over HTTP from this process: ``IndexClient``, what every server under test offers a
  test, whether it runs as a subprocess (``support.server.DynoServer``) or in this process
  (``support.inproc.AppServer``). Subclasses supply ``base``, ``request``, ``raw`` and
  ``logs``; the simple-API conveniences are written once on top of them, so a test reads
  the same against either. The media types and the HTML page reader are here too.
- Through the real clients (pip, uv, twine) run as subprocesses that can see only the
  server under test: ``run_client``, ``twine_upload``, ``pip_install``...
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urljoin

import requests
from packaging.utils import canonicalize_name

from support.processes import forbidden_in_unit_run

JSON_V1 = "application/vnd.pypi.simple.v1+json"
JSON_LATEST = "application/vnd.pypi.simple.latest+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
HTML_LATEST = "application/vnd.pypi.simple.latest+html"

# --------------------------------------------------------------------------- reading pages


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


# --------------------------------------------------------------------------- over HTTP


REQUEST_TIMEOUT = 30.0


@dataclass
class RawResponse:
    """An answer to ``raw``: status, lower-cased headers and the body as sent."""

    status: int
    headers: dict[str, str]
    body: bytes


class IndexClient:
    """HTTP against one dynopypi: requests-style calls plus simple-API shortcuts."""

    @property
    def base(self) -> str:
        raise NotImplementedError

    @property
    def label(self) -> str:
        """How failure reports name this server."""
        raise NotImplementedError

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def raw(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | None = None,
        timeout: float = REQUEST_TIMEOUT,
    ) -> RawResponse:
        """Send ``path`` exactly as given (no dot-segment removal, no re-quoting)."""
        raise NotImplementedError

    def logs(self, limit: int = 6000) -> str:
        raise NotImplementedError

    # ---- addresses

    @property
    def index_url(self) -> str:
        return f"{self.base}/simple/"

    def url(self, path: str) -> str:
        return self.base + ("" if path.startswith("/") else "/") + path

    def file_url(self, project_page_url: str, href: str) -> str:
        """Absolute URL of a file link (fragment dropped)."""
        return urljoin(project_page_url, href).split("#", 1)[0]

    # ---- HTTP

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def head(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("allow_redirects", False)
        return self.request("HEAD", path, **kwargs)

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

    # ---- conveniences for the simple API

    def project_html(self, project: str) -> tuple[requests.Response, HtmlPage]:
        r = self.get(f"/simple/{project}/", headers={"Accept": "text/html"})
        assert r.status_code == 200, self.explain(r)
        return r, parse_html(r.text)

    def project_json(self, project: str) -> tuple[requests.Response, dict[str, Any]]:
        r = self.get(f"/simple/{project}/", headers={"Accept": JSON_V1})
        assert r.status_code == 200, self.explain(r)
        data: dict[str, Any] = r.json()
        return r, data

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


def files_of(server: IndexClient, project: str) -> dict[str, dict[str, Any]]:
    """The files of the JSON project page by name, each as PEP 691 gives it (hashes,
    yanked, ...); ``{}`` unless the page answers 200."""
    response = server.request("GET", f"/simple/{project}/", headers={"Accept": JSON_V1})
    if response.status_code != 200:
        return {}
    return {f["filename"]: f for f in response.json()["files"]}


# --------------------------------------------------------------------------- real clients


PIP = [sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check", "--no-input"]
NULL_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}  # never ask a desktop


class HasLogs(Protocol):
    """A server under test (dynopypi, nginx) whose logs explain a failure."""

    def logs(self) -> str: ...


def uv_command() -> list[str]:
    """uv from this venv's bin directory, else as a module of this interpreter."""
    exe = Path(sys.executable).parent / "uv"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "uv"]


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for client subprocesses that can see only the server under test.

    This machine configures extra indexes and find-links through ``PIP_*`` variables and
    pip config files; uv reads ``UV_*`` variables. All of them are dropped, and
    ``PIP_CONFIG_FILE=/dev/null`` makes pip skip every config file.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if extra:
        env.update(extra)
    return env


def run_client(
    args: Sequence[Any],
    *,
    cwd: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 300.0,
) -> subprocess.CompletedProcess[str]:
    """Run a client command with :func:`clean_env` (or exactly ``env``); never leaves the
    process behind."""
    forbidden_in_unit_run(f"the client {' '.join(str(a) for a in args[:4])}")
    return subprocess.run(
        [str(a) for a in args],
        env=dict(env) if env is not None else clean_env(extra_env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def check_ok(result: subprocess.CompletedProcess[str], *servers: HasLogs) -> None:
    """Fail with the command's output and the servers' logs unless it exited 0."""
    logs = "\n".join(server.logs() for server in servers)
    assert result.returncode == 0, (
        f"command failed ({result.returncode}): {result.args}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}\n{logs}"
    )


def client_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """:func:`clean_env` without ``TWINE_*`` either, and a keyring that never asks the
    desktop: for clients that send credentials."""
    env = {k: v for k, v in clean_env().items() if not k.startswith("TWINE_")}
    env.update(NULL_KEYRING)
    env.update(extra or {})
    return env


def twine_upload(
    repository_url: str,
    auth: tuple[str, str],
    files: Sequence[Path],
    *,
    config_file: Path | None = None,
    cert: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """``twine upload`` of ``files`` to ``repository_url`` as ``auth``, never prompting;
    ``cert``: the only CA it trusts (requests lets the machine's CA bundle variables win
    over ``--cert``, so they are cleared)."""
    options = ["--config-file", config_file] if config_file is not None else []
    env = {"TWINE_NON_INTERACTIVE": "1"}
    if cert is not None:
        options += ["--cert", cert]
        env.update(REQUESTS_CA_BUNDLE="", CURL_CA_BUNDLE="")
    return run_client(
        [sys.executable, "-m", "twine", "upload", "--disable-progress-bar", "--non-interactive",
         *options, "--repository-url", repository_url, "-u", auth[0], "-p", auth[1], *files],
        env=client_env(env),
    )  # fmt: skip


def pip_install(
    index_url: str, target: Path, *requirements: str
) -> subprocess.CompletedProcess[str]:
    """``pip install --target`` of ``requirements`` alone (no dependencies) from ``index_url``,
    credentials only from the URL (no keyring)."""
    return run_client(
        [*PIP, "install", "--no-cache-dir", "--no-deps", "--keyring-provider", "disabled",
         "--target", target, "--index-url", index_url, *requirements],
        env=client_env(),
    )  # fmt: skip
