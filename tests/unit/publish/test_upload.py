"""The upload rules' name check: what a project name may be, and its canonical form."""

from __future__ import annotations

import pytest

from dynopypi.errors import InvalidInput
from dynopypi.publish.upload import canonical_project


@pytest.mark.parametrize(
    "name", ["acme ", " acme", "acme\x1f", "ac me", "acm\u0435", "", "-a", "a\n"]
)
def test_canonical_project_refuses(name: str) -> None:
    with pytest.raises(InvalidInput, match="not a valid project name"):
        canonical_project(name)


def test_canonical_project() -> None:
    assert canonical_project("Acme_Bar.x") == "acme-bar-x"
