"""A project's description as safe HTML: readme-renderer, then nh3 with our allow-list.

The description is whatever an uploader wrote (hostile input): scripts, event handlers,
``javascript:`` links, CSS, a 10 MB README, markup that breaks a parser. It is rendered
by ``readme-renderer`` as its ``Description-Content-Type`` says (reStructuredText,
Markdown, plain text; reST that does not render falls back to plain text, as on PyPI),
then cleaned again here by ``nh3`` with a narrower allow-list than readme-renderer's:
no ``class``, ``style``, ``input`` or images (the page's CSP loads nothing from
elsewhere: a stranger's image would tell its server who reads the page), links only to
``http``/``https`` or a fragment of the page, every ``id`` prefixed so it cannot clobber
the page's own, and no empty links (heading anchors: nothing a screen reader can name).

Bounded: at most ``MAX_SOURCE`` characters are rendered (the rest is cut, and a note says
so) and a result over ``MAX_HTML`` is replaced by the source as plain text. The page's
Content-Security-Policy is the second wall: even markup that got through runs no script.
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass

import nh3

from dynopypi.render.templates import Markup, Template

log = logging.getLogger(__name__)

MAX_SOURCE = 128 * 1024  # characters rendered: docutils takes up to 1 s per 50 KB of reST
MAX_HTML = 1024 * 1024  # bytes of sanitized HTML kept on a page
ID_PREFIX = "user-content-"

TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "col", "colgroup",
    "dd", "del", "details", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2",
    "h3", "h4", "h5", "h6", "hr", "i", "kbd", "li", "ol", "p", "pre", "s", "span",
    "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
    "tr", "tt", "ul", "var",
}  # fmt: skip
ATTRIBUTES = {
    "*": {"id"},
    "a": {"href", "title"},
    "abbr": {"title"},
    "ol": {"start"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align"},
}
_URL_ATTRIBUTES = ("href", "src")
# on nh3's output, where every attribute value is double-quoted (and may hold "<" or ">")
_EMPTY_LINK = re.compile(r'<a(?:\s+[^\s="\'>/]+(?:="[^"]*")?)*\s*>\s*</a>')
_NOTE = Template(
    '<p class="note">The description is {size} characters long; '
    "only the first {shown} are shown.</p>\n"
)


@dataclass(frozen=True)
class Description:
    """Sanitized HTML for a page, and how it was made (for the page and the tests)."""

    html: Markup
    kind: str  # "markdown", "rst", "text" or "none"
    truncated: bool = False


def _keep(tag: str, attribute: str, value: str) -> str | None:
    """nh3's attribute filter: only web links and fragments; ids in our own namespace."""
    if attribute in _URL_ATTRIBUTES:
        lowered = value.strip().lower()
        if lowered.startswith(("https://", "http://")):
            return value.strip()
        if lowered.startswith("#") and attribute == "href":
            return "#" + _prefixed(value.strip()[1:])
        return None  # javascript:, data:, relative paths into this index: dropped
    if attribute == "id":
        return _prefixed(value)
    return value


def _prefixed(anchor: str) -> str:
    return anchor if anchor.startswith(ID_PREFIX) else ID_PREFIX + anchor


def sanitize(fragment: str) -> Markup:
    """Any HTML fragment, as HTML that carries no script, style or foreign link."""
    cleaned = nh3.clean(
        fragment,
        tags=TAGS,
        clean_content_tags={"script", "style"},
        attributes=ATTRIBUTES,
        attribute_filter=_keep,
        link_rel="nofollow noopener noreferrer",
        url_schemes={"http", "https"},
    )
    return Markup(_EMPTY_LINK.sub("", cleaned))


def _kind(content_type: str | None) -> str:
    """PEP 566's Description-Content-Type; no value means reST, as on PyPI."""
    media = (content_type or "text/x-rst").split(";", 1)[0].strip().lower()
    if media == "text/markdown":
        return "markdown"
    if media == "text/plain":
        return "text"
    return "rst"


def _plain(text: str) -> Markup:
    return Markup(f"<pre>{html.escape(text)}</pre>")


def _render(source: str, kind: str, content_type: str | None) -> str | None:
    if kind == "markdown":
        from readme_renderer import markdown  # imported on first use: comrak, pygments

        variant = "CommonMark" if "variant=commonmark" in (content_type or "").lower() else "GFM"
        return markdown.render(source, variant=variant)
    if kind == "rst":
        from readme_renderer import rst  # docutils: slow to import, needed only here

        return rst.render(source)
    return None


def render_description(source: str | None, content_type: str | None) -> Description:
    """The description as safe, bounded HTML; never raises for any input."""
    if not source or not source.strip():
        return Description(Markup(), "none")
    truncated = len(source) > MAX_SOURCE
    shown = source[:MAX_SOURCE] if truncated else source
    kind = _kind(content_type)
    try:
        rendered = _render(shown, kind, content_type)
        body = sanitize(rendered) if rendered else _plain(shown)
    except Exception:  # a renderer's bug must not cost the page (it is hostile input)
        log.warning("could not render a %s description; shown as plain text", kind)
        rendered, body = None, _plain(shown)
    if len(body) > MAX_HTML:  # e.g. a huge table: its text, cut to fit
        shown = shown[: MAX_HTML // 8]
        body, rendered, truncated = _plain(shown), None, True
    if rendered is None:
        kind = "text"
    if truncated:
        note = _NOTE.render(size=f"{len(source):,}", shown=f"{len(shown):,}")
        body = Markup(note + body)
    return Description(body, kind, truncated)
