"""The upstream cache's age and size rules (``stale_files``), as a table."""

from __future__ import annotations

import pytest

from dynopypi.upstream.store import stale_files

NOW = 1_800_000_000.0
CACHED = [  # oldest use first, as UpstreamStore.cached_files() lists them
    ("a.whl", 100, 10, NOW - 90 * 86400),
    ("b.whl", 200, 0, NOW - 40 * 86400),
    ("c.whl", 300, 20, NOW - 86400),
    ("d.whl", 400, 0, NOW - 60),
]


@pytest.mark.parametrize(
    ("unused_for", "down_to", "expected"),
    [
        (None, None, []),
        (30 * 86400.0, None, ["a.whl", "b.whl"]),
        (None, 800, ["a.whl", "b.whl"]),  # 1030 bytes: 110 + 200 go, 720 left
        (None, 720, ["a.whl", "b.whl"]),
        (None, 719, ["a.whl", "b.whl", "c.whl"]),
        (60 * 86400.0, 900, ["a.whl", "b.whl"]),  # age takes a, size then b
        (0.0, None, ["a.whl", "b.whl", "c.whl", "d.whl"]),
    ],
)
def test_stale_files(unused_for: float | None, down_to: int | None, expected: list[str]) -> None:
    chosen = stale_files(CACHED, NOW, unused_for=unused_for, down_to=down_to)
    assert [relpath for relpath, _size in chosen] == expected
    assert chosen[:1] in ([], [("a.whl", 110)])
