"""Accept and Accept-Encoding, as tables: header in, decision out."""

from __future__ import annotations

import pytest

from dynopypi.errors import NoAcceptableFormat
from dynopypi.render.negotiate import HTML_V1, JSON_V1, TEXT_HTML, accepts_gzip, choose_content_type

LATEST_JSON = "application/vnd.pypi.simple.latest+json"
LATEST_HTML = "application/vnd.pypi.simple.latest+html"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, TEXT_HTML),
        ("", TEXT_HTML),
        ("*/*", TEXT_HTML),
        ("text/html", TEXT_HTML),
        (JSON_V1, JSON_V1),
        (LATEST_JSON, JSON_V1),
        (HTML_V1, HTML_V1),
        (LATEST_HTML, HTML_V1),
        ("APPLICATION/VND.PYPI.SIMPLE.V1+JSON", JSON_V1),
        # pip's header
        (f"{JSON_V1}, {HTML_V1}; q=0.1, text/html; q=0.01", JSON_V1),
        (f"{JSON_V1};q=0.2, text/html;q=0.9", TEXT_HTML),
        (f"text/html;q=0.5, {HTML_V1};q=0.5", HTML_V1),
        (f"application/xml, {JSON_V1};q=0.1", JSON_V1),
        (f"{JSON_V1};q=0, */*;q=0.1", TEXT_HTML),
        ("text/*", TEXT_HTML),
        (f"{JSON_V1};q=abc, text/html", TEXT_HTML),
        # a type refused with q=0 is not chosen through a wildcard
        ("text/html;q=0, */*", HTML_V1),
        (f"{JSON_V1};q=0, application/*", HTML_V1),
        ("application/*", JSON_V1),
    ],
)
def test_choose_content_type(accept: str | None, expected: str) -> None:
    assert choose_content_type(accept) == expected


@pytest.mark.parametrize(
    "accept",
    [
        "application/xml",
        "image/png, text/plain",
        f"{JSON_V1};q=0",
        "application/json",
        "text/html;q=0, text/*",
    ],
)
def test_not_acceptable(accept: str) -> None:
    with pytest.raises(NoAcceptableFormat, match="none of the media types"):
        choose_content_type(accept)


@pytest.mark.parametrize(
    ("fmt", "expected"), [(JSON_V1, JSON_V1), (LATEST_HTML, HTML_V1), ("text/html", TEXT_HTML)]
)
def test_format_parameter_wins(fmt: str, expected: str) -> None:
    assert choose_content_type("application/xml", fmt) == expected


def test_unknown_format_parameter() -> None:
    with pytest.raises(NoAcceptableFormat, match="format="):
        choose_content_type(None, "application/json")


LONG_NO = ", ".join(f"coding{i};q=0.{i % 10}" for i in range(5000))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        # absent or empty: identity, as before
        (None, False),
        ("", False),
        ("   ", False),
        (",, ,", False),
        # plain names, case, alias
        ("gzip", True),
        ("GZIP", True),
        ("Gzip, deflate", True),
        ("x-gzip", True),
        ("X-GZIP;Q=0.5", True),
        ("deflate, br", False),
        ("gzipped", False),
        ("gzip deflate", False),
        # q forms
        ("gzip;q=1", True),
        ("gzip;q=1.0", True),
        ("gzip;q=1.000", True),
        ("gzip;q=0.001", True),
        ("gzip;q=0.5000", True),
        ("gzip;q=1.", True),
        ("gzip;q=0.", False),
        ("br;q=1.0, gzip;q=0.5", True),
        ("gzip;q=0", False),
        ("gzip;q=0.0", False),
        ("gzip;q=0.000", False),
        # invalid q: the item is not acceptable
        ("gzip;q=x", False),
        ("gzip;q=", False),
        ("gzip;q", False),
        ("gzip;q=2", False),
        ("gzip;q=1.5", False),
        ("gzip;q=-1", False),
        ("gzip;q=nan", False),
        ("gzip;q=inf", False),
        ("gzip;q=1e0", False),
        ("gzip;q=.5", False),
        ('gzip;q="0.5"', False),
        # spacing, parameter case, unknown parameters
        ("gzip; q=0.5; foo=1", True),
        ("gzip ; Q = 0.5 ; foo = bar", True),
        ("  gzip  ,  br  ", True),
        ("gzip;foo=1", True),
        ("gzip;level=9;q=0", False),
        ("gzip;q=0;foo", False),
        ("gzip;;;", True),
        # the wildcard, and an exact name beating it
        ("*", True),
        ("*;q=0.1", True),
        ("*;q=0", False),
        ("*, gzip;q=0", False),
        ("gzip;q=0, *", False),
        ("x-gzip;q=0, *", False),
        ("*;q=0, gzip", True),
        ("*;q=0, x-gzip;q=0.2", True),
        ("br, *;q=0", False),
        # duplicates: a refusal of the same name wins
        ("gzip, gzip;q=0", False),
        ("gzip;q=0, gzip", False),
        ("gzip, x-gzip;q=0", False),
        ("gzip;q=0.2, gzip;q=0.9", True),
        ("gzip;q=0.5;q=0", False),
        ("gzip;q=0;q=0.5", True),
        # identity says nothing about gzip
        ("identity;q=0", False),
        ("gzip, identity;q=0", True),
        ("identity;q=0, *", True),
        ("identity", False),
        ("identity;q=1, gzip;q=0.1", True),
        # garbage
        (";q=1", False),
        ("=;,;=", False),
        ("gzip;=1", True),
        ("\x00gzip", False),
        ("gzip\t;q=0.5", True),
        # very long headers
        (LONG_NO, False),
        (LONG_NO + ", gzip", True),
        ("gzip, " + LONG_NO + ", gzip;q=0", False),
        (LONG_NO + ", *", True),
        ("x" * 100_000, False),
        ("gzip;" + "a=b;" * 10_000, True),
    ],
)
def test_accepts_gzip(header: str | None, expected: bool) -> None:
    assert accepts_gzip(header) is expected


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        # the Accept parser shares the item splitter: spacing, case and unknown parameters
        (f" {JSON_V1} ; Q = 0.5 ; charset=utf-8 , text/html;q=0.4", JSON_V1),
        (f"{JSON_V1};level=1;q=0.1, {HTML_V1};q=0.2", HTML_V1),
        (f",,{HTML_V1},,", HTML_V1),
        # Accept keeps its lenient weights: out of range is clamped, unreadable refuses
        (f"{JSON_V1};q=2, {HTML_V1};q=0.9", JSON_V1),
        (f"{JSON_V1};q=-1, {HTML_V1}", HTML_V1),
        (f"{JSON_V1};q=, {HTML_V1};q=0.1", HTML_V1),
    ],
)
def test_accept_item_syntax(accept: str, expected: str) -> None:
    assert choose_content_type(accept) == expected
