"""Golden tests: every page, rendered from hostile fixtures, must stay byte for byte the same.

The expected bytes in ``golden/`` (beside this file) were produced once by the renderers as
they were before the template refactor; a change to any page shows up here as a failing case. The
dynopypi version in the welcome page is stored as ``@VERSION@`` so a release does not
invalidate the files, and the static files' names (digests of their bytes) as
``@ui.css@``, ``@ui.js@`` so a stylesheet edit does not either.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from packaging.version import Version

from dynopypi import __version__
from dynopypi.core.model import Project
from dynopypi.dists.names import DistFile, NormalizedName
from dynopypi.render.human import render_listing, render_welcome
from dynopypi.render.layout import assets
from dynopypi.render.negotiate import HTML_V1, JSON_V1, TEXT_HTML
from dynopypi.render.simple import render_index, render_project
from dynopypi.render.templates import Markup, Template, escape, join

GOLDEN = Path(__file__).parent / "golden"
VERSION_MARK = b"@VERSION@"
HOSTILE = "<script>&\"'</script>"
HOSTILE_FILE = "<i>&\"'<i>"  # no slash: a file name has none


def dist(
    relpath: str,
    *,
    project: str,
    display: str,
    version: str = "1.0",
    requires_python: str | None = None,
    metadata: bool = False,
    yanked: str | None = None,
    extra_hash: str | None = None,
    seed: int = 1,
) -> DistFile:
    """A served file, built directly: the renderers never look at the disk."""
    return DistFile(
        relpath=relpath,
        root=0,
        filename=relpath.rpartition("/")[2],
        project=NormalizedName(project),
        display_name=display,
        version=Version(version),
        packagetype="sdist",
        python_tag="source",
        size=1000 + seed,
        mtime_ns=1_700_000_000_123_456_789 + seed * 1_000_000_000,
        hashes=bytes(range(seed, seed + 80)),
        extra_hash=extra_hash,
        requires_python=requires_python,
        metadata_digest=bytes(range(100 + seed, 132 + seed)) if metadata else None,
        yanked=yanked,
    )


def hostile_project() -> Project:
    """Every attribute a page shows, with characters HTML or URLs treat specially."""
    name = "evil-name"
    display = f"Evil{HOSTILE}Name"
    files = (
        dist(
            "sub dir/evil#1?x/Ünïcode-1.0.tar.gz",
            project=name,
            display=display,
            requires_python=">=3.8,<4,!=3.9.*\"'&",
            metadata=True,
            extra_hash="sha512:" + "5a" * 64,
            seed=1,
        ),
        dist(
            "a&b/it's-1.1.whl",
            project=name,
            display=display,
            version="1.1",
            yanked="bad \"release\"\nuse 'x' & <y>",
            seed=2,
        ),
        dist(
            f"evil{HOSTILE_FILE}-2.0.tar.gz",
            project=name,
            display=display,
            version="2.0",
            yanked="",
            metadata=True,
            seed=3,
        ),
        dist("plain/evil_name-2.1.zip", project=name, display=display, version="2.1", seed=4),
    )
    return Project(NormalizedName(name), display, files)


def plain_project() -> Project:
    files = (
        dist("foo-1.0.tar.gz", project="foo", display="Foo", requires_python=">=3.9", seed=5),
        dist("foo-1.0-py3-none-any.whl", project="foo", display="Foo", metadata=True, seed=6),
    )
    return Project(NormalizedName("foo"), "Foo", files)


def empty_project() -> Project:
    return Project(NormalizedName("nothing"), "Nothing", ())


def projects() -> list[Project]:
    return [hostile_project(), plain_project(), empty_project()]


Page = Callable[[Path], bytes]
PROJECT_FACTORIES = {"hostile": hostile_project, "plain": plain_project, "empty": empty_project}
FORMATS = {"html": TEXT_HTML, "html-v1": HTML_V1, "json": JSON_V1}
ALGOS = {
    "sha256": "sha256",
    "md5": "md5",
    "sha512": "sha512",
    "blake2b": "blake2b_256",
    "off": None,
}


def project_case(factory: Callable[[], Project], content_type: str, algo: str | None) -> Page:
    return lambda _tmp: render_project(factory(), content_type, algo).body


def index_case(make: Callable[[], list[Project]], content_type: str) -> Page:
    return lambda _tmp: render_index(make(), content_type).body


def welcome_template(text: str, base_url: str, counts: tuple[int, int] | None) -> Page:
    def render(tmp: Path) -> bytes:
        template = tmp / "welcome.html"
        template.write_text(text, encoding="utf-8")
        return render_welcome(base_url, counts, template)

    return render


TEMPLATE = (
    "<p>{{URL}} {{ URL }} v{{VERSION}} {{ VERSION }} n={{NUMPKGS}} {{ NUMPKGS }}</p>\n"
    "<p>{{url}} {{  URL  }} {{OTHER}} Ünïcode & <b>kept as is</b></p>\n"
)
HOSTILE_URL = f"http://evil.example{HOSTILE}/"


def cases() -> dict[str, Page]:
    table: dict[str, Page] = {}
    for pname, factory in PROJECT_FACTORIES.items():
        for fname, content_type in FORMATS.items():
            for aname, algo in ALGOS.items():
                table[f"project-{pname}-{fname}-{aname}"] = project_case(
                    factory, content_type, algo
                )
    for fname, content_type in FORMATS.items():
        table[f"index-{fname}"] = index_case(projects, content_type)
        table[f"index-empty-{fname}"] = index_case(list, content_type)
    table["listing"] = lambda _t: render_listing(projects()).body
    table["listing-empty"] = lambda _t: render_listing([]).body
    table["welcome"] = lambda _t: render_welcome("http://localhost:8080/", (3, 6), None)
    table["welcome-hostile"] = lambda _t: render_welcome(HOSTILE_URL, (0, 0), None)
    table["welcome-no-counts"] = lambda _t: render_welcome("https://x.test/p/", None, None)
    table["welcome-template"] = welcome_template(TEMPLATE, "http://localhost/", (3, 6))
    table["welcome-template-hostile"] = welcome_template(TEMPLATE, HOSTILE_URL, None)
    return table


CASES = cases()


def golden_path(case: str) -> Path:
    return GOLDEN / (case + (".json" if case.endswith("json") or "-json-" in case else ".html"))


def marked(body: bytes) -> bytes:
    """A welcome page with the version and the static files' names replaced by marks."""
    body = body.replace(__version__.encode(), VERSION_MARK)
    for name in assets():
        stem, _digest, suffix = name.split(".")
        body = body.replace(name.encode(), f"@{stem}.{suffix}@".encode())
    return body


def write_golden(tmp: Path) -> None:
    """How the files were made (once, before the refactor): not called by the tests."""
    GOLDEN.mkdir(exist_ok=True)
    for case, page in CASES.items():
        body = page(tmp)
        if case.startswith("welcome"):
            body = marked(body)
        golden_path(case).write_bytes(body)


@pytest.mark.parametrize("case", sorted(CASES))
def test_page_is_byte_identical(case: str, tmp_path: Path) -> None:
    expected = golden_path(case).read_bytes()
    body = CASES[case](tmp_path)
    if case.startswith("welcome"):
        body = marked(body)
    assert body == expected


def test_every_golden_file_is_a_case() -> None:
    assert {p.name for p in GOLDEN.iterdir()} == {golden_path(c).name for c in CASES}


# --------------------------------------------------------------------------- the template mechanism


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("<p>{x}</p>", {"x": "a<b>&\"'c"}, "<p>a&lt;b&gt;&amp;&quot;&#x27;c</p>"),
        ("<p>{x}</p>", {"x": Markup("<b>kept</b>")}, "<p><b>kept</b></p>"),
        ('<a href="{x}">{x}</a>', {"x": "&"}, '<a href="&amp;">&amp;</a>'),
        ("{a}{b}", {"a": "1", "b": "2"}, "12"),
        ("no fields", {}, "no fields"),
        ("", {}, ""),
        ("{{literal}} {x}", {"x": "{y}"}, "{literal} {y}"),
        ("'\"\\n\\\\{x}", {"x": "'"}, "'\"\\n\\\\&#x27;"),
        ("Ünïcode {x}", {"x": "ß"}, "Ünïcode ß"),
        ("{x}", {"x": ""}, ""),
    ],
)
def test_template_escapes_all_but_markup(text: str, values: dict[str, str], expected: str) -> None:
    rendered = Template(text).render(**values)
    assert rendered == expected
    assert type(rendered) is Markup


@pytest.mark.parametrize(
    "text", ["{0}", "{}", "{x.y}", "{x[0]}", "{x!r}", "{x:>5}", "{class}", "{_escape}", "{x"]
)
def test_template_fields_must_be_plain_names(text: str) -> None:
    with pytest.raises(ValueError):
        Template(text)


@pytest.mark.parametrize(("values"), [{}, {"x": "1"}, {"x": "1", "y": "2", "z": "3"}])
def test_template_needs_exactly_its_fields(values: dict[str, str]) -> None:
    with pytest.raises(TypeError):
        Template("{x}{y}").render(**values)


@pytest.mark.parametrize(
    ("fragments", "expected"),
    [
        ([], ""),
        ([Markup("<b>"), Markup("</b>")], "<b></b>"),
        ([Markup("<i>"), "<script>", Markup("</i>")], "<i>&lt;script&gt;</i>"),
    ],
)
def test_join_escapes_plain_strings(fragments: list[str], expected: str) -> None:
    joined = join(fragments)
    assert joined == expected
    assert type(joined) is Markup


@pytest.mark.parametrize(
    ("value", "expected"), [("<&>\"'", "&lt;&amp;&gt;&quot;&#x27;"), (Markup("<b>"), "<b>")]
)
def test_escape(value: str, expected: str) -> None:
    assert escape(value) == expected
    assert escape(escape(value)) == expected  # escaping is done once, not twice


# --------------------------------------------------------------------------- --welcome FILE


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{URL}}", "http://h/a&amp;b/"),
        ("{{ URL }}|{{VERSION}}|{{ NUMPKGS }}", f"http://h/a&amp;b/|{__version__}|6"),
        ("{{{URL}}}", "{http://h/a&amp;b/}"),
        ("{URL} {{url}} {{  URL  }} {{ URL}}", "{URL} {{url}} {{  URL  }} {{ URL}}"),
        ("a { b } {{ c }} {0} {} {x!r}", "a { b } {{ c }} {0} {} {x!r}"),
        ("<style>p{color:red}</style>", "<style>p{color:red}</style>"),
        ("no placeholders", "no placeholders"),
        ("", ""),
    ],
)
def test_welcome_file_placeholders(text: str, expected: str, tmp_path: Path) -> None:
    template = tmp_path / "welcome.html"
    template.write_text(text, encoding="utf-8")
    assert render_welcome("http://h/a&b/", (3, 6), template) == expected.encode()


def test_welcome_file_values_are_filled_in_once(tmp_path: Path) -> None:
    """A Host header spelling a placeholder stays text (it used to be substituted too)."""
    template = tmp_path / "welcome.html"
    template.write_text("{{URL}} {{NUMPKGS}}", encoding="utf-8")
    assert render_welcome("http://{{NUMPKGS}}/", None, template) == b"http://{{NUMPKGS}}/ ?"
