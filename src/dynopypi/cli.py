"""``dynopypi`` command line: run the index and manage its directory and accounts.

Flags of ``run`` mean what the same flags of ``pypi-server run`` mean, so a pypiserver
unit file can switch binaries and keep its arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .cli_args import build_parser
from .cli_upstream import UPSTREAM_FLAGS
from .config import Settings, build_settings
from .errors import ConfigError


def _passwd(args: argparse.Namespace) -> int:
    from .accounts import set_password

    return set_password(args.file, args.user, delete=args.delete, stdin=args.password_stdin)


def _yank(args: argparse.Namespace) -> int:
    from packaging.version import InvalidVersion, Version

    from .cache import DigestCache
    from .describe import Describer
    from .dists import normalize, parse_filename
    from .errors import InvalidFilename
    from .index import Index
    from .reconcile import Reconciler
    from .yank import YankStore

    settings = build_settings({"roots": args.roots}, config_file=args.config)
    try:
        version = Version(args.version)
    except InvalidVersion:
        print(f"dynopypi: error: {args.version!r} is not a valid version", file=sys.stderr)
        return 2
    index = Index(settings.roots)
    disk = Reconciler(index, DigestCache(None), Describer(None))
    store = YankStore(index.roots)
    found = 0
    for root in range(len(index.roots)):
        matches = []
        for relpath in disk.relpaths(root):
            filename = relpath.rsplit("/", 1)[-1]
            try:
                parsed = parse_filename(filename)
            except InvalidFilename:
                continue
            same_release = parsed.project == normalize(args.project) and parsed.version == version
            if same_release and args.file in (None, filename):
                matches.append(filename)
        if matches:
            reason = args.reason if args.command == "yank" else None
            store.update(root, matches, reason)
            for filename in matches:
                print(f"{args.command}ed {index.roots[root] / filename}")
            found += len(matches)
    if not found:
        print(
            f"dynopypi: error: no files of {args.project} {args.version} in "
            + ", ".join(map(str, settings.roots)),
            file=sys.stderr,
        )
        return 1
    return 0


def _reindex(args: argparse.Namespace) -> int:
    from .server import cache_path

    settings = build_settings(
        {"roots": args.roots, "cache_dir": args.cache_dir}, config_file=args.config
    )
    path = cache_path(settings)
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    print(f"removed {path}; the next start re-reads every file")
    return 0


def _upstream(args: argparse.Namespace) -> int:
    from .upstream_store import UpstreamStore, upstream_dir

    settings = build_settings(
        {"roots": args.roots, "cache_dir": args.cache_dir, "upstream": args.upstream},
        config_file=args.config,
    )
    if not settings.upstream:
        raise ConfigError("upstream: no --upstream URL given (nor in the environment or --config)")
    store = UpstreamStore(upstream_dir(settings.cache_dir, settings.upstream))
    if args.upstream_command == "shadowed":
        for entry in store.shadowed():
            print(
                f"{entry.get('name')} {entry.get('version')} {entry.get('url')} "
                f"first seen {_when(entry.get('first_seen'))}"
            )
        return 0
    try:
        removed = store.purge(args.name)
    except ValueError as exc:
        raise ConfigError(f"purge: {exc}") from None
    for path in removed:
        print(f"removed {path}")
    return 0


def _when(ns: object) -> str:
    from .simple import rfc3339

    return rfc3339(ns) if isinstance(ns, int) else "?"


def settings_from_args(args: argparse.Namespace) -> Settings:
    flags: dict[str, Any] = {
        "roots": args.roots or None,
        "port": args.port,
        "host": args.host,
        "passwords": args.passwords,
        "rights": args.rights,
        "authenticate": args.authenticate,
        "overwrite": args.overwrite,
        "fallback_url": args.fallback_url,
        "hash_algo": args.hash_algo,
        "welcome": args.welcome,
        "cache_control": args.cache_control,
        "health_endpoint": args.health_endpoint,
        "log_file": args.log_file,
        "max_upload_size": args.max_upload_size,
        "cache_dir": args.cache_dir,
        "rescan_interval": args.rescan_interval,
        "threads": args.threads,
        "trusted_proxies": args.trusted_proxies,
        "x_accel_redirect": args.x_accel_redirect,
        "ready_endpoint": args.ready_endpoint,
        **{key: getattr(args, key) for key in UPSTREAM_FLAGS},
    }
    if args.verbose or args.quiet:
        flags["verbosity"] = max(-2, min(3, args.verbose - args.quiet))
    return build_settings(flags, config_file=args.config)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv and argv[0] == "check-config":
        argv[0] = "run"
        checking = True
    else:
        checking = False
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "passwd":
            return _passwd(args)
        if args.command in ("yank", "unyank"):
            return _yank(args)
        if args.command == "reindex":
            return _reindex(args)
        if args.command == "upstream":
            return _upstream(args)
        settings = settings_from_args(args)
    except ConfigError as exc:
        print(f"dynopypi: error: {exc}", file=sys.stderr)
        return 2
    if checking:
        for key, value in vars(settings).items():
            print(f"{key} = {value!r}")
        return 0
    from .server import serve

    serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
