"""What only ``DirectoryStorage`` (a package directory as one side of a copy) does; the
contract it keeps with the bucket is in tests/unit/store/test_base.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from dynopypi.store.base import StoreUnavailable
from dynopypi.store.copy.directory import DirectoryStorage


def test_check_refuses_a_directory_that_is_not_there(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable):
        DirectoryStorage(tmp_path / "absent").check()
