"""The web UI's project and version pages (``/project/NAME/``, ``/project/NAME/VERSION/``)
and the search results page. Pure: a project and what is known about its files in, bytes
out; ``renderer`` keeps the results per project change.

A page shows exactly the files of the ``Project`` it is given: the routes pass the view
the simple page would serve to the same client (cooldown applied), so no page lists a
file the index would not hand out. What a file's metadata says (summary, description,
classifiers, URLs, dependencies) is read from its stored core metadata, a wheel's first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from packaging.version import Version

from dynopypi.core.model import Project
from dynopypi.dists.metadata import CoreMetadata
from dynopypi.dists.names import DistFile
from dynopypi.render.layout import page, snippet
from dynopypi.render.pypi_json import latest_version
from dynopypi.render.readme import render_description
from dynopypi.render.simple import quote_path
from dynopypi.render.templates import Markup, Template, escape, join


def _no_uploader(_dist: DistFile) -> str | None:
    return None


@dataclass(frozen=True)
class Known:
    """What a page knows beyond the files: their metadata, whether each was cached from
    upstream, and who uploaded it (the audit log's word; None: not known, not shown)."""

    metadata: Callable[[DistFile], CoreMetadata | None]
    is_upstream: Callable[[DistFile], bool]
    uploader: Callable[[DistFile], str | None] = _no_uploader


@dataclass(frozen=True)
class Hit:
    """One search result."""

    name: str
    display_name: str
    version: str
    summary: str


_RELEASE = Template(
    """<h1>{display} <span class="muted">{version}</span></h1>
<p class="summary">{summary}</p>
{markers}<section aria-labelledby="install">
<h2 id="install">Install</h2>
{snippets}</section>
<div class="columns">
<section class="description" aria-labelledby="about">
<h2 id="about">Description</h2>
{description}</section>
<aside class="facts" aria-label="Project facts">
{facts}</aside>
</div>
<section aria-labelledby="files">
<h2 id="files">Files of {version}</h2>
<div class="table-wrap" tabindex="0" role="region" aria-labelledby="files"><table class="list">
<thead><tr><th scope="col">File</th><th scope="col">Size</th><th scope="col">Uploaded</th>\
<th scope="col">SHA256</th></tr></thead>
<tbody>
{files}</tbody></table></div>
</section>
<section aria-labelledby="history">
<h2 id="history">Release history</h2>
<div class="table-wrap" tabindex="0" role="region" aria-labelledby="history">\
<table class="list">
<thead><tr><th scope="col">Version</th><th scope="col">Uploaded</th><th scope="col">Notes</th>\
</tr></thead>
<tbody>
{releases}</tbody></table></div>
</section>
"""
)
_FILE_ROW = Template(
    '<tr><td><a href="{href}">{filename}</a> {badges}</td><td>{size}</td><td>{when}</td>'
    '<td class="hash"><code>{sha256}</code></td></tr>\n'
)
_RELEASE_ROW = Template(
    '<tr><td><a href="{href}"{current}>{version}</a></td><td>{when}</td><td>{notes}</td></tr>\n'
)
_TIME = Template('<time datetime="{iso}">{text}</time>')
_BADGE = Template('<span class="badge {kind}">{text}</span>')
_FACT = Template("<h2>{title}</h2>\n<ul>\n{items}</ul>\n")
_ITEM = Template("<li>{text}</li>\n")
_LINK_ITEM = Template('<li><a href="{href}" rel="nofollow noopener noreferrer">{text}</a></li>\n')
_MARKER = Template('<p class="note">{text}</p>\n')
_NO_DESCRIPTION = Markup('<p class="muted">This release has no description.</p>\n')
_NO_METADATA = Markup(
    '<p class="muted">No description: this release\'s core metadata could not be read '
    "(a file without it, or over the 4 MB this index reads).</p>\n"
)
_SEARCH = Template(
    """<h1>Search</h1>
<p>{summary}</p>
{results}"""
)
_RESULTS = Template('<ol class="results">\n{items}</ol>\n')
_RESULT = Template(
    '<li><a class="name" href="project/{name}/">{display}</a> <span class="muted">{version}'
    "</span><br>{summary}</li>\n"
)


def when(ns: int) -> Markup:
    moment = datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)
    return _TIME.render(
        iso=moment.strftime("%Y-%m-%dT%H:%M:%SZ"), text=moment.strftime("%Y-%m-%d %H:%M UTC")
    )


def size_text(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def _metadata_of(files: Sequence[DistFile], known: Known) -> CoreMetadata | None:
    wheels_first = sorted(files, key=lambda f: f.packagetype != "bdist_wheel")
    return next((m for m in map(known.metadata, wheels_first) if m is not None), None)


def _web_urls(metadata: CoreMetadata) -> list[tuple[str, str]]:
    """(label, url) of the http(s) project URLs; anything else is not a link we show."""
    pairs = [("Homepage", metadata.first("Home-page") or "")]
    for entry in metadata.all("Project-URL"):
        label, _, url = entry.partition(",")
        pairs.append((label.strip()[:100] or "Link", url.strip()))
    return [(label, url) for label, url in pairs if url.lower().startswith(("https://", "http://"))]


def _fact(title: str, items: list[Markup]) -> Markup:
    return _FACT.render(title=title, items=join(items[:200])) if items else Markup()


def _facts(metadata: CoreMetadata | None, files: Sequence[DistFile], known: Known) -> Markup:
    origin = "cached from upstream" if any(map(known.is_upstream, files)) else "private"
    parts = [_fact("Origin", [_ITEM.render(text=origin)])]
    if metadata is None:
        return join(parts)
    python = metadata.requires_python or next(
        (f.requires_python for f in files if f.requires_python), None
    )
    licence = metadata.first("License-Expression") or (metadata.first("License") or "")[:200]
    parts += [
        _fact("Requires Python", [_ITEM.render(text=python)] if python else []),
        _fact("License", [_ITEM.render(text=licence)] if licence.strip() else []),
        _fact("Links", [_LINK_ITEM.render(href=u, text=label) for label, u in _web_urls(metadata)]),
        _fact("Dependencies", [_ITEM.render(text=d) for d in metadata.all("Requires-Dist")]),
        _fact("Classifiers", [_ITEM.render(text=c) for c in metadata.all("Classifier")]),
    ]
    return join(parts)


def _badges(files: Sequence[DistFile], known: Known) -> Markup:
    badges = []
    yanked = [f for f in files if f.is_yanked]
    if yanked:
        reason = next((f.yanked for f in yanked if f.yanked), "")
        badges.append(
            _BADGE.render(kind="yanked", text=f"yanked: {reason}" if reason else "yanked")
        )
    if any(map(known.is_upstream, files)):
        badges.append(_BADGE.render(kind="upstream", text="from upstream"))
    return join(badges)


def _uploaded(files: Sequence[DistFile], known: Known) -> Markup:
    first = min(files, key=lambda f: f.upload_time_ns)
    by = known.uploader(first)
    return join([when(first.upload_time_ns), f" by {by}" if by else ""])


def _releases(project: Project, chosen: Version, up: str, known: Known) -> Markup:
    by_version: dict[Version, list[DistFile]] = {}
    for dist in project.files:
        by_version.setdefault(dist.version, []).append(dist)
    rows = []
    for version in sorted(by_version, reverse=True):
        files = by_version[version]
        rows.append(
            _RELEASE_ROW.render(
                href=f"{up}{quote_path(str(version))}/",
                current=Markup(' aria-current="page"') if version == chosen else Markup(),
                version=str(version),
                when=_uploaded(files, known),
                notes=_badges(files, known),
            )
        )
    return join(rows)


def _file_rows(files: Sequence[DistFile], root: str, known: Known) -> Markup:
    return join(
        _FILE_ROW.render(
            href=f"{root}packages/{quote_path(f.relpath)}",
            filename=f.filename,
            badges=_badges([f], known),
            size=size_text(f.size),
            when=_uploaded([f], known),
            sha256=f.sha256 if f.sha256.strip("0") else "not known yet",
        )
        for f in files
    )


def _held_note(held: Sequence[tuple[str, int | None]]) -> Markup:
    """Releases the cooldown holds back: named, never linked (no file of them is served)."""
    if not held:
        return Markup()
    pieces: list[str] = ["Held back by the cooldown (too new to be served yet): "]
    for i, (version, until) in enumerate(held[:20]):
        pieces += [", " if i else "", version]
        if until:
            pieces += [" (until ", when(until), ")"]
    if len(held) > 20:
        pieces.append(f" and {len(held) - 20} more")
    return _MARKER.render(text=join(pieces))


def render_release(
    project: Project,
    version: Version | None,
    base_url: str,
    known: Known,
    held: Sequence[tuple[str, int | None]] = (),
) -> bytes | None:
    """The project page (``version`` None: its latest release) or a version's page; None
    when the project has no such version. ``held``: (version, released at) of the releases
    the cooldown holds back (``Catalog.held``)."""
    chosen = latest_version(project) if version is None else version
    files = [f for f in project.files if f.version == chosen]
    if not files:
        return None
    root, up = ("../../", "") if version is None else ("../../../", "../")
    metadata = _metadata_of(files, known)
    description = render_description(
        metadata.first("Description") if metadata else None,
        metadata.first("Description-Content-Type") if metadata else None,
    )
    pin = "" if version is None else f"=={chosen}"
    index = f"{base_url}simple/"
    markers = [
        _MARKER.render(text=f"This release is yanked: {files[0].yanked or 'no reason given'}.")
        if all(f.is_yanked for f in files)
        else Markup(),
        _held_note(held),
    ]
    body = _RELEASE.render(
        display=project.display_name,
        version=str(chosen),
        summary=(metadata.first("Summary") or "" if metadata else "")[:500],
        markers=join(markers),
        snippets=join(
            [
                snippet("pip", f"pip install --index-url {index} {project.display_name}{pin}"),
                snippet("uv", f"uv pip install --index-url {index} {project.display_name}{pin}"),
            ]
        ),
        description=description.html or (_NO_DESCRIPTION if metadata else _NO_METADATA),
        facts=_facts(metadata, files, known),
        files=_file_rows(files, root, known),
        releases=_releases(project, chosen, up, known),
    )
    title = project.display_name if version is None else f"{project.display_name} {chosen}"
    return page(title, root, body)


def render_search(query: str, hits: Sequence[Hit], total: int) -> bytes:
    if not query.strip():
        summary = "Type a project name or words from its summary."
    elif not hits:
        summary = f"No project matches {query!r}."
    else:
        shown = f" (the first {len(hits)} are shown)" if total > len(hits) else ""
        summary = f"{total} project{'s' if total != 1 else ''} match {query!r}{shown}."
    items = join(
        _RESULT.render(name=h.name, display=h.display_name, version=h.version, summary=h.summary)
        for h in hits
    )
    body = _SEARCH.render(
        summary=summary, results=_RESULTS.render(items=items) if hits else escape("")
    )
    return page(f"Search: {query}" if query else "Search", "", body, query)
