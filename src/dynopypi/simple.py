"""PEP 503 / 691 / 629 / 658 / 714 / 592 / 700: the simple API pages, all pure.

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
from .model import Project, Rendered
from .negotiate import JSON_V1

API_VERSION = "1.1"


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
