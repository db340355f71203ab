"""The page at ``/``: tells a person how to use this index, with the URL they reached it by.

``--welcome FILE`` replaces it; the placeholders ``{{URL}}``, ``{{VERSION}}`` and
``{{NUMPKGS}}`` are filled in, as pypiserver's welcome templates expect.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from . import __version__
from .model import Project, Rendered
from .simple import quote_path

_PAGE = """<!DOCTYPE html>
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
    <pre>twine upload --repository-url {url} dist/*
uv publish --publish-url {url} dist/*</pre>
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


def render_welcome(base_url: str, counts: tuple[int, int] | None, template: Path | None) -> bytes:
    """``counts`` (projects, files) is None when listing needs an account: then not shown."""
    url = escape(base_url)
    files = str(counts[1]) if counts else "?"
    if template is not None:
        text = template.read_text(encoding="utf-8")
        for key, value in (("URL", url), ("VERSION", __version__), ("NUMPKGS", files)):
            text = text.replace("{{" + key + "}}", value).replace("{{ " + key + " }}", value)
        return text.encode()
    contents = (
        f"This index serves <strong>{counts[0]}</strong> projects in "
        f"<strong>{counts[1]}</strong> files"
        if counts
        else "Listing this index needs an account"
    )
    return _PAGE.format(url=url, contents=contents, version=__version__).encode()


def render_listing(projects: list[Project]) -> Rendered:
    files = sorted((f for p in projects for f in p.files), key=lambda f: f.relpath)
    lines = [
        "<!DOCTYPE html>\n<html>\n  <head><title>Index of packages</title></head>\n  <body>\n",
        "    <h1>Index of packages</h1>\n",
    ]
    lines.extend(
        f'    <a href="{escape(quote_path(f.relpath))}">{escape(f.relpath)}</a><br>\n'
        for f in files
    )
    lines.append("  </body>\n</html>\n")
    return Rendered.of("".join(lines).encode(), "text/html; charset=utf-8")
