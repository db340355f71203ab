"""The web UI's page cache: one render per change of a page's stamp, within a byte budget."""

from __future__ import annotations

import os
from collections.abc import Callable

from dynopypi.render.renderer import UiPages


def const(body: bytes) -> Callable[[], bytes]:
    return lambda: body


def test_a_page_is_rendered_once_per_stamp() -> None:
    pages = UiPages()
    renders: list[str] = []

    def render(text: str) -> bytes:
        renders.append(text)
        return text.encode() * 100

    first = pages.get("k", 1, lambda: render("a"))
    assert first is not None and pages.get("k", 1, lambda: render("b")) is first
    assert renders == ["a"]
    changed = pages.get("k", 2, lambda: render("c"))
    assert changed is not None and changed.body == b"c" * 100 and renders == ["a", "c"]


def test_nothing_is_kept_for_a_missing_page() -> None:
    pages = UiPages()
    assert pages.get("k", 1, lambda: None) is None
    assert pages.size == 0


def test_the_budget_bounds_what_is_kept() -> None:
    budget = 256 * 1024
    pages = UiPages(budget)
    for i in range(200):
        body = os.urandom(8 * 1024)  # does not compress: every page costs its size
        assert pages.get(("page", i), 0, const(body)) is not None
        assert pages.size <= budget
    rendered: list[int] = []

    def again(i: int) -> bytes:
        rendered.append(i)
        return b"x"

    pages.get(("page", 199), 0, lambda: again(199))  # recent: still kept
    pages.get(("page", 0), 0, lambda: again(0))  # the oldest: dropped
    assert rendered == [0]


def test_a_page_too_big_for_the_budget_is_served_but_not_kept() -> None:
    pages = UiPages(64 * 1024)
    page = pages.get("big", 0, lambda: os.urandom(32 * 1024))
    assert page is not None and len(page.body) == 32 * 1024 and pages.size == 0
