"""The command line's public-packages block: ``run``'s upstream flags (one group) and the
``dynopypi upstream`` command (shadowed names, held-back files, purge; what they print is
``upstream_report``'s)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from dynopypi.dists.names import is_valid_project_name, normalize
from dynopypi.errors import ConfigError
from dynopypi.ops.logsafe import redact
from dynopypi.settings.config import Settings, build_settings

if TYPE_CHECKING:
    from dynopypi.upstream.store import UpstreamStore


def upstream_flags(p: argparse.ArgumentParser) -> None:
    """Public packages through this index: the upstream pull-through cache and its guards."""
    g = p.add_argument_group("public packages (upstream)")  # one group, in --help's order
    _source_flags(g)
    _private_flags(g)
    _cooldown_flags(g)
    g.add_argument(
        "--upstream-cache-max",
        metavar="SIZE",
        help="bound the cached upstream files, e.g. 50G (least recently used evicted)",
    )


def _source_flags(g: argparse._ArgumentGroup) -> None:
    """Where public packages come from, and how long they are asked for and kept."""
    g.add_argument(
        "--upstream",
        metavar="URL",
        action="append",
        help="simple index to pull public packages from, e.g. https://pypi.org/simple/ "
        "(repeatable, tried in order; credentials from the URL or ~/.netrc). Credentials "
        "given here are visible to every user of the machine (ps): put the URL in "
        "DYNOPYPI_UPSTREAM or the --config file, or the login in ~/.netrc",
    )
    g.add_argument(
        "--upstream-files-host",
        metavar="HOST",
        action="append",
        help="another host (HOST or HOST:PORT) that upstream files may be fetched from "
        "(repeatable); only the --upstream hosts otherwise (files.pythonhosted.org is "
        "implied for pypi.org). Links and redirects elsewhere are refused",
    )
    g.add_argument(
        "--upstream-ttl",
        metavar="SECONDS",
        help="use a cached upstream page this long before revalidating it (default: 600)",
    )
    g.add_argument(
        "--upstream-timeout",
        metavar="SECONDS",
        help="connect/read timeout for upstream requests (default: 10)",
    )


def _private_flags(g: argparse._ArgumentGroup) -> None:
    """The dependency-confusion guards: which names never come from upstream."""
    g.add_argument(
        "--private",
        metavar="GLOB",
        action="append",
        help="names never served from upstream, e.g. 'acme-*' (repeatable); a name with any "
        "local file is private too. Private names are not even looked up upstream, so "
        "`dynopypi upstream shadowed` cannot learn that someone published them publicly, "
        "unless --private-check",
    )
    g.add_argument(
        "--private-check",
        action="store_const",
        const=True,
        help="look private names (matching --private, or with local files) up upstream "
        "too, in the background (at most once per --upstream-ttl a name, never served, never "
        "delaying a request), to record who publishes them publicly; off by default: each "
        "lookup tells the upstream a private name",
    )
    g.add_argument(
        "--merge",
        metavar="GLOB",
        action="append",
        help="names whose local files may sit beside upstream's (repeatable; e.g. a patched "
        "fork): a version with a local file is served from local files only",
    )


def _cooldown_flags(g: argparse._ArgumentGroup) -> None:
    """The cooldown: how old an upstream file must be to be served."""
    g.add_argument(
        "--min-age",
        metavar="DURATION",
        help="cooldown: hide upstream files younger than this (7d, 12h, P7D; default: off). "
        "A project page says what it holds back in its X-Dynopypi-Held header (and in the "
        "JSON page's meta._dynopypi-held); `dynopypi upstream held NAME` lists the files and "
        "when each is served. Local files are never held back",
    )
    g.add_argument(
        "--min-age-exempt",
        metavar="SPEC",
        action="append",
        help="NAME or NAME==VERSION that skips the cooldown (repeatable)",
    )
    g.add_argument(
        "--min-age-unknown",
        metavar="CHOICE",
        help="upstream files without an upload time: exclude (default), include, or "
        "first-seen (use when this index first saw them)",
    )


UPSTREAM_FLAGS = (
    "upstream",
    "upstream_ttl",
    "upstream_timeout",
    "private",
    "private_check",
    "merge",
    "min_age",
    "min_age_exempt",
    "min_age_unknown",
    "upstream_cache_max",
    "upstream_files_host",
)


def credentials_warning(urls: Sequence[str] | None) -> str | None:
    """The warning ``run`` prints when ``--upstream`` URLs given as flags carry credentials:
    a command line is visible to every user of the machine (``ps``, /proc). It names the
    alternatives, never the secret."""
    if not any(redact(url) != url for url in urls or ()):
        return None
    return (
        "dynopypi: warning: --upstream carries credentials on the command line, where every "
        "user of this machine sees them (ps); give the URL in DYNOPYPI_UPSTREAM or the "
        "--config file instead, or the login in ~/.netrc"
    )


_UPSTREAM_HELP = """\
The upstream cache, as the server keeps it on disk: read with the server's own settings
(--config FILE, DYNOPYPI_* variables, or the flags below as given to run), so it
finds the same cache directory.
"""


def upstream_parser(sub: Any, roots_flag: Callable[[argparse.ArgumentParser], None]) -> None:
    u = sub.add_parser(
        "upstream",
        help="the upstream cache: shadowed names, held-back files, purge",
        description=_UPSTREAM_HELP,
    )
    u.set_defaults(parser=u)
    commands = u.add_subparsers(dest="upstream_command", metavar="ACTION", required=True)
    shadowed = commands.add_parser(
        "shadowed",
        help="upstream releases hidden because their name is private here, or (--merge) "
        "because a local file has their version (evidence of dependency-confusion attempts)",
        description="List the public projects whose upstream files are hidden here, one "
        "line per name: how many files, which versions (oldest first), the newest, when "
        "first seen, and the rule (private: a --private name; private-first: a name with "
        "local files; merge-same-version: a --merge name's release that has a local "
        "file). A name with local files is served from them only: add --merge NAME to "
        "serve upstream's other versions beside them. " + _UPSTREAM_HELP,
    )
    shadowed.add_argument(
        "--files", action="store_true", help="one line per hidden file, with its URL"
    )
    held = commands.add_parser(
        "held",
        help="what the cooldown (--min-age) holds back of a project, and until when",
        description="List the upstream files of PROJECT that the cooldown (--min-age) "
        "does not serve yet, each with when it will be served, from the project's page "
        "as last fetched (a running server's /simple/PROJECT/ page says the same in its "
        "X-Dynopypi-Held header). " + _UPSTREAM_HELP,
    )
    held.add_argument("name", metavar="PROJECT", help="the project, e.g. requests")
    purge = commands.add_parser(
        "purge",
        help="remove cached upstream pages and files: one project's, all, or by age and "
        "size (--unused-for, --down-to)",
        description="Remove the cached upstream page and files of NAME, or the whole "
        "upstream cache, or the files not downloaded for a while (--unused-for) and the "
        "least recently used down to a size (--down-to); they are fetched again when asked "
        "for. " + _UPSTREAM_HELP,
    )
    purge.add_argument("name", nargs="?", metavar="NAME", help="only this project")
    purge.add_argument(
        "--unused-for", metavar="DURATION", help="only files not downloaded for this long (30d)"
    )
    purge.add_argument(
        "--down-to", metavar="SIZE", help="least recently used files until this much is left"
    )
    purge.add_argument(
        "--dry-run", action="store_true", help="with --unused-for/--down-to: only print"
    )
    for q in (shadowed, held, purge):
        q.set_defaults(parser=q)  # an unknown flag: this command's usage, not a traceback
        roots_flag(q)
        q.add_argument("--cache-dir", metavar="DIR", help="as for run")
        q.add_argument("--upstream", metavar="URL", action="append", help="as for run")
        if q is held:
            _cooldown_flags(q.add_argument_group("the cooldown (as for run)"))


def run_upstream(args: argparse.Namespace) -> int:
    """`dynopypi upstream shadowed|held|purge`: the operator's view of the upstream cache."""
    from dynopypi.upstream.store import UpstreamStore, upstream_dir

    flags = {"roots": args.roots, "cache_dir": args.cache_dir, "upstream": args.upstream}
    if args.upstream_command == "held":
        flags.update({key: getattr(args, key) for key in _COOLDOWN})
    settings = build_settings(flags, config_file=args.config)
    if not settings.upstream:
        raise ConfigError("upstream: no --upstream URL given (nor in the environment or --config)")
    store = UpstreamStore(upstream_dir(settings.cache_dir, settings.upstream))
    if args.upstream_command == "shadowed":
        return _shadowed(store, files=args.files)
    if args.upstream_command == "held":
        return _held(store, args.name, settings)
    if args.unused_for is not None or args.down_to is not None:
        return _purge_by_rules(args, store)
    try:
        removed = store.purge(args.name)
    except ValueError as exc:
        raise ConfigError(f"purge: {exc}") from None
    for path in removed:
        print(f"removed {path}")
    return 0


def _purge_by_rules(args: argparse.Namespace, store: Any) -> int:
    """The cache's age and size rules: files unused for a while, then the least recently
    used down to a size (``upstream.store.stale_files``)."""
    import time

    from dynopypi.core.visibility import parse_duration
    from dynopypi.settings.converters import as_size
    from dynopypi.upstream.store import stale_files

    if args.name is not None:
        raise ConfigError("purge: give a project NAME or --unused-for/--down-to, not both")
    try:
        unused = None if args.unused_for is None else parse_duration(args.unused_for)
    except ValueError as exc:
        raise ConfigError(f"--unused-for: {exc}") from None
    try:
        down_to = None if args.down_to is None else as_size(args.down_to)
    except ConfigError:
        raise ConfigError(f"--down-to: {args.down_to!r} is not a size like 10G") from None
    chosen = stale_files(store.cached_files(), time.time(), unused_for=unused, down_to=down_to)
    for relpath, size in chosen:
        if not args.dry_run:
            store.remove_file(relpath)
        print(f"{'would remove' if args.dry_run else 'removed'} {relpath} ({size} bytes)")
    total = sum(size for _rel, size in chosen)
    print(f"{len(chosen)} files, {total} bytes", file=sys.stderr)
    return 0


_COOLDOWN = ("min_age", "min_age_exempt", "min_age_unknown")


def _shadowed(store: UpstreamStore, *, files: bool) -> int:
    from dynopypi.cli.upstream_report import MERGE_HINT, shadowed_line, shadowed_summary

    entries = store.shadowed()
    for line in [shadowed_line(e) for e in entries] if files else shadowed_summary(entries):
        print(line)
    if entries and not files:
        print(MERGE_HINT, file=sys.stderr)
    return 0


def _held(store: UpstreamStore, name: str, settings: Settings) -> int:
    from dynopypi.build import cooldown
    from dynopypi.cli.upstream_report import held_lines

    if not is_valid_project_name(name):
        raise ConfigError(f"held: {name[:100]!r} is not a valid project name")
    for line in held_lines(store, normalize(name), cooldown(settings), time.time_ns()):
        print(line)
    return 0
