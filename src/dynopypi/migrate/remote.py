"""A simple index read from outside (``Remote``): its project list, a project's page
(PEP 691 JSON when offered, else PEP 503 HTML), a core metadata file, and a package file
as a stream.

Whatever the other end is (Nexus, Artifactory, devpi, pypiserver, another dynopypi, or
something hostile), every exchange is bounded the way the upstream cache bounds its own
(``upstream.http``): silence is at most ``timeout`` per read, a whole page or small file
has a deadline and a size cap, and a package file must keep coming at ``MIN_RATE`` on
average and may not exceed the size its page promised (or ``MAX_UNKNOWN_SIZE``). Only the
index's own host and port are reached, plus the hosts named with ``--allow-host`` (a
Nexus or Artifactory whose files live elsewhere), for redirects too (``upstream.reach``).
Credentials come from the URL, ``~/.netrc`` or the caller, and go to the index's own
host only (``upstream.origin``).
"""

from __future__ import annotations

import base64
import email.utils
import json
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

from dynopypi.dists.names import NormalizedName, is_valid_project_name, normalize
from dynopypi.upstream.download import MAX_UNKNOWN_SIZE, MIN_RATE
from dynopypi.upstream.http import BOUND, FetchFailed, Missing, Response, open_url, read_bounded
from dynopypi.upstream.origin import Origin, origin_of
from dynopypi.upstream.page import ACCEPT, BadPage, UpstreamFile, fetch_page, parse_page
from dynopypi.upstream.reach import Reach, Unreachable, endpoint

MAX_METADATA = 4 * 1024 * 1024  # a core metadata file bigger than this is refused
MAX_PROJECTS = 1_000_000
CHUNK = 256 * 1024


class RemoteError(OSError):
    """The index could not answer what was asked (down, 4xx/5xx, too slow, too big, a
    broken page, a link to a host not allowed); the message says which and where."""


@dataclass(frozen=True)
class Listing:
    """One project's page as read: the files it lists, and why others were skipped."""

    project: NormalizedName
    files: list[UpstreamFile]
    skipped: list[str]


def failed(exc: FetchFailed | Missing) -> RemoteError:
    """The failure in one line, with what to do when that is clear."""
    text = str(exc)
    if " answered 401" in text or " answered 403" in text:
        text += (
            "; give the index's credentials in ~/.netrc (machine HOST login USER password "
            "PASSWORD) or in DYNOPYPI_SOURCE_USER and DYNOPYPI_SOURCE_PASSWORD"
        )
    elif ": not fetched: " in text:  # reach's words are the upstream cache's
        text = text.split(": not fetched: ", 1)[0] + ": not the index's host (--allow-host)"
    return RemoteError(text)


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class _Names(HTMLParser):
    """The link texts of a PEP 503 root page: the project names."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.names: list[str] = []
        self._open = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._open = True
            self.names.append("")

    def handle_data(self, data: str) -> None:
        if self._open and len(self.names) <= MAX_PROJECTS:
            self.names[-1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._open = False


def parse_root(body: bytes, content_type: str) -> list[NormalizedName]:
    """The projects of a ``/simple/`` page (JSON or HTML), normalized, sorted, once each;
    names that are not project names are left out. Raise ``BadPage``."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media.endswith("+json") or media == "application/json":
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise BadPage(f"not JSON: {str(exc)[:100]}") from None
        listed = data.get("projects") if isinstance(data, dict) else None
        if not isinstance(listed, list):
            raise BadPage("a PEP 691 index page needs a list of projects")
        names = [str(p.get("name", "")) for p in listed if isinstance(p, dict)]
    else:
        parser = _Names()
        parser.feed(body.decode("utf-8", errors="replace"))
        parser.close()
        names = parser.names
    found = {normalize(n.strip()) for n in names[:MAX_PROJECTS] if is_valid_project_name(n.strip())}
    return sorted(found)


class Remote:
    """One index, as ``https://host/path/simple/``."""

    def __init__(
        self,
        url: str,
        *,
        allow_hosts: tuple[str, ...] = (),
        timeout: float = 30.0,
        auth: str | None = None,
    ) -> None:
        origin = origin_of(url)
        self.origin = Origin(origin.url, auth or origin.auth)
        self.reach = Reach([self.origin.url], allow_hosts)
        self.timeout = timeout

    @property
    def url(self) -> str:
        """The index's URL without credentials (what is shown)."""
        return self.origin.url

    def _deadline(self) -> float:
        return time.monotonic() + BOUND * self.timeout

    def _page(self, url: str) -> tuple[bytes, str, str]:
        """(body, content type, final URL) of one page; ``Missing`` for a 404/410."""
        try:
            page = fetch_page(
                self.origin,
                self.reach,
                url,
                ACCEPT,
                etag=None,
                last_modified=None,
                timeout=self.timeout,
                deadline=self._deadline(),
            )
        except FetchFailed as exc:
            raise failed(exc) from None
        return page.body, page.content_type, page.url

    def projects(self) -> list[NormalizedName]:
        """Every project the index lists."""
        try:
            body, content_type, _url = self._page(self.url)
        except Missing:
            raise RemoteError(
                f"{self.url} answered 404: is it the index's simple URL (often .../simple/)?"
            ) from None
        try:
            return parse_root(body, content_type)
        except BadPage as exc:
            raise RemoteError(f"{self.url}: {exc}") from None

    def page(self, project: NormalizedName) -> Listing:
        """A project's page, read into records; a project the index does not have is an
        empty listing."""
        try:
            body, content_type, final = self._page(urljoin(self.url, f"{project}/"))
        except Missing:
            return Listing(project, [], [])
        try:
            files, skipped = parse_page(body, content_type, final, project)
        except BadPage as exc:
            raise RemoteError(f"{urljoin(self.url, project)}/: {exc}") from None
        return Listing(project, files, skipped)

    def reachable(self, url: str) -> str | None:
        """None if ``url`` may be fetched, else why not (and what to do)."""
        try:
            self.reach.check_url(url)
        except Unreachable:
            host, port = endpoint(url)
            return f"{url} is not on the index's host; allow it with --allow-host {host}:{port}"
        return None

    def small(self, url: str, limit: int = MAX_METADATA) -> bytes:
        """A small file (core metadata), whole."""
        try:
            response = open_url(
                url, self.origin, self.reach, {}, timeout=self.timeout, deadline=self._deadline()
            )
            return read_bounded(response, limit, url)
        except (FetchFailed, Missing) as exc:
            raise failed(exc) from None

    def open(self, url: str, size: int | None) -> Download:
        """A package file as a stream (``Download``)."""
        started = time.monotonic()
        try:
            response = open_url(
                url,
                self.origin,
                self.reach,
                {"Accept-Encoding": "identity"},
                timeout=self.timeout,
                deadline=started + BOUND * self.timeout + CHUNK / MIN_RATE,
            )
        except (FetchFailed, Missing) as exc:
            raise failed(exc) from None
        return Download(response, size, started, self.timeout)


class Download:
    """A package file's body as it arrives: at most the promised size (else
    ``MAX_UNKNOWN_SIZE``), at ``MIN_RATE`` on average or cut; ``last_modified_ns`` from
    its ``Last-Modified`` header, if it has one."""

    def __init__(self, response: Response, size: int | None, started: float, timeout: float):
        self.response = response
        self.limit = size if size is not None else MAX_UNKNOWN_SIZE
        self.started = started
        self.timeout = timeout
        self.received = 0
        self.last_modified_ns = http_date_ns(response.headers.get("Last-Modified"))
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > self.limit:
            response.close()
            raise RemoteError(f"{response.url}: {length} bytes, over the {self.limit} expected")

    def read(self, size: int = CHUNK) -> bytes:
        self.response.extend(
            self.started + BOUND * self.timeout + (self.received + size) / MIN_RATE
        )
        try:
            data = self.response.read1(min(size, CHUNK))
        except FetchFailed as exc:
            raise RemoteError(str(exc)) from None
        self.received += len(data)
        if self.received > self.limit:
            raise RemoteError(f"{self.response.url}: more than the {self.limit} bytes expected")
        return data

    def close(self) -> None:
        self.response.close()

    def __enter__(self) -> Download:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()


def http_date_ns(value: str | None) -> int | None:
    """An HTTP date (``Last-Modified``) as ns since the epoch; None if absent or odd."""
    if not value or len(value) > 64:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return int(moment.timestamp()) * 1_000_000_000
