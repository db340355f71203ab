"""The human pages: the home page at ``/`` and the ``/packages/`` file listing.

The home page tells a person how to use this index, with the URL they reached it by, and
what was uploaded lately (the search box is in every UI page's header, ``layout``).
``--welcome FILE`` replaces it; the placeholders ``{{URL}}``, ``{{VERSION}}`` and
``{{NUMPKGS}}`` (also written ``{{ URL }}``) are filled in, as pypiserver's welcome
templates expect. Both pages go through ``templates``, so every value is escaped.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path

from dynopypi import __version__
from dynopypi.core.model import Project, Rendered
from dynopypi.dists.names import DistFile
from dynopypi.render.layout import page, snippet
from dynopypi.render.simple import quote_path
from dynopypi.render.templates import Markup, Template, join
from dynopypi.render.ui import when

RECENT = 10  # releases on the home page

_WELCOME = Template(
    """<h1>Private Python package index</h1>
<p>{contents} (<a href="simple/">simple index</a>{files_link}).</p>
{recent}<section aria-labelledby="install">
<h2 id="install">Install</h2>
{snippets}<p>Or in <code>pip.conf</code>:</p>
<pre>[global]
index-url = {url}simple/</pre>
<p>Or in <code>uv.toml</code> (in <code>pyproject.toml</code>: <code>[[tool.uv.index]]</code>):
</p>
<pre>[[index]]
url = "{url}simple/"
default = true</pre>
</section>
<section aria-labelledby="upload">
<h2 id="upload">Upload</h2>
<pre>twine upload --repository-url {url} -u USER dist/*
UV_PUBLISH_PASSWORD='...' uv publish --publish-url {url} -u USER dist/*</pre>
<p>twine asks for the password; uv does not: give it <code>--password</code> or
<code>UV_PUBLISH_PASSWORD</code>.</p>
<p>Or in <code>~/.pypirc</code>:</p>
<pre>[distutils]
index-servers = private

[private]
repository = {url}
username = USER</pre>
</section>
"""
)
_RECENT = Template(
    """<section aria-labelledby="recent">
<h2 id="recent">Recently uploaded</h2>
<div class="table-wrap" tabindex="0" role="region" aria-labelledby="recent">\
<table class="list">
<thead><tr><th scope="col">Project</th><th scope="col">Version</th>\
<th scope="col">Uploaded</th></tr></thead>
<tbody>
{rows}</tbody></table></div>
</section>
"""
)
_RECENT_ROW = Template(
    '<tr><td><a href="project/{name}/">{display}</a></td>'
    '<td><a href="project/{name}/{version}/">{version}</a></td><td>{when}</td></tr>\n'
)
_FILES_LINK = Markup(', <a href="packages/">all files</a>')
_COUNTS = Template(
    "This index serves <strong>{projects}</strong> projects in <strong>{files}</strong> files"
)
_NO_COUNTS = "Listing this index needs an account"
_PLACEHOLDERS = ("URL", "VERSION", "NUMPKGS")

_LISTING = Template(
    "<!DOCTYPE html>\n<html>\n  <head><title>Index of packages</title></head>\n  <body>\n"
    "    <h1>Index of packages</h1>\n{links}  </body>\n</html>\n"
)
_LISTED_FILE = Template('    <a href="{href}">{relpath}</a><br>\n')


def recent_releases(
    files: Iterable[DistFile], is_upstream: Callable[[DistFile], bool], limit: int = RECENT
) -> list[DistFile]:
    """The newest file of each of the ``limit`` most recently uploaded local releases."""
    newest = heapq.nlargest(limit * 8, files, key=lambda f: f.upload_time_ns)
    seen: set[tuple[str, str]] = set()
    out = []
    for dist in newest:
        release = (dist.project, str(dist.version))
        if release in seen or is_upstream(dist):
            continue
        seen.add(release)
        out.append(dist)
        if len(out) == limit:
            break
    return out


def _recent(recent: list[DistFile]) -> Markup:
    if not recent:
        return Markup()
    rows = join(
        _RECENT_ROW.render(
            name=d.project,
            display=d.display_name,
            version=str(d.version),
            when=when(d.upload_time_ns),
        )
        for d in recent
    )
    return _RECENT.render(rows=rows)


def render_welcome(
    base_url: str,
    counts: tuple[int, int] | None,
    template: Path | None,
    *,
    recent: list[DistFile] | None = None,
    upstream: bool = False,
) -> bytes:
    """The home page, or the operator's ``template``. ``counts`` (projects, files) is None
    when listing needs an account: then neither they nor ``recent`` are shown. With an
    upstream, /packages/ (every upstream file ever listed) is not linked."""
    if template is not None:
        theirs = operator_template(template.read_text(encoding="utf-8"))
        values = {
            "url": base_url,
            "version": __version__,
            "numpkgs": str(counts[1]) if counts else "?",
        }
        return theirs.render(**{name: values[name] for name in theirs.fields}).encode()
    contents = (
        _COUNTS.render(projects=str(counts[0]), files=str(counts[1])) if counts else _NO_COUNTS
    )
    index = f"{base_url}simple/"
    body = _WELCOME.render(
        url=base_url,
        contents=contents,
        files_link=Markup() if upstream else _FILES_LINK,
        recent=_recent(recent or []) if counts else Markup(),
        snippets=join(
            [
                snippet("pip", f"pip install --index-url {index} PACKAGE"),
                snippet("uv", f"uv pip install --index-url {index} PACKAGE"),
            ]
        ),
    )
    return page("", "", body)


@lru_cache(maxsize=4)
def operator_template(text: str) -> Template:
    """An operator's welcome file as a ``Template``: its braces are literal text (it is
    HTML, not a format string) except the pypiserver placeholders, which become fields.
    A value is filled in once, so a Host header spelling ``{{VERSION}}`` stays text."""
    text = text.replace("{", "{{").replace("}", "}}")
    for key in _PLACEHOLDERS:
        field = "{" + key.lower() + "}"
        text = text.replace("{{{{" + key + "}}}}", field)
        text = text.replace("{{{{ " + key + " }}}}", field)
    return Template(text)


def render_listing(projects: list[Project]) -> Rendered:
    """``/packages/``: every file, by path, linked relative to the listing."""
    files = sorted((f for p in projects for f in p.files), key=lambda f: f.relpath)
    links = join(_LISTED_FILE.render(href=quote_path(f.relpath), relpath=f.relpath) for f in files)
    return Rendered.of(_LISTING.render(links=links).encode(), "text/html; charset=utf-8")
