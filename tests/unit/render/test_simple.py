"""The simple API's pure helpers; whole pages are pinned byte for byte in test_pages."""

from __future__ import annotations

import json

import pytest

from dynopypi.core.model import Project
from dynopypi.render.negotiate import HTML_V1, JSON_V1, TEXT_HTML
from dynopypi.render.simple import project_dict, quote_path, render_index, render_project, rfc3339
from unit.render.test_pages import dist, hostile_project, plain_project


@pytest.mark.parametrize(
    ("relpath", "expected"),
    [
        ("foo-1.0.tar.gz", "foo-1.0.tar.gz"),
        ("sub/dir/foo-1.0.tar.gz", "sub/dir/foo-1.0.tar.gz"),
        ("a b/c#d?e%f", "a%20b/c%23d%3Fe%25f"),
        ("Ünï/x", "%C3%9Cn%C3%AF/x"),
        ("a&b'c+d=e:f@g!h$i(j)k*l,m;n~o", "a&b'c+d=e:f@g!h$i(j)k*l,m;n~o"),
        ('<"\\>', "%3C%22%5C%3E"),
    ],
)
def test_quote_path(relpath: str, expected: str) -> None:
    assert quote_path(relpath) == expected


@pytest.mark.parametrize(
    ("ns", "expected"),
    [
        (0, "1970-01-01T00:00:00.000000Z"),
        (1_700_000_000_123_456_000, "2023-11-14T22:13:20.123456Z"),
    ],
)
def test_rfc3339(ns: int, expected: str) -> None:
    assert rfc3339(ns) == expected


@pytest.mark.parametrize(
    ("algo", "expected"),
    [
        (None, {"sha256"}),
        ("sha256", {"sha256"}),
        ("md5", {"sha256", "md5"}),
        ("sha512", {"sha256", "sha512"}),
        ("sha3_256", {"sha256"}),  # not known for this file: JSON keeps sha256 only
    ],
)
def test_project_dict_hashes(algo: str | None, expected: set[str]) -> None:
    first = project_dict(hostile_project(), algo)["files"][0]
    assert set(first["hashes"]) == expected


def test_project_dict_yanked_and_metadata() -> None:
    files = project_dict(hostile_project(), "sha256")["files"]
    assert [f["yanked"] for f in files] == [False, "bad \"release\"\nuse 'x' & <y>", True, False]
    assert [bool(f["core-metadata"]) for f in files] == [True, False, True, False]
    assert not [f for f in files if "dist-info-metadata" in f]  # PEP 714: never in JSON


@pytest.mark.parametrize(
    ("content_type", "header"),
    [
        (TEXT_HTML, "text/html; charset=utf-8"),
        (HTML_V1, f"{HTML_V1}; charset=utf-8"),
        (JSON_V1, JSON_V1),
    ],
)
def test_render_project_is_cached_per_content_type(content_type: str, header: str) -> None:
    project = plain_project()
    first = render_project(project, content_type, "sha256")
    assert first.content_type == header
    assert render_project(project, content_type, "md5") is first


def test_render_index_json_lists_display_names() -> None:
    extra = Project(dist("x-1.tar.gz", project="x", display="X", seed=9).project, "X", ())
    body = render_index([plain_project(), extra], JSON_V1).body
    assert json.loads(body)["projects"] == [{"name": "Foo"}, {"name": "X"}]
