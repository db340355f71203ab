"""The architecture page is made from the package docstrings and must match the tree."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_architecture_page_is_current() -> None:
    """``docs/architecture.md`` is what ``docs/architecture.py`` makes of today's tree: a
    package or module added, moved or re-described without regenerating it fails here."""
    spec = importlib.util.spec_from_file_location("architecture", ROOT / "docs/architecture.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "docs/architecture.md").read_text(encoding="utf-8") == module.render(), (
        "docs/architecture.md is stale: run python3 docs/architecture.py"
    )
