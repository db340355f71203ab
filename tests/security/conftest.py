"""Fixtures of the security tests: a hostile upstream index (``FakeUpstream``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.upstream import FakeUpstream


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    """An upstream index that says exactly what a test tells it to, started for one test."""
    upstream = FakeUpstream().start()
    yield upstream
    upstream.stop()
