"""Deterministic benchmark corpus: a flat directory of small, real wheels and sdists.

Usage:
    python bench/corpus.py OUTDIR [--projects N] [--files M] [--seed S] [--jobs J] [--no-cache]

Defaults: 10,000 projects / 60,000 files, seed 503, 2 worker processes. The same arguments
always give the same files (same names, same bytes). Every file is built with
``tests/support/fakedist.py``, so wheels install and sdists carry PKG-INFO.

What is in it:

* ``chain-00`` ... ``chain-19``: versions 1.0 and 1.1, wheels only; chain-i requires
  chain-(i+1), so ``pip install chain-00`` resolves 20 distributions.
* the other projects share the remaining files, most with a handful of versions and a few
  with many; each project is wheel-only, sdist-only or ships both per version. Names come in
  four spellings: ``alpha-tools-12``, ``alpha_tools_12``, ``Zope.Interface_12`` and
  ``AlphaTools12``; the last two need PEP 503 normalization, and their older releases keep
  the legacy spelling in the file name (``Zope.Interface_12-1.0.tar.gz``) while newer ones
  use the normalized one (``zope_interface_12-1.1.tar.gz``), as real directories do.

The corpus is built once under ``bench/out/corpus/<key>/`` (key = size, seed and generator
version) with a ``manifest.json`` beside the ``packages/`` folder; OUTDIR receives hard
links to the cached files (or copies, across file systems).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import random
import shutil
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

# fakedist lives with the tests (it is not shipped); bench builds its corpus with it too
sys.path.append(str(Path(__file__).resolve().parent.parent / "tests"))
from support.fakedist import make_sdist, make_wheel

GENERATOR_VERSION = 1
DEFAULT_PROJECTS = 10_000
DEFAULT_FILES = 60_000
DEFAULT_SEED = 503
CHAIN_LENGTH = 20
CHAIN_VERSIONS = ("1.0", "1.1")
BENCH_DIR = Path(__file__).resolve().parent
CACHE_ROOT = BENCH_DIR / "out" / "corpus"

_WORDS = (
    "alpha", "amber", "anvil", "aspen", "atlas", "birch", "blaze", "brook", "cedar", "cinder",
    "cobalt", "comet", "coral", "delta", "drift", "ember", "falcon", "fern", "flint", "frost",
    "garnet", "glade", "harbor", "hazel", "heron", "indigo", "iris", "jade", "juniper", "kelp",
    "lark", "lumen", "maple", "marsh", "nimbus", "onyx", "orbit", "pebble", "quartz", "raven",
    "ridge", "sable", "sage", "slate", "spruce", "tidal", "topaz", "umber", "vale", "willow",
    "zephyr", "zinc", "zope", "interface", "tools", "utils", "client", "server", "core", "io",
)  # fmt: skip
_SUFFIXES = ("", "", "", "", "", "", "rc1", ".post1", ".dev2", "b3")


@dataclass(frozen=True)
class FileSpec:
    """One distribution file to build."""

    name: str
    version: str
    kind: str  # "wheel" or "sdist"
    filename: str
    requires: tuple[str, ...] = ()
    requires_python: str | None = None


@dataclass
class ProjectInfo:
    name: str
    normalized: str
    files: list[str] = field(default_factory=list)


def _project_name(rng: random.Random, index: int) -> tuple[str, bool]:
    """Return (name, legacy) where legacy names keep their spelling in older file names."""
    a, b = rng.choice(_WORDS), rng.choice(_WORDS)
    style = rng.random()
    if style < 0.55:
        return f"{a}-{b}-{index}", False
    if style < 0.70:
        return f"{a}_{b}_{index}", False
    if style < 0.85:
        return f"{a.capitalize()}.{b.capitalize()}_{index}", True
    return f"{a.capitalize()}{b.capitalize()}{index}", True


def _version(rng: random.Random, j: int) -> str:
    return f"{1 + j // 12}.{(j // 3) % 4}.{j % 3}{rng.choice(_SUFFIXES)}"


def _wheel_filename(name: str, version: str, legacy: bool) -> str:
    stem = name.replace("-", "_") if legacy else canonicalize_name(name).replace("-", "_")
    return f"{stem}-{version}-py3-none-any.whl"


def _sdist_filename(name: str, version: str, legacy: bool) -> str:
    stem = name if legacy else canonicalize_name(name).replace("-", "_")
    return f"{stem}-{version}.tar.gz"


def _allocate(rng: random.Random, count: int, total: int) -> list[int]:
    """Split ``total`` files over ``count`` projects: at least one each, long-tailed."""
    weights = [min(rng.paretovariate(1.6), 40.0) for _ in range(count)]
    spare = total - count
    scale = spare / sum(weights)
    shares = [1 + math.floor(w * scale) for w in weights]
    left = total - sum(shares)
    order = list(range(count))
    rng.shuffle(order)
    for i in range(left):
        shares[order[i % count]] += 1
    return shares


def plan(
    projects: int, files: int, seed: int = DEFAULT_SEED
) -> tuple[list[FileSpec], list[ProjectInfo]]:
    """Decide every file of the corpus (no I/O). Deterministic for given arguments."""
    chain_files = CHAIN_LENGTH * len(CHAIN_VERSIONS)
    others = projects - CHAIN_LENGTH
    if others < 1 or files - chain_files < others:
        raise ValueError(
            f"need more than {CHAIN_LENGTH} projects and at least one file per project "
            f"plus {chain_files} chain files (got {projects} projects, {files} files)"
        )
    rng = random.Random(seed)
    specs: list[FileSpec] = []
    infos: list[ProjectInfo] = []

    for i in range(CHAIN_LENGTH):
        name = f"chain-{i:02d}"
        info = ProjectInfo(name, canonicalize_name(name))
        requires = (f"chain-{i + 1:02d}>=1.0",) if i + 1 < CHAIN_LENGTH else ()
        for version in CHAIN_VERSIONS:
            spec = FileSpec(
                name, version, "wheel", _wheel_filename(name, version, False), requires, ">=3.8"
            )
            specs.append(spec)
            info.files.append(spec.filename)
        infos.append(info)

    shares = _allocate(rng, others, files - chain_files)
    for index, share in enumerate(shares):
        name, legacy = _project_name(rng, index)
        info = ProjectInfo(name, canonicalize_name(name))
        style = rng.random()
        kinds: Sequence[str]
        if style < 0.5:
            kinds = ("wheel", "sdist")
        elif style < 0.8:
            kinds = ("wheel",)
        else:
            kinds = ("sdist",)
        n_versions = math.ceil(share / len(kinds))
        deps = tuple(
            f"{rng.choice(_WORDS)}-{rng.choice(_WORDS)}>={rng.randint(1, 3)}.0"
            for _ in range(rng.randint(0, 2))
        )
        requires_python = rng.choice((None, None, ">=3.8", ">=3.9,<4"))
        made = 0
        for j in range(n_versions):
            version = _version(rng, j)
            old = legacy and j < n_versions // 2
            for kind in kinds:
                if made == share:
                    break
                filename = (
                    _wheel_filename(name, version, old)
                    if kind == "wheel"
                    else _sdist_filename(name, version, old)
                )
                specs.append(FileSpec(name, version, kind, filename, deps, requires_python))
                info.files.append(filename)
                made += 1
        infos.append(info)
    assert len(specs) == files, (len(specs), files)
    assert len({s.filename for s in specs}) == files, "duplicate file names"
    assert len({i.normalized for i in infos}) == projects, "duplicate project names"
    return specs, infos


def build_file(directory: Path, spec: FileSpec) -> Path:
    """Build one file of the corpus in ``directory`` under its planned file name."""
    if spec.kind == "wheel":
        made = make_wheel(
            directory,
            spec.name,
            spec.version,
            requires=spec.requires,
            requires_python=spec.requires_python,
        )
    else:
        made = make_sdist(
            directory,
            spec.name,
            spec.version,
            requires=spec.requires,
            requires_python=spec.requires_python,
        )
    target = directory / spec.filename
    if made != target:
        made.rename(target)
    return target


def _build_chunk(args: tuple[str, list[FileSpec]]) -> int:
    directory, chunk = args
    for spec in chunk:
        build_file(Path(directory), spec)
    return len(chunk)


def _chunks(items: Sequence[FileSpec], size: int) -> Iterable[list[FileSpec]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def build(directory: Path, specs: Sequence[FileSpec], jobs: int = 2) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    if jobs <= 1 or len(specs) < 2000:
        _build_chunk((str(directory), list(specs)))
        return
    work = [(str(directory), chunk) for chunk in _chunks(specs, 1000)]
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        for _ in pool.imap_unordered(_build_chunk, work):
            pass


def cache_key(projects: int, files: int, seed: int) -> str:
    return f"p{projects}-f{files}-s{seed}-v{GENERATOR_VERSION}"


def ensure_corpus(
    projects: int = DEFAULT_PROJECTS,
    files: int = DEFAULT_FILES,
    seed: int = DEFAULT_SEED,
    jobs: int = 2,
    cache_root: Path = CACHE_ROOT,
    log: bool = True,
) -> Path:
    """Return the cached corpus folder (``packages/`` + ``manifest.json``), building it once."""
    final = cache_root / cache_key(projects, files, seed)
    if (final / "manifest.json").is_file():
        return final
    specs, infos = plan(projects, files, seed)
    tmp = cache_root / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    started = time.perf_counter()
    build(tmp / "packages", specs, jobs)
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "projects": projects,
        "files": files,
        "seed": seed,
        "chain": [f"chain-{i:02d}" for i in range(CHAIN_LENGTH)],
        "download": specs[1].filename,  # chain-00 1.1 wheel
        "project_list": [asdict(info) for info in infos],
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    if log:
        took = time.perf_counter() - started
        print(f"corpus: built {files} files in {took:.1f} s -> {final}", file=sys.stderr)
    return final


def load_manifest(corpus: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((corpus / "manifest.json").read_text())
    return data


def link_tree(source: Path, dest: Path) -> int:
    """Hard-link (or copy) every file of ``source`` into ``dest``; return the count."""
    dest.mkdir(parents=True, exist_ok=True)
    count = 0
    with os.scandir(source) as entries:
        for entry in entries:
            target = dest / entry.name
            try:
                os.link(entry.path, target)
            except FileExistsError:
                continue
            except OSError:
                shutil.copy2(entry.path, target)
            count += 1
    return count


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--projects", type=int, default=DEFAULT_PROJECTS)
    parser.add_argument("--files", type=int, default=DEFAULT_FILES)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument(
        "--no-cache", action="store_true", help="build straight into OUTDIR, skip bench/out/"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.no_cache:
        specs, _ = plan(args.projects, args.files, args.seed)
        build(args.outdir, specs, args.jobs)
        count = len(specs)
    else:
        corpus = ensure_corpus(args.projects, args.files, args.seed, args.jobs)
        count = link_tree(corpus / "packages", args.outdir)
    took = time.perf_counter() - started
    print(f"{count} files in {args.outdir} ({took:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
