"""What every page of the web UI shares: the page shell, its headers and its assets.

The shell is server-rendered HTML that works with JavaScript off. Its one script and one
stylesheet are files we serve (``/_/static/``, named with a digest of their bytes so they
can be cached for a year), never inline, so the pages run under a strict
Content-Security-Policy (``HEADERS``): nothing from elsewhere, no inline script or style.
Links are relative (``root`` climbs from the page to the index's root), so the pages are
right behind any proxy prefix.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from dynopypi import __version__
from dynopypi.render.templates import Markup, Template

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
STATIC_TYPES = {"ui.css": "text/css; charset=utf-8", "ui.js": "text/javascript; charset=utf-8"}

_SHELL = Template(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{title}</title>
<link rel="stylesheet" href="{root}_/static/{css}">
<script src="{root}_/static/{js}" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="site">
<a class="brand" href="{home}">dynopypi</a>
<form class="search" role="search" action="{root}search" method="get">
<label for="q">Search projects</label>
<input id="q" name="q" type="search" value="{query}" maxlength="200">
<button type="submit">Search</button>
</form>
</header>
<main id="main">
{body}</main>
<footer class="site">
<p>dynopypi {version} · <a href="{root}simple/">simple index</a></p>
</footer>
</body>
</html>
"""
)
_SNIPPET = Template(
    '<div class="snippet"><pre id="{ident}"><code>{command}</code></pre>'
    '<button type="button" class="copy" data-copy="{ident}" hidden>Copy</button></div>\n'
)


@dataclass(frozen=True)
class Asset:
    """A static file: its bytes and the name it is served under (digest in the name)."""

    name: str
    body: bytes
    content_type: str


@lru_cache(maxsize=1)
def assets() -> dict[str, Asset]:
    """The static files by served name, e.g. ``ui.3f2a9c1b.css``."""
    out = {}
    for filename, content_type in STATIC_TYPES.items():
        body = resources.files("dynopypi.render").joinpath("static", filename).read_bytes()
        stem, _, suffix = filename.rpartition(".")
        digest = hashlib.sha256(body).hexdigest()[:10]
        name = f"{stem}.{digest}.{suffix}"
        out[name] = Asset(name, body, content_type)
    return out


def _asset_name(filename: str) -> str:
    stem = filename.rpartition(".")[0]
    suffix = filename.rpartition(".")[2]
    return next(n for n in assets() if n.startswith(stem + ".") and n.endswith("." + suffix))


def page(title: str, root: str, body: Markup, query: str = "") -> bytes:
    """A whole page: ``root`` is the relative path from it to the index's root
    (``""`` for ``/``, ``"../../"`` for ``/project/NAME/``)."""
    return _SHELL.render(
        title=f"{title} · dynopypi" if title else "dynopypi",
        root=root,
        home=root or "./",
        css=_asset_name("ui.css"),
        js=_asset_name("ui.js"),
        query=query,
        body=body,
        version=__version__,
    ).encode()


def snippet(ident: str, command: str) -> Markup:
    """A command to copy: a <pre> and a copy button that the script shows (JS off: the
    text stays selectable, the button stays hidden)."""
    return _SNIPPET.render(ident=ident, command=command)
