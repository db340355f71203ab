"""The management commands: ``passwd``, ``yank``/``unyank`` and ``reindex``.

They work on files (the htpasswd file, the yank state, the cache), or for ``yank`` on a
bucket's journal, without a server; a running server picks their changes up by itself.
Each refusal is a ``ConfigError`` (or an exit status with one line), never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from dynopypi.errors import ConfigError
from dynopypi.settings.config import Settings, build_settings

if TYPE_CHECKING:
    from packaging.version import Version


def passwd(args: argparse.Namespace) -> int:
    from dynopypi.cli.passwd import set_password

    folder = args.file.parent
    if not folder.is_dir():
        # a typo in the path must not create directories (nor an htpasswd nobody reads)
        raise ConfigError(
            f"directory {folder} does not exist (for {args.file}); create it first, "
            "or check the path"
        )
    if args.file.is_dir():
        raise ConfigError(f"{args.file} is a directory; give the path of the htpasswd file")
    if not (args.delete or args.password_stdin or _has_terminal()):
        raise ConfigError(
            "no terminal to ask for the password on; pipe it in with --password-stdin"
        )
    try:
        return set_password(args.file, args.user, delete=args.delete, stdin=args.password_stdin)
    except EOFError:
        raise ConfigError("no password given; nothing was changed") from None
    except ValueError as exc:  # passlib: a line that is not user:hash
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(
            f"{args.file} is not an htpasswd file ({exc}); nothing was changed"
        ) from None


def _has_terminal() -> bool:
    """getpass asks on the controlling terminal (not stdin); without one it would read the
    password from stdin, echoed, after a warning."""
    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
    except OSError:
        return False
    return True


def _version(text: str) -> Version:
    """VERSION as typed; a ``ConfigError`` (usage, exit 2) before anything is read."""
    from packaging.version import InvalidVersion, Version

    try:
        return Version(text)
    except InvalidVersion:
        raise ConfigError(f"{text!r} is not a valid version") from None


def _release_files(args: argparse.Namespace, roots: tuple[Path, ...]) -> list[list[str]]:
    """The file names of PROJECT VERSION in each package directory, read from disk."""
    from dynopypi.core.describe import Describer
    from dynopypi.core.index import Index
    from dynopypi.dists.names import normalize, parse_filename
    from dynopypi.errors import InvalidFilename
    from dynopypi.store.directory.digest_cache import DigestCache
    from dynopypi.store.directory.reconcile import Reconciler

    version = _version(args.version)
    disk = Reconciler(Index(roots), DigestCache(None), Describer(None))
    found: list[list[str]] = []
    for root in range(len(roots)):
        names = []
        for relpath in disk.relpaths(root):
            filename = relpath.rsplit("/", 1)[-1]
            try:
                parsed = parse_filename(filename)
            except InvalidFilename:
                continue
            if parsed.project == normalize(args.project) and parsed.version == version:
                names.append(filename)
        found.append(sorted(names))
    return found


def _fail(message: str) -> int:
    print(f"dynopypi: error: {message}", file=sys.stderr)
    return 1


def yank(args: argparse.Namespace) -> int:
    """Yank or un-yank a release (or ``--file``); say precisely what matched or why not."""
    from dynopypi.store.directory.yanks import YankStore

    flags = {"roots": args.roots, "storage": args.storage, "s3_endpoint": args.s3_endpoint}
    settings = build_settings(flags, config_file=args.config)
    if settings.storage is not None:
        return _yank_in_bucket(args, settings)
    release = _release_files(args, settings.roots)
    everything = sorted({name for names in release for name in names})
    where = ", ".join(map(str, settings.roots))
    if not everything:
        return _fail(f"no files of {args.project} {args.version} in {where}")
    if args.file is not None:
        release = [[n for n in names if n == args.file] for names in release]
        if not any(release):
            return _fail(
                f"{args.project} {args.version} has no file {args.file!r}; "
                f"its files: {', '.join(everything)}"
            )
    store = YankStore(settings.roots)
    if args.command == "unyank":
        release = [
            [n for n in names if store.lookup(root, n) is not None]
            for root, names in enumerate(release)
        ]
        if not any(release):
            print(f"{args.project} {args.version}: nothing is yanked; nothing changed")
            return 0
    reason = args.reason if args.command == "yank" else None
    for root, names in enumerate(release):
        if names:
            store.update(root, names, reason)
            for filename in names:
                print(f"{args.command}ed {settings.roots[root] / filename}")
    _record(args, settings, sorted({n for names in release for n in names}))
    return 0


def _record(args: argparse.Namespace, settings: Settings, filenames: list[str]) -> None:
    from dynopypi.audit.records import Event
    from dynopypi.cli.audit import record_cli

    event = Event(
        args.command, {}, "local", args.project, args.version, tuple((n, "") for n in filenames),
        extra={"yank_reason": args.reason} if args.command == "yank" else {},
    )  # fmt: skip
    record_cli(settings, event)


def _yank_in_bucket(args: argparse.Namespace, settings: Settings) -> int:
    """``yank``/``unyank`` with ``--storage``: the bucket's state loaded as a replica loads
    it, then the web action's own change (``BucketReleases.yank``: one journal entry), which
    every replica follows within a second."""
    from dynopypi.build import open_releases
    from dynopypi.errors import Refused
    from dynopypi.settings.storage import parse_s3_url

    _version(args.version)  # a typo costs no round trip to the store
    assert settings.storage is not None
    bucket, prefix = parse_s3_url(settings.storage)
    where = f"s3://{bucket}/{prefix + '/' if prefix else ''}"
    reason = args.reason if args.command == "yank" else None
    try:
        releases = open_releases(settings)
        if not releases.files_of(args.project, args.version):
            endpoint = f" at {settings.s3_endpoint}" if settings.s3_endpoint else ""
            return _fail(f"no files of {args.project} {args.version} in {where}{endpoint}")
        changed = releases.yank(args.project, args.version, args.file, reason)
    except Refused as exc:  # the store not answering; no such --file
        return _fail(exc.message)
    if not changed:
        print(f"{args.project} {args.version}: nothing is yanked; nothing changed")
        return 0
    for dist in changed:
        print(f"{args.command}ed {where}{dist.relpath}")
    _record(args, settings, [dist.filename for dist in changed])
    return 0


def reindex(args: argparse.Namespace) -> int:
    from dynopypi.build import cache_path

    settings = build_settings(
        {"roots": args.roots, "cache_dir": args.cache_dir}, config_file=args.config
    )
    path = cache_path(settings)
    removed = False
    for suffix in ("", "-wal", "-shm"):
        target = Path(str(path) + suffix)
        removed |= target.exists()
        target.unlink(missing_ok=True)
    what = f"removed {path}" if removed else f"no cache at {path}"
    print(f"{what}; the next start re-reads every file (restart a running server)")
    return 0
