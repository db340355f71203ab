"""The command line of moving in from another index: ``storage copy``'s flags for an index
URL as SRC (``--project``, ``--since``, ``--allow-host``, ``--timeout``) and its report,
and ``dynopypi compare OLD_URL NEW_URL`` (its parser, the report as lines or ``--json``).

Credentials are never needed on the command line: ``~/.netrc`` (by host), or for the
source (the copy's SRC, the compare's OLD) ``DYNOPYPI_SOURCE_USER`` and
``DYNOPYPI_SOURCE_PASSWORD``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from dynopypi.core.progress import progress_line
from dynopypi.core.visibility import parse_instant
from dynopypi.errors import ConfigError, InvalidInput
from dynopypi.ops.logsafe import redact

if TYPE_CHECKING:
    from dynopypi.migrate.remote import Remote
    from dynopypi.migrate.source import IndexSide

_COMPARE_HELP = """\
Compare two simple indexes as pip sees them: for every project (or those --project
names), each file's presence, sha256, yank state and reason, requires-python, upload time
(beyond --tolerance) and core metadata hash. Only pages are read, never package files.

Prints one line per difference and a summary line; exit 0 only when the two answer alike,
1 when they differ or a page could not be read, 2 for a bad command line.
Credentials: ~/.netrc by host, or DYNOPYPI_SOURCE_USER/DYNOPYPI_SOURCE_PASSWORD for OLD.
"""


def is_index_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def index_flags(p: argparse._ActionsContainer) -> None:
    """The flags for an index URL as the copy's SRC (or compare's two indexes)."""
    p.add_argument(
        "--project",
        metavar="GLOB",
        action="append",
        default=[],
        help="only the projects whose normalized name matches GLOB (repeatable; "
        "default: every project the index lists)",
    )
    p.add_argument(
        "--allow-host",
        metavar="HOST[:PORT]",
        action="append",
        default=[],
        help="also fetch from this host (an index whose files live on another host); "
        "by default only the index's own host and port are reached",
    )
    p.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        default=30.0,
        help="seconds of silence before an exchange with the index fails (default: 30)",
    )


def copy_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("when SRC is an index URL (https://host/simple/)")
    index_flags(g)
    g.add_argument(
        "--since",
        metavar="INSTANT",
        help="only the files uploaded at or after INSTANT (RFC 3339 UTC such as "
        "2026-10-01T00:00:00Z, or a duration back such as P7D), by the index's upload "
        "times; files without one are all considered",
    )


def compare_parser(sub: Any) -> None:
    c = sub.add_parser(
        "compare",
        help="compare two indexes as pip sees them (files, hashes, yanks, upload times)",
        description=_COMPARE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.set_defaults(parser=c)
    c.add_argument("old", metavar="OLD_URL", help="the index moved from (its simple URL)")
    c.add_argument("new", metavar="NEW_URL", help="the index moved to (its simple URL)")
    index_flags(c)
    c.add_argument(
        "--tolerance",
        metavar="SECONDS",
        type=float,
        default=2.0,
        help="upload times this close are the same (default: 2)",
    )
    c.add_argument("-j", "--jobs", metavar="N", type=int, default=8,
                   help="projects compared at once (default: 8)")  # fmt: skip
    c.add_argument("--json", action="store_true", help="the report as one JSON document")


def _checked(args: argparse.Namespace) -> None:
    if not 1 <= args.jobs <= 64:
        raise ConfigError(f"--jobs: {args.jobs} is not between 1 and 64")
    if not 0 < args.timeout <= 3600:
        raise ConfigError(f"--timeout: {args.timeout} must be more than 0 and at most 3600 seconds")


def remote(url: str, args: argparse.Namespace, role: str, *, source: bool) -> Remote:
    """The index at ``url``; ``ConfigError`` naming ``role`` for a URL that is not one."""
    from dynopypi.migrate.remote import Remote, basic_auth

    auth = None
    user = os.environ.get("DYNOPYPI_SOURCE_USER")
    if source and user:
        auth = basic_auth(user, os.environ.get("DYNOPYPI_SOURCE_PASSWORD", ""))
    try:
        found = Remote(url, allow_hosts=tuple(args.allow_host), timeout=args.timeout, auth=auth)
    except ValueError as exc:
        raise ConfigError(f"{role}: {exc}") from None
    if redact(url) != url:
        print(
            f"dynopypi: warning: {role} carries credentials on the command line, where every "
            "user of this machine sees them (ps); put the login in ~/.netrc or in "
            "DYNOPYPI_SOURCE_USER and DYNOPYPI_SOURCE_PASSWORD instead",
            file=sys.stderr,
        )
    return found


def index_side(args: argparse.Namespace) -> IndexSide:
    """The copy's SRC when it is an index URL."""
    from dynopypi.migrate.source import IndexSide

    _checked(args)
    since = None
    if args.since:
        try:
            since = parse_instant(args.since, time.time_ns())
        except InvalidInput as exc:
            raise ConfigError(f"--since: {exc.message}") from None
    return IndexSide(
        remote(args.src, args, "SRC", source=True),
        globs=tuple(args.project),
        since_ns=since,
        jobs=args.jobs,
    )


def index_report(side: IndexSide) -> int:
    """Say what the index side refused or did not know; how many it refused."""
    for problem in side.problems:
        print(f"dynopypi: refused: {problem}", file=sys.stderr)
    notes = []
    if side.older:
        notes.append(f"{side.older} files older than --since left out")
    if side.unknown_times:
        notes.append(
            f"{side.unknown_times} files without an upload time (neither upload-time nor "
            "Last-Modified): they carry the time of this import"
        )
    for note in notes:
        print(f"dynopypi: {note}", file=sys.stderr)
    return len(side.problems)


class _Progress:
    """``comparing: 1200 of 10000 (12%), 80 projects/s, about 110s left`` on a terminal."""

    def __init__(self) -> None:
        self.started = self.last = time.monotonic()
        self.shown = False

    def show(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - self.last >= 0.2:
            self.last = now
            line = progress_line("comparing", done, total, now - self.started, unit="projects")
            sys.stderr.write("\r\x1b[K" + line)
            sys.stderr.flush()
            self.shown = True

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def run_compare(args: argparse.Namespace) -> int:
    from dynopypi.migrate.comparing import compare_indexes
    from dynopypi.migrate.remote import RemoteError

    _checked(args)
    if not 0 <= args.tolerance <= 86400 * 366:
        raise ConfigError(f"--tolerance: {args.tolerance} is not between 0 and a year")
    for role, url in (("OLD_URL", args.old), ("NEW_URL", args.new)):
        if not is_index_url(url):
            raise ConfigError(f"{role}: {url!r} is not an http(s) URL of a simple index")
    old = remote(args.old, args, "OLD_URL", source=True)
    new = remote(args.new, args, "NEW_URL", source=False)
    progress = _Progress()
    try:
        report = compare_indexes(
            old,
            new,
            globs=tuple(args.project),
            jobs=args.jobs,
            tolerance_ns=int(args.tolerance * 1e9),
            on_project=progress.show if sys.stderr.isatty() else None,
        )
    except RemoteError as exc:
        print(f"dynopypi: error: {exc}", file=sys.stderr)
        return 1
    finally:
        progress.clear()
    if args.json:
        json.dump(report.as_json(), sys.stdout, indent=1)
        print()
    else:
        for problem in report.problems:
            print(f"dynopypi: not compared: {problem}", file=sys.stderr)
        for difference in report.differences:
            print(difference.line())
        print(report.summary())
    return 0 if report.alike else 1
