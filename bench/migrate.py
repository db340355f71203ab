"""Benchmark moving in from another index: ``dynopypi storage copy INDEX_URL DIR`` from a
local dynopypi serving the generated corpus, then the rerun, then ``dynopypi compare``.

    make bench-migrate                  (or: .venv/bin/python bench/migrate.py [--files 6000])

It prints, for the corpus (bench/corpus.py; 6,000 files of 1,000 projects by default):

- import: seconds, files/s and MB/s of the first copy (every page read, every file
  downloaded, verified against its page's sha256, read for its metadata and linked into
  place with its upload time), with ``--jobs`` downloads at once;
- rerun: seconds of the second copy, which transfers nothing (every file is already
  there: it is hashed locally and skipped);
- compare: seconds and projects/s of ``dynopypi compare`` between the source and a
  dynopypi serving the imported directory (pages only), which must answer alike.

Source, destination and the commands share the machine's cores: the figures are what one
machine moving its own index gets, a floor for two machines on a network.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

import corpus  # noqa: E402
from run_common import HOST, OUT, Proc, free_port, log, wait_first_200  # noqa: E402
from run_servers import dynopypi_exe, server_command  # noqa: E402


def serve(pkgdir: Path, work: Path, name: str) -> tuple[Proc, str]:
    """A dynopypi over ``pkgdir``, every file read (``/ready``); its simple URL."""
    port = free_port()
    command = server_command("dynopypi", port, pkgdir, work / f"{name}-cache")
    proc = Proc(command, work / f"{name}.log")
    try:
        wait_first_200(proc, port, "/ready", 600)
    except BaseException:
        proc.stop()
        raise
    return proc, f"http://{HOST}:{port}/simple/"


def timed(command: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return took, done


def run(args: argparse.Namespace, work: Path) -> dict[str, object]:
    built = corpus.ensure_corpus(projects=args.projects, files=args.files)
    source = work / "source"
    corpus.link_tree(built / "packages", source)
    size = sum(p.stat().st_size for p in source.iterdir())
    dest = work / "dest"
    dest.mkdir()
    exe = str(dynopypi_exe())
    old, old_url = serve(source, work, "source")
    try:
        copy = [exe, "storage", "copy", old_url, str(dest), "-q", "-j", str(args.jobs)]
        first, done = timed(copy)
        log(f"import: {done.stdout.strip()}")
        again, done = timed(copy)
        log(f"rerun:  {done.stdout.strip()}")
        new, new_url = serve(dest, work, "dest")
        try:
            compared, done = timed([exe, "compare", old_url, new_url, "-j", str(args.jobs)])
            log(f"compare: {done.stdout.strip()}")
        finally:
            new.stop()
    finally:
        old.stop()
    return {
        "files": args.files,
        "projects": args.projects,
        "bytes": size,
        "jobs": args.jobs,
        "import_s": round(first, 2),
        "import_files_per_s": round(args.files / first, 1),
        "import_mb_per_s": round(size / first / 1e6, 2),
        "rerun_s": round(again, 2),
        "compare_s": round(compared, 2),
        "compare_projects_per_s": round(args.projects / compared, 1),
        "cpus": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--files", type=int, default=6000, help="corpus files (6000)")
    parser.add_argument("--projects", type=int, default=1000, help="corpus projects (1000)")
    parser.add_argument("--jobs", type=int, default=8, help="copy/compare --jobs (8)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="dynopypi-bench-migrate-"))
    try:
        result = run(args, work)
    finally:
        Proc.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (OUT / f"migrate-{stamp}.json").write_text(json.dumps(result, indent=1) + "\n")
    log(
        f"\nimport of {result['files']} files ({result['bytes']} bytes) with --jobs "
        f"{result['jobs']}: {result['import_s']} s = {result['import_files_per_s']} files/s, "
        f"{result['import_mb_per_s']} MB/s; rerun (nothing to do) {result['rerun_s']} s; "
        f"compare {result['compare_s']} s = {result['compare_projects_per_s']} projects/s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
