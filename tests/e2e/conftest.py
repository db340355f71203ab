"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.upstream import FakeUpstream


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    """A small upstream index (``FakeUpstream``), started for one test."""
    upstream = FakeUpstream().start()
    yield upstream
    upstream.stop()
