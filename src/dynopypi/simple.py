"""PEP 503 / 691 / 629 / 658 / 714 / 592 / 700: negotiation and rendering, all pure.

Pages are built as one PEP 691-shaped dict, then rendered to JSON or HTML from it, so the
two formats cannot drift apart. Links are relative (``../../packages/...``) so a page is
right behind any proxy prefix with no "public URL" setting.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timezone
from html import escape
from typing import Any
from urllib.parse import quote

from .dists import DistFile
from .errors import NoAcceptableFormat
from .model import Project, Rendered

API_VERSION = "1.1"
JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
JSON_LATEST = "application/vnd.pypi.simple.latest+json"
HTML_LATEST = "application/vnd.pypi.simple.latest+html"
TEXT_HTML = "text/html"

# media type a client may ask for -> the one we answer with
_ALIASES = {
    JSON_V1: JSON_V1,
    JSON_LATEST: JSON_V1,
    HTML_V1: HTML_V1,
    HTML_LATEST: HTML_V1,
    TEXT_HTML: TEXT_HTML,
}
_DEFAULT = TEXT_HTML  # what */* and a missing Accept get: every client understands it
_WILDCARDS = {
    "*/*": (TEXT_HTML, HTML_V1, JSON_V1),
    "text/*": (TEXT_HTML,),
    "application/*": (JSON_V1, HTML_V1),
}
# when q-values tie, prefer the richer, versioned formats
_PREFERENCE = {JSON_V1: 0, JSON_LATEST: 0, HTML_V1: 1, HTML_LATEST: 1, TEXT_HTML: 2}


def _parse_accept(header: str) -> list[tuple[float, int, int, str]]:
    """(q, specificity rank, position, media type), best first."""
    ranked = []
    for position, part in enumerate(header.split(",")):
        media, *params = (piece.strip() for piece in part.split(";"))
        media = media.lower()
        if not media:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = max(0.0, min(1.0, float(value)))
                except ValueError:
                    q = 0.0
        ranked.append((q, _PREFERENCE.get(media, 3), position, media))
    ranked.sort(key=lambda item: (-item[0], item[1], item[2]))
    return ranked


def choose_content_type(accept: str | None, format_param: str | None = None) -> str:
    """The media type to answer with; ``NoAcceptableFormat`` when none we serve is acceptable."""
    if format_param:
        chosen = _ALIASES.get(format_param.strip().lower())
        if chosen is None:
            raise NoAcceptableFormat(
                f"format={format_param!r} is not served; use one of {', '.join(_ALIASES)}"
            )
        return chosen
    if not accept or not accept.strip():
        return _DEFAULT
    ranked = _parse_accept(accept)
    # a type refused with q=0 stays refused even when a wildcard would admit it
    refused = {_ALIASES[media] for q, _r, _p, media in ranked if q <= 0 and media in _ALIASES}
    for q, _rank, _pos, media in ranked:
        if q <= 0:
            continue
        if media in _ALIASES and _ALIASES[media] not in refused:
            return _ALIASES[media]
        wildcard = _WILDCARDS.get(media)
        if wildcard is not None:
            for candidate in wildcard:
                if candidate not in refused:
                    return candidate
    raise NoAcceptableFormat(
        f"none of the media types in Accept: {accept!r} is served; use one of {', '.join(_ALIASES)}"
    )


def rfc3339(ns: int) -> str:
    moment = datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def file_url(dist: DistFile) -> str:
    """Relative to /simple/<project>/."""
    return "../../packages/" + quote_path(dist.relpath)


def quote_path(relpath: str) -> str:
    return quote(relpath, safe="/!$&'()*+,;=:@-._~")


def project_dict(project: Project, hash_algo: str | None) -> dict[str, Any]:
    files = []
    for dist in project.files:
        hashes = {"sha256": dist.sha256}
        if hash_algo and hash_algo != "sha256":
            digests = dist.digests
            if hash_algo in digests:
                hashes[hash_algo] = digests[hash_algo]
        metadata: dict[str, str] | bool = (
            {"sha256": dist.metadata_sha256} if dist.metadata_sha256 else False
        )
        files.append(
            {
                "filename": dist.filename,
                "url": file_url(dist),
                "hashes": hashes,
                "requires-python": dist.requires_python,
                "core-metadata": metadata,
                "dist-info-metadata": metadata,
                "yanked": dist.yanked if dist.yanked else dist.is_yanked,
                "size": dist.size,
                "upload-time": rfc3339(dist.upload_time_ns),
            }
        )
    return {
        "meta": {"api-version": API_VERSION},
        "name": project.name,
        "files": files,
        "versions": project.versions,
    }


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


_HTML_HEAD = (
    "<!DOCTYPE html>\n<html>\n  <head>\n"
    f'    <meta name="pypi:repository-version" content="{API_VERSION}">\n'
    "    <title>{title}</title>\n  </head>\n  <body>\n"
)
_HTML_TAIL = "  </body>\n</html>\n"


def _project_html(page: dict[str, Any], hash_algo: str | None, display: str) -> bytes:
    lines = [_HTML_HEAD.format(title=f"Links for {escape(display)}")]
    lines.append(f"    <h1>Links for {escape(display)}</h1>\n")
    for f in page["files"]:
        href = f["url"]
        algo = hash_algo if hash_algo and hash_algo in f["hashes"] else None
        if algo:
            href += f"#{algo}={f['hashes'][algo]}"
        attrs = [f'href="{escape(href)}"']
        if f["requires-python"]:
            attrs.append(f'data-requires-python="{escape(f["requires-python"])}"')
        if f["core-metadata"]:
            value = escape(f"sha256={f['core-metadata']['sha256']}")
            attrs.append(f'data-core-metadata="{value}"')
            attrs.append(f'data-dist-info-metadata="{value}"')
        if f["yanked"] is not False:
            reason = f["yanked"] if isinstance(f["yanked"], str) else ""
            attrs.append(f'data-yanked="{escape(reason)}"')
        lines.append(f"    <a {' '.join(attrs)}>{escape(f['filename'])}</a><br>\n")
    lines.append(_HTML_TAIL)
    return "".join(lines).encode()


def render_project(project: Project, content_type: str, hash_algo: str | None) -> Rendered:
    """Cached on the project object: a project's pages are built once per change."""
    cached = project.renders.get(content_type)
    if cached is not None:
        return cached
    page = project_dict(project, hash_algo)
    if content_type == JSON_V1:
        body = _json(page)
    else:
        body = _project_html(page, hash_algo, project.display_name)
    rendered = Rendered.of(body, _with_charset(content_type))
    project.renders[content_type] = rendered
    return rendered


def render_index(projects: Iterable[Project], content_type: str) -> Rendered:
    if content_type == JSON_V1:
        data = {
            "meta": {"api-version": API_VERSION},
            "projects": [{"name": p.display_name} for p in projects],
        }
        return Rendered.of(_json(data), JSON_V1)
    lines = [_HTML_HEAD.format(title="Simple index")]
    lines.extend(f'    <a href="{p.name}/">{escape(p.display_name)}</a><br>\n' for p in projects)
    lines.append(_HTML_TAIL)
    return Rendered.of("".join(lines).encode(), _with_charset(content_type))


def _with_charset(content_type: str) -> str:
    return content_type if content_type == JSON_V1 else f"{content_type}; charset=utf-8"
