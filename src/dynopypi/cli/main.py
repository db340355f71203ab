"""``dynopypi`` command line: run the index and manage its directory and accounts.

Flags of ``run`` mean what the same flags of ``pypi-server run`` mean, so a pypiserver
unit file can switch binaries and keep its arguments. Every failure a person can cause
(a bad flag, a busy port, a missing directory) ends in one line on stderr that says what
is wrong and what to do, and a non-zero exit status; never a traceback.
"""

from __future__ import annotations

import argparse
import errno
import socket
import sys
from collections.abc import Sequence
from typing import Any

from dynopypi.cli import manage as cli_manage
from dynopypi.cli.args import build_parser
from dynopypi.cli.operations import OPERATIONS_FLAGS
from dynopypi.cli.upstream import UPSTREAM_FLAGS, credentials_warning, run_upstream
from dynopypi.errors import ConfigError, Refused
from dynopypi.settings.config import Settings, build_settings
from dynopypi.settings.ldap import LDAP_FLAGS
from dynopypi.settings.storage import STORAGE_FLAGS
from dynopypi.settings.toml import to_toml


def settings_from_args(args: argparse.Namespace) -> Settings:
    flags: dict[str, Any] = {
        "roots": args.roots or None,
        "port": args.port,
        "host": args.host,
        "passwords": args.passwords,
        "rights": args.rights,
        "authenticate": args.authenticate,
        "overwrite": args.overwrite,
        "oidc_audience": args.oidc_audience,
        "oidc_token_ttl": args.oidc_token_ttl,
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
        "pages_dir": args.pages_dir,
        "ready_endpoint": args.ready_endpoint,
        **{key: getattr(args, key) for key in UPSTREAM_FLAGS},
        **{key: getattr(args, key) for key in STORAGE_FLAGS},
        **{key: getattr(args, key) for key in LDAP_FLAGS},
        **{key: getattr(args, key) for key in OPERATIONS_FLAGS},
    }
    if args.verbose or args.quiet:
        flags["verbosity"] = max(-2, min(3, args.verbose - args.quiet))
    return build_settings(flags, config_file=args.config)


def explain_os_error(exc: OSError, host: str, port: int) -> str:
    """What went wrong when starting, and what to do, in one line."""
    where = f"{host}:{port}"
    if isinstance(exc, socket.gaierror):
        return (
            f"host {host!r} cannot be resolved ({exc.strerror}); give an address "
            "(127.0.0.1, 0.0.0.0 for every interface) or a name this machine resolves"
        )
    if exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"cannot listen on {where}: address already in use; stop the program that "
            "listens there (another dynopypi?) or choose another port with -p"
        )
    if exc.errno == errno.EACCES:
        return (
            f"cannot listen on {where}: permission denied; ports below 1024 need root or "
            "CAP_NET_BIND_SERVICE: use a port from 1024 up (nginx in front serves 80/443)"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"cannot listen on {where}: {host} is not an address of this machine; use one "
            "of its addresses, 127.0.0.1, or 0.0.0.0 for all"
        )
    return f"cannot start on {where}: {exc.strerror or exc}"


def check_listen(host: str, port: int) -> None:
    """Bind and release the address before loading anything, so a busy or forbidden port
    is one line at once, not after the index is read (the real bind still checks). Also
    resolves the host: waitress turns a failed lookup into a bare ValueError."""
    family, kind, proto, _name, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as waitress does
        probe.bind(address)


def _run(settings: Settings) -> int:
    from dynopypi.server import serve

    try:
        check_listen(settings.host, settings.port)
        serve(settings)
    except OSError as exc:
        print(f"dynopypi: error: {explain_os_error(exc, settings.host, settings.port)}",
              file=sys.stderr)  # fmt: skip
        return 1
    except ConfigError as exc:  # found while building the parts (e.g. no boto3 for s3://)
        print(f"dynopypi: error: {exc}", file=sys.stderr)
        return 2
    except Refused as exc:  # e.g. the package store cannot be reached at start
        print(f"dynopypi: error: {exc.message}; start again once it answers", file=sys.stderr)
        return 1
    return 0


def _check_config(args: argparse.Namespace, settings: Settings) -> int:
    if args.explain is None:
        print(to_toml(settings), end="")
        return 0
    from dynopypi.cli.ldap import explain

    try:
        print(explain(settings, args.explain, args.groups), end="")
    except ConfigError as exc:
        print(f"dynopypi: error: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if extra:  # the command's own usage, not the top level's
        (args.parser if args.command else parser).error(
            f"unrecognized arguments: {' '.join(extra)}"
        )
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return _command(args)
    except KeyboardInterrupt:
        print("\ndynopypi: interrupted", file=sys.stderr)
        return 130


def _command(args: argparse.Namespace) -> int:
    try:
        if args.command == "passwd":
            return cli_manage.passwd(args)
        if args.command in ("yank", "unyank"):
            return cli_manage.yank(args)
        if args.command == "reindex":
            return cli_manage.reindex(args)
        if args.command == "upstream":
            return run_upstream(args)
        if args.command in ("token", "publisher"):
            return _trust_command(args)
        if args.command == "audit":
            from dynopypi.cli.audit import run_audit

            return run_audit(args)
        if args.command in ("retention", "usage"):
            from dynopypi.cli.operations import run_retention

            return run_retention(args)
        if args.command == "storage":
            from dynopypi.cli.storage import run_storage

            return run_storage(args)
        if args.command == "compare":
            from dynopypi.cli.migrate import run_compare

            return run_compare(args)
        settings = settings_from_args(args)
    except ConfigError as exc:
        print(f"dynopypi: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file the command reads or writes (permissions, ...)
        print(f"dynopypi: error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if args.command == "check-config":
        return _check_config(args, settings)
    warning = credentials_warning(args.upstream)  # the flags only: not env, not --config
    if warning is not None:
        print(warning, file=sys.stderr)
    return _run(settings)


def _trust_command(args: argparse.Namespace) -> int:
    from dynopypi.cli.trust import run_publisher, run_token

    try:
        return run_token(args) if args.command == "token" else run_publisher(args)
    except Refused as exc:  # the store not answering
        print(f"dynopypi: error: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
