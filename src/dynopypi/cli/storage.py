"""The command line's package storage: the ``--storage``/``--s3-*`` flags of ``run`` and
``yank``, and ``dynopypi storage copy SRC DST``: its parser, the progress line and
the summary, and every failure a person can cause as one line (a bad URL, a missing
directory, a store that does not answer, boto3 not installed), never a traceback.

SRC and DST are each a package directory or ``s3://BUCKET/PREFIX``. The exit status is 0
when every package is at the destination with the same bytes, 1 when any conflicted,
failed or the copy stopped (run it again: it resumes), 2 for a bad command line.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from dynopypi.cli.migrate import copy_flags, index_report, index_side, is_index_url
from dynopypi.core.progress import progress_line
from dynopypi.errors import ConfigError
from dynopypi.settings.storage import STORAGE_CONVERTERS, parse_s3_url

if TYPE_CHECKING:  # the command's modules load only when it runs, not for every command
    from dynopypi.store.copy.copier import Result, Summary
    from dynopypi.store.copy.sides import Side

_COPY_HELP = """\
Copy every package from SRC to DST, each a package directory or s3://BUCKET/PREFIX
(directory to bucket, bucket to directory, bucket to bucket); SRC may also be any simple
index's URL (Nexus, Artifactory, devpi, pypiserver, GitLab, another dynopypi: the import
of an index, with each file's upload time and yank state).

A package already at DST with the same sha256 is skipped, so a second run does nothing and
a run after an interruption finishes the rest. Other bytes under the same name are a
conflict: reported and kept, never overwritten. Every object's sha256 is checked: an
object in a bucket whose bytes differ from its facts record is refused. In a bucket, each
file gets its facts record, core metadata and a journal entry, so running servers show it
within a second. Yanks and upload times travel too (yanks merged into DST's, never undone).
From an index, each file must match the sha256 of its page or it is refused; upload
times come from the page (PEP 700), else the file's Last-Modified.
S3 credentials and region come from the usual AWS variables or ~/.aws.
"""


def storage_parser(sub: Any) -> None:
    s = sub.add_parser("storage", help="move packages between directories and buckets")
    s.set_defaults(parser=s)
    commands = s.add_subparsers(dest="storage_command", metavar="ACTION", required=True)
    c = commands.add_parser(
        "copy",
        help="copy every package from SRC (directory, s3://BUCKET/PREFIX or an index URL) "
        "to DST (directory or s3://BUCKET/PREFIX)",
        description=_COPY_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.set_defaults(parser=c)
    c.add_argument(
        "src", metavar="SRC", help="package directory, s3://BUCKET/PREFIX or https://HOST/simple/"
    )
    c.add_argument("dst", metavar="DST", help="package directory or s3://BUCKET/PREFIX")
    c.add_argument(
        "--s3-endpoint",
        metavar="URL",
        help="the S3 API's URL for stores other than AWS, for every s3:// side "
        "(default: DYNOPYPI_S3_ENDPOINT)",
    )
    c.add_argument("--src-endpoint", metavar="URL", help="the S3 API's URL for SRC only")
    c.add_argument("--dst-endpoint", metavar="URL", help="the S3 API's URL for DST only")
    c.add_argument(
        "-j", "--jobs", metavar="N", type=int, default=8, help="objects copied at once (default: 8)"
    )
    c.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    c.add_argument("-v", "--verbose", action="store_true", help="a line per copied package")
    copy_flags(c)


def _endpoint(value: str | None, role: str) -> str | None:
    if value is None:
        return None
    try:
        converted: str | None = STORAGE_CONVERTERS["s3_endpoint"](value)
    except ConfigError as exc:
        raise ConfigError(f"{role}: {exc}") from None
    return converted


def open_side(text: str, endpoint: str | None, role: str) -> Side:
    """A side from its command-line spelling; ``ConfigError`` naming SRC or DST."""
    from dynopypi.store.copy.bucket import BucketSide
    from dynopypi.store.copy.sides import DirSide

    if is_index_url(text):
        raise ConfigError(f"{role}: an index URL can only be copied from (SRC), not into")
    if "://" in text or text.startswith("s3:"):
        try:
            bucket, prefix = parse_s3_url(text)
        except ConfigError as exc:
            raise ConfigError(f"{role}: {str(exc).removeprefix('storage: ')}") from None
        try:
            import boto3  # noqa: F401
        except ImportError:
            raise ConfigError(
                f"{role}: s3:// needs boto3, which is not installed; install dynopypi with its "
                "s3 extra (pip install 'dynopypi[s3]')"
            ) from None
        from dynopypi.store.bucket.s3 import S3Storage

        return BucketSide(S3Storage(bucket, prefix, endpoint_url=endpoint))
    side = DirSide(Path(text))
    side.check(role)
    return side


class ProgressLine:
    """One line on a terminal, rewritten at most every ``interval`` seconds; nothing
    when the stream is not a terminal (logs and CI keep only the summary)."""

    def __init__(self, stream: TextIO, *, enabled: bool, interval: float = 0.2) -> None:
        self.stream = stream
        self.enabled = enabled and stream.isatty()
        self.interval = interval
        self.started = time.monotonic()
        self._last = 0.0
        self._shown = False

    def update(self, summary: Summary, *, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._last < self.interval):
            return
        self._last = now
        line = progress_line("copying", summary.done, summary.total, now - self.started)
        line += f" [{_size(summary.copied_bytes)} copied]"
        self.stream.write("\r\x1b[K" + line)
        self.stream.flush()
        self._shown = True

    def pages(self, done: int, total: int) -> None:
        """Before the copy: the index's project pages being read."""
        now = time.monotonic()
        if self.enabled and (done == total or now - self._last >= self.interval):
            self._last = now
            line = progress_line("reading pages", done, total, now - self.started, unit="pages")
            self.stream.write("\r\x1b[K" + line)
            self.stream.flush()
            self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"


def summary_line(summary: Summary, *, refused: int = 0) -> str:
    """``refused``: what an index source refused before the copy (pages, links)."""
    line = (
        f"copied {summary.copied} ({_size(summary.copied_bytes)}), skipped {summary.skipped} "
        f"(already there), conflicts {summary.conflicts}, failed {summary.failed}"
    )
    if summary.ignored:
        line += f", ignored {len(summary.ignored)} (not package files)"
    if refused:
        line += f", refused {refused} (pages or links)"
    if summary.yanks:
        line += f", yanks carried {summary.yanks}"
    if summary.state:
        line += f", tokens and publishers carried {summary.state}"
    return f"{line}, {summary.seconds:.1f} s"


def run_storage(args: argparse.Namespace) -> int:
    """``dynopypi storage copy``: ConfigError for what the person typed (exit 2)."""
    from dynopypi.migrate.source import IndexSide
    from dynopypi.store.base import StoreUnavailable
    from dynopypi.store.copy.bucket import BucketSide
    from dynopypi.store.copy.copier import COPIED, copy

    if args.jobs < 1 or args.jobs > 64:
        raise ConfigError(f"--jobs: {args.jobs} is not between 1 and 64")
    common = _endpoint(args.s3_endpoint or os.environ.get("DYNOPYPI_S3_ENDPOINT"), "--s3-endpoint")
    src = (
        index_side(args)
        if is_index_url(args.src)
        else open_side(args.src, _endpoint(args.src_endpoint, "--src-endpoint") or common, "SRC")
    )
    dst = open_side(args.dst, _endpoint(args.dst_endpoint, "--dst-endpoint") or common, "DST")
    here, there = src.where(), dst.where()
    if here.startswith(there) or there.startswith(here):
        what = "the same place" if here == there else "one inside the other"
        raise ConfigError(f"SRC and DST are {what} ({src.describe()}, {dst.describe()})")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="dynopypi: %(message)s",
        stream=sys.stderr,
    )
    progress = ProgressLine(sys.stderr, enabled=not args.quiet)
    if isinstance(src, IndexSide):
        src.on_page = progress.pages
    try:
        for side, role in ((src, "SRC"), (dst, "DST")):
            try:
                side.prepare(role)
            except StoreUnavailable as exc:
                return _fail(f"{role}: {exc.message}")

        def report(result: Result, summary: Summary) -> None:
            if result.detail:
                progress.clear()
                print(f"dynopypi: {result.outcome}: {result.item.key}: {result.detail}",
                      file=sys.stderr)  # fmt: skip
            elif args.verbose and result.outcome == COPIED:
                progress.clear()
                print(f"copied {result.item.key} ({_size(result.size)})", file=sys.stderr)
            progress.update(summary, force=summary.done == summary.total)

        summary = copy(src, dst, jobs=args.jobs, on_result=report)
    finally:
        progress.clear()
        for side in (src, dst):
            if isinstance(side, BucketSide):
                side.close()
    if summary.stopped is not None:
        print(f"dynopypi: error: {summary.stopped}; the copy stopped (run it again to "
              "finish: what is done stays done)", file=sys.stderr)  # fmt: skip
    for reason in summary.ignored:
        print(f"dynopypi: ignored {reason}", file=sys.stderr)
    refused = index_report(src) if isinstance(src, IndexSide) else 0
    print(summary_line(summary, refused=refused))
    return 0 if summary.ok and not refused else 1


def _fail(message: str) -> int:
    print(f"dynopypi: error: {message}", file=sys.stderr)
    return 1


def where_flags(p: argparse.ArgumentParser, storage_help: str) -> argparse._ArgumentGroup:
    """``--storage`` and ``--s3-endpoint``: where the packages are, for ``run`` and for the
    commands that change them in place (``yank``/``unyank``)."""
    g = p.add_argument_group("package storage (default: the package directories)")
    g.add_argument("--storage", metavar="s3://BUCKET/PREFIX", help=storage_help)
    g.add_argument(
        "--s3-endpoint",
        metavar="URL",
        help="the S3 API's URL for stores other than AWS (SeaweedFS, MinIO, Ceph, Garage)",
    )
    return g


def storage_flags(p: argparse.ArgumentParser) -> None:
    g = where_flags(
        p,
        "keep packages in an S3-compatible bucket instead of directories (several "
        "replicas may share it); credentials and region from AWS_* variables or ~/.aws",
    )
    g.add_argument(
        "--s3-presigned-downloads",
        action="store_const",
        const=True,
        help="redirect downloads to short-lived pre-signed URLs (clients must reach the store)",
    )
    g.add_argument(
        "--s3-cache-max",
        metavar="SIZE",
        help="keep local copies of downloaded packages up to this size, least recently "
        "used evicted (default: 2G; 0: always stream from the store)",
    )
    g.add_argument(
        "--s3-list-interval",
        metavar="SECONDS",
        help="list the whole bucket this often to adopt objects put there without dynopypi "
        "(default: 600; 0: at start only); changes made through dynopypi travel in "
        "the bucket's journal within a second whatever this is",
    )
    g.add_argument(
        "--s3-journal-keep",
        metavar="SECONDS",
        help="keep the bucket's journal entries at least this long after they are written "
        "(default: 600); older ones the manifest covers are deleted, and a replica that "
        "missed them (paused longer than this) reloads the manifest instead",
    )
