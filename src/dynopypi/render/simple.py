"""PEP 503 / 691 / 629 / 658 / 714 / 592 / 700: the simple API pages, all pure.

Pages are built as one PEP 691-shaped dict, then rendered to JSON or HTML from it, so the
two formats cannot drift apart. Links are relative (``../../packages/...``) so a page is
right behind any proxy prefix with no "public URL" setting.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from dynopypi.core.model import Project, Rendered
from dynopypi.dists.names import DistFile
from dynopypi.render.negotiate import JSON_V1
from dynopypi.render.templates import Markup, Template, escape, join

API_VERSION = "1.1"
HELD_KEY = "_dynopypi-held"  # meta: the upstream files the cooldown holds back


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
            if digests.get(hash_algo, "").strip("0"):  # all zeros: not known (upstream)
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
                "yanked": dist.yanked if dist.yanked else dist.is_yanked,
                "size": dist.size,
                "upload-time": rfc3339(dist.upload_time_ns),
            }
        )
    meta: dict[str, Any] = {"api-version": API_VERSION}
    if project.held:  # a key with "_" is the index's own (PEP 700); clients ignore it
        meta[HELD_KEY] = [
            {
                "filename": h.filename,
                "version": str(h.version),
                "served-from": None if h.until_ns is None else rfc3339(h.until_ns),
            }
            for h in project.held
        ]
    return {
        "meta": meta,
        "name": project.name,
        "files": files,
        "versions": project.versions,
    }


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


# one page shell for the index and the project pages (PEP 503 with the PEP 629 version)
PAGE = Template(
    "<!DOCTYPE html>\n<html>\n  <head>\n"
    f'    <meta name="pypi:repository-version" content="{API_VERSION}">\n'
    "    <title>{title}</title>\n  </head>\n  <body>\n{body}  </body>\n</html>\n"
)
_HEADING = Template("    <h1>{title}</h1>\n")
_FILE_LINK = Template(
    '    <a href="{href}"{requires_python}{metadata}{yanked}>{filename}</a><br>\n'
)
_REQUIRES_PYTHON = Template(' data-requires-python="{value}"')
# PEP 714 renamed the attribute; old pip reads only the old name, so both are sent
_METADATA = Template(' data-core-metadata="{value}" data-dist-info-metadata="{value}"')
_YANKED = Template(' data-yanked="{value}"')
_PROJECT_LINK = Template('    <a href="{name}/">{display_name}</a><br>\n')
_ABSENT = Markup()


def _file_link(f: dict[str, Any], hash_algo: str | None) -> Markup:
    href = f["url"]
    if hash_algo and hash_algo in f["hashes"]:
        href += f"#{hash_algo}={f['hashes'][hash_algo]}"
    yanked = f["yanked"]
    return _FILE_LINK.render(
        href=href,
        requires_python=(
            _REQUIRES_PYTHON.render(value=f["requires-python"]) if f["requires-python"] else _ABSENT
        ),
        metadata=(
            _METADATA.render(value=f"sha256={f['core-metadata']['sha256']}")
            if f["core-metadata"]
            else _ABSENT
        ),
        yanked=(
            _YANKED.render(value=yanked if isinstance(yanked, str) else "")
            if yanked is not False
            else _ABSENT
        ),
        filename=f["filename"],
    )


def _project_html(page: dict[str, Any], hash_algo: str | None, display: str) -> bytes:
    title = escape(f"Links for {display}")  # once, for both places it appears
    links = [_HEADING.render(title=title)]
    links += [_file_link(f, hash_algo) for f in page["files"]]
    return PAGE.render(title=title, body=join(links)).encode()


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
    links = join(_PROJECT_LINK.render(name=p.name, display_name=p.display_name) for p in projects)
    body = PAGE.render(title="Simple index", body=links)
    return Rendered.of(body.encode(), _with_charset(content_type))


def _with_charset(content_type: str) -> str:
    return content_type if content_type == JSON_V1 else f"{content_type}; charset=utf-8"
