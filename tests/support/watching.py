"""What the watch tests share, in process and across a restart: a package directory with
a staging area beside it, and waiting until a project page lists exactly some files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from support.clients import IndexClient
from support.fakedist import make_wheel
from support.helpers import Helpers

BOUND = 5.0
S = TypeVar("S", bound=IndexClient)


@dataclass
class Watched(Generic[S]):
    server: S
    pkgdir: Path
    staging: Path  # same file system, outside the package directory


def make_watched(start: Callable[[Path], S], tmp_path: Path) -> Watched[S]:
    """A directory holding base-1.0, a staging area beside it, and a server over it."""
    pkgdir = tmp_path / "pkgs"
    pkgdir.mkdir()
    staging = tmp_path / "staging"
    staging.mkdir()
    make_wheel(pkgdir, "base", "1.0")
    return Watched(start(pkgdir), pkgdir, staging)


def expect_listing(
    w: Watched[Any], helpers: Helpers, project: str, expected: dict[str, str] | None
) -> None:
    """Wait until the JSON project page lists exactly ``expected`` ({filename: sha256})."""
    srv = w.server
    helpers.poll_until(
        lambda: srv.listed_files(project) == expected,
        timeout=BOUND,
        message=lambda: (
            f"/simple/{project}/ should list {expected}, lists {srv.listed_files(project)}\n"
            f"{srv.logs()}"
        ),
    )


def digest_map(helpers: Helpers, *paths: Path) -> dict[str, str]:
    return {p.name: helpers.sha256_file(p) for p in paths}
