"""Reading another index from outside (pure parts): its project list, the projects a
``--project`` glob picks, and ``Last-Modified`` as an upload time."""

from __future__ import annotations

import json

import pytest

from dynopypi.dists.names import NormalizedName
from dynopypi.migrate.remote import http_date_ns, parse_root
from dynopypi.migrate.source import matching
from dynopypi.upstream.page import BadPage


def test_a_json_root_page_lists_normalized_names_once() -> None:
    body = json.dumps(
        {"meta": {"api-version": "1.0"}, "projects": [{"name": "Foo_Bar"}, {"name": "foo-bar"},
                                                      {"name": "a"}, {"name": "../x"}, 7]}
    ).encode()  # fmt: skip
    assert parse_root(body, "application/vnd.pypi.simple.v1+json") == ["a", "foo-bar"]


def test_an_html_root_page_lists_its_link_texts() -> None:
    body = b'<html><body><a href="/simple/Zope.Interface/">Zope.Interface</a><br>' \
        b'<a href="b/"> b </a><a href="x">not a name!</a></body></html>'  # fmt: skip
    assert parse_root(body, "text/html; charset=utf-8") == ["b", "zope-interface"]


@pytest.mark.parametrize("body", [b"[]", b"{", b'{"projects": {}}'])
def test_a_json_root_page_of_the_wrong_shape_is_refused(body: bytes) -> None:
    with pytest.raises(BadPage):
        parse_root(body, "application/vnd.pypi.simple.v1+json")


def test_globs_pick_projects_by_normalized_name() -> None:
    names = [NormalizedName(n) for n in ("acme-core", "acme-tools", "other")]
    assert matching(names, ()) == names
    assert matching(names, ("Acme_*",)) == ["acme-core", "acme-tools"]
    assert matching(names, ("other", "acme-core")) == ["acme-core", "other"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Sun, 13 Sep 2020 12:26:40 GMT", 1_600_000_000 * 10**9),
        (None, None),
        ("", None),
        ("yesterday", None),
        ("Sun, 13 Sep 2020 12:26:40", None),  # no zone: not an instant
        ("x" * 100, None),
    ],
)
def test_last_modified_as_an_upload_time(value: str | None, expected: int | None) -> None:
    assert http_date_ns(value) == expected
