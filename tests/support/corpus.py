"""The standard read-only corpus: a package directory with known contents (wheels, sdists,
subdirectories, junk that is never listed) next to a file that must stay private."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from support.fakedist import make_sdist, make_wheel

FIXED_MTIME = 1614834367  # 2021-03-04T05:06:07Z, whole seconds (HTTP dates have no fraction)


@dataclass
class Corpus:
    """A package directory with known contents, next to files that must stay private."""

    root: Path
    pkgdir: Path
    files: dict[str, Path]  # file name -> path (file names are unique in the corpus)
    projects: dict[str, list[str]]  # normalized project name -> its file names
    secret: Path

    def relpath(self, filename: str) -> str:
        return self.files[filename].relative_to(self.pkgdir).as_posix()


def build_corpus(root: Path) -> Corpus:
    """The corpus most server tests read (they must not modify it)."""
    pkgdir = root / "pkgs"
    sub = pkgdir / "sub"
    deeper = sub / "deeper"
    deeper.mkdir(parents=True)
    made: list[tuple[str, Path]] = [
        ("foo-bar", make_wheel(pkgdir, "Foo.Bar", "1.0")),
        ("foo-bar", make_sdist(pkgdir, "Foo.Bar", "1.0")),
        ("foo-bar", make_wheel(pkgdir, "Foo.Bar", "1.1", requires_python=">=3.8")),
        ("lib", make_wheel(pkgdir, "lib", "1.0")),
        ("lib", make_wheel(pkgdir, "lib", "2.0")),
        ("app", make_wheel(pkgdir, "app", "1.0", requires=["lib>=1"])),
        ("zeta", make_wheel(sub, "zeta", "0.1")),
        ("zeta", make_wheel(deeper, "zeta", "0.2")),
        ("big", make_wheel(pkgdir, "big", "1.0", payload=bytes(range(256)) * 1200)),
        ("ver-sort", make_wheel(pkgdir, "ver_sort", "1.9")),
        ("ver-sort", make_wheel(pkgdir, "ver_sort", "1.10")),
        ("ver-sort", make_wheel(pkgdir, "ver_sort", "2.0rc1")),
    ]
    # files that are not distributions: never listed
    (pkgdir / "notapackage.txt").write_text("not a package\n")
    (pkgdir / "foo.whl").write_bytes(b"PK not really a wheel")
    (sub / "README").write_text("hello\n")
    secret = root / "secret"
    secret.write_bytes(b"TOP-SECRET-CONTENT-0123456789\n")

    files: dict[str, Path] = {}
    projects: dict[str, list[str]] = {}
    for project, path in made:
        assert path.name not in files
        files[path.name] = path
        projects.setdefault(project, []).append(path.name)
    for path in [*files.values(), pkgdir / "notapackage.txt", pkgdir / "foo.whl"]:
        os.utime(path, (FIXED_MTIME, FIXED_MTIME))
    return Corpus(root=root, pkgdir=pkgdir, files=files, projects=projects, secret=secret)


ODD_DIRS = ["odd dir #1 %?&=+", "ünïcödé", "a;b,c@d"]


def build_odd_corpus(root: Path) -> tuple[Path, dict[str, Path]]:
    """File and directory names that need care in URLs: (package dir, {file name: path})."""
    pkgdir = root / "pkgs"
    pkgdir.mkdir()
    files = {}
    for i, dirname in enumerate(ODD_DIRS):
        (pkgdir / dirname).mkdir()
        path = make_wheel(pkgdir / dirname, "uni", f"1.{i}")
        files[path.name] = path
    for version in ("1.0+local.1", "1!0.5"):
        path = make_wheel(pkgdir, "odd", version)
        files[path.name] = path
    legacy = make_sdist(pkgdir, "my-proj", "2.0")
    files["my-proj-2.0.tar.gz"] = legacy.rename(pkgdir / "my-proj-2.0.tar.gz")
    tagged = make_wheel(pkgdir, "tagged", "1.0")
    files["tagged-1.0-1-py3-none-any.whl"] = tagged.rename(pkgdir / "tagged-1.0-1-py3-none-any.whl")
    return pkgdir, files
