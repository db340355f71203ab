"""The command line's public-packages block: ``run``'s upstream flags (one group) and the
``dynopypi upstream`` command (shadowed names, purge)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from dynopypi.errors import ConfigError
from dynopypi.ops.logsafe import escape, redact
from dynopypi.settings.config import build_settings


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
        help="cooldown: hide upstream files younger than this (7d, 12h, P7D; default: off)",
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


def upstream_parser(sub: Any, roots_flag: Callable[[argparse.ArgumentParser], None]) -> None:
    u = sub.add_parser("upstream", help="the upstream cache: shadowed names, purge")
    commands = u.add_subparsers(dest="upstream_command", metavar="ACTION", required=True)
    shadowed = commands.add_parser(
        "shadowed",
        help="upstream releases hidden because their name is private here, or (--merge) "
        "because a local file has their version (evidence of dependency-confusion attempts)",
    )
    purge = commands.add_parser(
        "purge",
        help="remove cached upstream pages and files: one project's, all, or by age and size "
        "(--unused-for, --down-to)",
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
    for q in (shadowed, purge):
        q.set_defaults(parser=q)  # an unknown flag: this command's usage, not a traceback
        roots_flag(q)
        q.add_argument("--cache-dir", metavar="DIR", help="as for run")
        q.add_argument("--upstream", metavar="URL", action="append", help="as for run")


def run_upstream(args: argparse.Namespace) -> int:
    """`dynopypi upstream shadowed|purge`: the operator's view of the upstream cache."""
    from dynopypi.upstream.store import UpstreamStore, upstream_dir

    settings = build_settings(
        {"roots": args.roots, "cache_dir": args.cache_dir, "upstream": args.upstream},
        config_file=args.config,
    )
    if not settings.upstream:
        raise ConfigError("upstream: no --upstream URL given (nor in the environment or --config)")
    store = UpstreamStore(upstream_dir(settings.cache_dir, settings.upstream))
    if args.upstream_command == "shadowed":
        for entry in store.shadowed():
            print(shadowed_line(entry))
        return 0
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


_PLAIN_FIELDS = ("name", "version", "rule")


def shadowed_line(entry: dict[str, Any]) -> str:
    """One evidence entry as the operator reads it: every field came from the upstream
    (or a hand-edited file), so control characters and terminal escapes are shown as
    text (``logsafe.escape``, as in the log) and credentials as ``***``."""
    name, version, rule = (escape(entry.get(key, "?"), space=True) for key in _PLAIN_FIELDS)
    url = escape(redact(str(entry.get("url", ""))), space=True)
    return f"{name} {version} {url} first seen {_when(entry.get('first_seen'))} ({rule})"


def _when(ns: object) -> str:
    from dynopypi.render.simple import rfc3339

    return rfc3339(ns) if isinstance(ns, int) else "?"
