from __future__ import annotations

import pytest

from dynopypi.app import accepts_gzip
from dynopypi.errors import NoAcceptableFormat
from dynopypi.simple import HTML_V1, JSON_V1, TEXT_HTML, choose_content_type

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


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip, deflate", True),
        ("GZIP", True),
        ("br;q=1.0, gzip;q=0.5", True),
        ("*", True),
        ("gzip;q=0", False),
        ("identity", False),
        ("", False),
        (None, False),
        ("gzip;q=x", False),
    ],
)
def test_accepts_gzip(header: str | None, expected: bool) -> None:
    assert accepts_gzip(header) is expected
