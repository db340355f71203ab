"""The human pages: the welcome page at ``/`` and the ``/packages/`` file listing.

The welcome page tells a person how to use this index, with the URL they reached it by.
``--welcome FILE`` replaces it; the placeholders ``{{URL}}``, ``{{VERSION}}`` and
``{{NUMPKGS}}`` (also written ``{{ URL }}``) are filled in, as pypiserver's welcome
templates expect. Both pages go through ``templates``, so every value is escaped.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from dynopypi import __version__
from dynopypi.core.model import Project, Rendered
from dynopypi.render.simple import quote_path
from dynopypi.render.templates import Template, join

_WELCOME = Template(
    """<!DOCTYPE html>
<html>
  <head>
    <meta charset="utf-8">
    <title>dynopypi: private Python package index</title>
    <style>body{{font-family:sans-serif;max-width:46em;margin:2em auto;line-height:1.4}}
    pre{{background:#f4f4f4;padding:.6em;overflow-x:auto}}</style>
  </head>
  <body>
    <h1>Private Python package index</h1>
    <p>{contents} (<a href="simple/">simple index</a>, <a href="packages/">all files</a>).</p>
    <h2>Install</h2>
    <pre>pip install --index-url {url}simple/ PACKAGE
uv pip install --index-url {url}simple/ PACKAGE</pre>
    <p>Or in <code>pip.conf</code> / <code>uv.toml</code>:</p>
    <pre>[global]
index-url = {url}simple/</pre>
    <h2>Upload</h2>
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
    <p><small>dynopypi {version}</small></p>
  </body>
</html>
"""
)
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


def render_welcome(base_url: str, counts: tuple[int, int] | None, template: Path | None) -> bytes:
    """``counts`` (projects, files) is None when listing needs an account: then not shown."""
    if template is not None:
        page = operator_template(template.read_text(encoding="utf-8"))
        values = {
            "url": base_url,
            "version": __version__,
            "numpkgs": str(counts[1]) if counts else "?",
        }
        return page.render(**{name: values[name] for name in page.fields}).encode()
    contents = (
        _COUNTS.render(projects=str(counts[0]), files=str(counts[1])) if counts else _NO_COUNTS
    )
    return _WELCOME.render(url=base_url, contents=contents, version=__version__).encode()


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
