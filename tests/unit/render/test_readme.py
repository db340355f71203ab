"""Descriptions are hostile input: rendered by readme-renderer, then cleaned by nh3 with our
allow-list, bounded in size, and never an exception, whatever the markup."""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser

import pytest

from dynopypi.render.readme import MAX_HTML, MAX_SOURCE, render_description, sanitize

MD = "text/markdown"
RST = "text/x-rst"

# (description, content type, what must not be in the HTML)
HOSTILE = [
    ("<script>window.pwned = 1</script>", MD, "<script"),
    ('<img src="x" onerror="window.pwned = 1">', MD, "onerror"),
    ("[click](javascript:window.pwned=1)", MD, "javascript:"),
    ("[click](JaVaScRiPt:window.pwned=1)", MD, "javascript:"),
    ('<a href="&#106;avascript:alert(1)">x</a>', MD, "avascript"),
    ('<a href="data:text/html,<script>x</script>">x</a>', MD, "data:"),
    ('<a href="vbscript:msgbox(1)">x</a>', MD, "vbscript"),
    ("<style>body { display: none }</style>", MD, "<style"),
    ('<div style="position:fixed;inset:0">cover</div>', MD, "style="),
    ('<p class="skip">x</p>', MD, "class="),
    ('<iframe src="https://evil.example/"></iframe>', MD, "<iframe"),
    ('<form action="https://evil.example/"><input name=p></form>', MD, "<form"),
    ('<svg onload="window.pwned=1"></svg>', MD, "onload"),
    ("<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>", MD, "onerror"),
    ('<img src="https://tracker.example/pixel.png">', MD, "tracker.example"),
    ('<a href="/_authorize/update">relative</a>', MD, "_authorize"),
    ('<meta http-equiv="refresh" content="0;url=https://evil.example/">', MD, "<meta"),
    ('<base href="https://evil.example/">', MD, "<base"),
    (".. raw:: html\n\n   <script>window.pwned = 1</script>\n", RST, "<script"),
    ("`x <javascript:alert(1)>`_\n", RST, "javascript:"),
    (".. image:: javascript:alert(1)\n", RST, "javascript:"),
    ("<script>alert(1)</script>", "text/plain", "<script"),
    ('<b onmouseover="x()">b</b>', "text/html", "onmouseover"),
]


class Markup(HTMLParser):
    """The markup of a page (tags, attribute names and values), without its text: escaped
    text that reads ``<script>`` is harmless, a tag or an attribute is not."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.parts.append(tag)
        for name, value in attrs:
            self.parts += [name, value or ""]


@pytest.mark.parametrize(("source", "content_type", "absent"), HOSTILE)
def test_hostile_markup_is_made_harmless(source: str, content_type: str, absent: str) -> None:
    html = render_description(source, content_type).html
    markup = " ".join(Markup(html).parts).lower()
    assert absent.lower().strip("<") not in markup, html


def test_links_keep_their_web_url_and_say_nofollow() -> None:
    html = render_description("[docs](https://docs.example/x?a=1&b=2)", MD).html
    assert 'href="https://docs.example/x?a=1&amp;b=2"' in html, html
    assert 'rel="nofollow noopener noreferrer"' in html


def test_ids_are_prefixed_so_they_cannot_clobber_the_page() -> None:
    html = render_description('<a id="main" href="#q">x</a>\n\n# Install\n', MD).html
    ids = re.findall(r'id="([^"]*)"', html)
    assert ids and all(i.startswith("user-content-") for i in ids), html
    assert 'href="#user-content-q"' in html, html


def test_empty_heading_anchors_are_dropped() -> None:
    """An empty link has no name a screen reader can say (axe: link-name, serious)."""
    for source, kind in (("# Title\n\ntext\n", MD), ("Title\n=====\n\ntext\n", RST)):
        html = render_description(source, kind).html
        assert not re.search(r"<a\b[^>]*>\s*</a>", html), html


def test_rst_markdown_and_text_render() -> None:
    assert "<em>x</em>" in render_description("*x*", RST).html
    assert render_description("*x*", None).kind == "rst"  # no content type: reST, as PyPI
    assert "<strong>x</strong>" in render_description("**x**", MD).html
    text = render_description("a <b>\nb", "text/plain")
    assert text.kind == "text" and "&lt;b&gt;" in text.html


def test_rst_that_does_not_render_falls_back_to_text() -> None:
    broken = render_description("Title\n===\n\n.. unknown-directive::\n\n`unclosed", RST)
    assert broken.kind == "text" and "unclosed" in broken.html


def test_nothing_to_describe() -> None:
    assert render_description(None, None).kind == "none"
    assert render_description("  \n", MD).html == ""


def test_a_10_mb_readme_is_cut_with_a_note_and_quickly() -> None:
    source = "word " * (2 * 1024 * 1024)
    started = time.monotonic()
    described = render_description(source, MD)
    assert time.monotonic() - started < 5
    assert described.truncated and "only the first" in described.html
    assert len(described.html) < MAX_SOURCE * 2


def test_a_huge_table_is_bounded() -> None:
    source = "|a|b|\n|-|-|\n" + "|" + "x" * 40 + "|y|\n" * 40_000
    described = render_description(source, MD)
    assert len(described.html.encode()) <= MAX_HTML + 1024


@pytest.mark.parametrize(
    "source",
    [
        "<" * 10_000,
        "<div>" * 5_000,
        "[" * 5_000 + "x" + "](" * 5_000,
        "*" * 20_000,
        "\x00\x01\x02 \ud800 text",
        ".. " * 5_000,
        "-\n" * 5_000,
        "> " * 2_000 + "quote",
    ],
)
def test_broken_markup_never_raises(source: str) -> None:
    for content_type in (MD, RST, None, "text/plain", "garbage/;;;"):
        render_description(source, content_type)


def test_sanitize_removes_nothing_it_allows() -> None:
    html = "<p>a <code>b</code> <em>c</em></p><table><tr><td>d</td></tr></table>"
    assert (
        sanitize(html)
        == "<p>a <code>b</code> <em>c</em></p><table><tbody><tr><td>d</td></tr></tbody></table>"
    )
