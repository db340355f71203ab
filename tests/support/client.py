"""What every server under test offers a test, whether it runs as a subprocess
(``support.server.DynoServer``) or in this process (``support.inproc.AppServer``).

Subclasses supply ``base``, ``request``, ``raw`` and ``logs``; the simple-API conveniences
here are written once on top of them, so a test reads the same against either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import requests
from packaging.utils import canonicalize_name

from support.helpers import JSON_V1, HtmlPage, parse_html

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
