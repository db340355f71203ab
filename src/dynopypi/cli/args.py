"""The ``dynopypi`` command line's parsers: every flag, its help and its default.

Kept apart from ``cli`` (which runs the commands) so the long list of ``run`` flags, which
mirror ``pypi-server run``, reads in one place.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dynopypi import __version__
from dynopypi.cli.audit import audit_parser
from dynopypi.cli.ldap import explain_flags, ldap_flags
from dynopypi.cli.migrate import compare_parser
from dynopypi.cli.operations import operations_flags, retention_parsers
from dynopypi.cli.storage import storage_flags, storage_parser, where_flags
from dynopypi.cli.trust import trust_parsers
from dynopypi.cli.upstream import upstream_flags, upstream_parser

_RUN_HELP = """\
Serve one or more package directories as a PEP 503/691 index.

Every wheel, sdist and egg below PACKAGES_DIR (any depth) is served; files copied in or
removed appear in the index within a second. Uploads go to the first directory.
Each option can also be set as DYNOPYPI_<OPTION> (e.g. DYNOPYPI_PORT=8080) or in a TOML
file given with --config; flags win over the environment, which wins over the file.
"""


_CHECK_HELP = """\
Validate the settings run would use (the same options, DYNOPYPI_* variables and --config
file) and print them as TOML that can be pasted into the --config file: paths absolute,
durations and sizes as they are written (7d, 1G), credentials in URLs as ***. A wrong
setting is one line naming it, and exit status 2. With --explain USER it prints instead
what USER may do and which line of the rights file grants each right.
"""


def _run_parser(sub: Any, name: str, summary: str) -> None:
    """``run`` and ``check-config`` take the same options: one validates what the other
    would serve with."""
    p = sub.add_parser(
        name,
        help=summary,
        description=_RUN_HELP if name == "run" else _CHECK_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(parser=p)
    p.add_argument(
        "roots",
        nargs="*",
        metavar="PACKAGES_DIR",
        help="package directories, which must exist (default: ~/packages, created if "
        "missing); uploads go to the first",
    )
    p.add_argument("-p", "--port", help="port to listen on (default: 8080)")
    p.add_argument(
        "-i",
        "-H",
        "--host",
        "--interface",
        help="address to listen on (default: 127.0.0.1; 0.0.0.0 for all)",
    )
    _account_flags(p)
    _index_flags(p)
    _page_flags(p)
    _service_flags(p)
    upstream_flags(p)
    storage_flags(p)
    operations_flags(p)
    ldap_flags(p)
    if name == "check-config":
        explain_flags(p)


def _account_flags(p: argparse.ArgumentParser) -> None:
    """Who may do what."""
    p.add_argument(
        "-P",
        "--passwords",
        metavar="HTPASSWD",
        help="Apache htpasswd file with the accounts; '.' for none",
    )
    p.add_argument(
        "--rights",
        metavar="FILE",
        help="per-account rights file (default: HTPASSWD.rights beside the password file)",
    )
    p.add_argument(
        "-a",
        "--authenticate",
        metavar="ACTIONS",
        help="comma-separated actions that need an account: update, download, list; "
        "'.' for none (default: update)",
    )
    p.add_argument(
        "-o",
        "--overwrite",
        action="store_const",
        const=True,
        help="allow uploads to replace an existing file with different content",
    )
    p.add_argument(
        "--oidc-audience",
        metavar="NAME",
        help="the audience trusted publishing expects in CI identity tokens (default: "
        "dynopypi; give each index its own so a token for one is useless on another)",
    )
    p.add_argument(
        "--oidc-token-ttl",
        metavar="SECONDS",
        help="lifetime of API tokens minted by trusted publishing, 900 to 21600 (default: 900)",
    )


def _index_flags(p: argparse.ArgumentParser) -> None:
    """What the index serves beyond its files."""
    p.add_argument(
        "--fallback-url",
        metavar="URL",
        help="redirect requests for unknown projects here, e.g. https://pypi.org/simple/ "
        "(off by default: it invites dependency confusion)",
    )
    p.add_argument(
        "--disable-fallback",
        action="store_true",
        help="accepted for pypiserver compatibility; fallback is off unless --fallback-url",
    )
    p.add_argument(
        "--hash-algo",
        metavar="ALGO",
        help="hash in page links: sha256 (default), md5, sha512, ... or off",
    )


def _page_flags(p: argparse.ArgumentParser) -> None:
    """What pages and logs look like."""
    p.add_argument("--welcome", metavar="FILE", help="HTML file to show at / instead")
    p.add_argument(
        "--cache-control",
        metavar="SECONDS",
        help="send 'Cache-Control: public, max-age=SECONDS' on pages and files",
    )
    p.add_argument("--health-endpoint", metavar="PATH", help="liveness path (default: /health)")
    p.add_argument("--log-file", metavar="FILE", help="log here instead of stderr")
    p.add_argument(
        "--max-upload-size",
        metavar="SIZE",
        help="largest accepted upload, e.g. 500M or 2G (default: 1G)",
    )
    p.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="where the digest/metadata cache lives (default: ~/.cache/dynopypi; disposable)",
    )
    p.add_argument(
        "--rescan-interval",
        metavar="SECONDS",
        help="full re-check of the directories for filesystems without inotify "
        "(default: 60; 0 turns it off)",
    )


def _service_flags(p: argparse.ArgumentParser) -> None:
    """Running as a service: threads, proxies, endpoints, verbosity."""
    p.add_argument("--threads", metavar="N", help="worker threads (default: 8)")
    p.add_argument(
        "--trusted-proxies",
        metavar="ADDRS",
        help="addresses/networks of reverse proxies whose X-Forwarded-For/-Proto/-Host/"
        "-Prefix headers are honoured (e.g. 127.0.0.1); from others they are dropped. The "
        "access log and the login throttle then see the client's address, not the proxy's",
    )
    p.add_argument(
        "--x-accel-redirect",
        metavar="PREFIX",
        help="behind nginx: answer downloads with X-Accel-Redirect to PREFIX<n>/<path> "
        "(n = package directory number) so nginx sends the bytes",
    )
    p.add_argument("--pages-dir", metavar="DIR", type=Path,
                   help="behind nginx: publish pages and links to package files in DIR "
                   "for nginx to send itself (on the packages' filesystem)")  # fmt: skip
    p.add_argument("--ready-endpoint", metavar="PATH", help="readiness path (default: /ready)")
    p.add_argument("--config", metavar="FILE", type=Path, help="TOML file with settings")
    p.add_argument(
        "--server",
        metavar="NAME",
        help="accepted for pypiserver compatibility; dynopypi always uses waitress",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more logging (-v: debug lines of dynopypi: settings, file events, refusals; "
        "-vv: of the libraries too)",
    )
    p.add_argument(
        "-q",
        "--quiet",
        action="count",
        default=0,
        help="less logging (-q: no access log; -qq: only warnings and errors). An access "
        "line reads: ADDRESS METHOD PATH STATUS BYTES DURATION ACCOUNT, the account being "
        "'-' for none or 'tried:NAME' for a refused login, and for a POST / the write and "
        "its files, e.g. 'upload=foo-1.0.tar.gz' or 'remove_pkg=foo-1.0.tar.gz,...'",
    )


_ROOTS_FLAG: dict[str, Any] = {
    "dest": "roots",
    "action": "append",
    "metavar": "PACKAGES_DIR",
    "help": "package directory (repeatable; default: as for run, from DYNOPYPI_ROOTS, "
    "--config or ~/packages)",
}


def _roots_flag(p: argparse.ArgumentParser) -> None:
    """The directories a management command works on, as ``run`` would find them."""
    p.add_argument("-d", "--dir", **_ROOTS_FLAG)
    p.add_argument("--config", metavar="FILE", type=Path, help="TOML file with settings")


def _where_flags(p: argparse.ArgumentParser) -> None:
    """The storage a management command changes in place, found as ``yank`` finds it."""
    _roots_flag(p)
    where_flags(
        p,
        "the bucket the replicas serve (as for run) instead of the package directory; "
        "credentials and region from AWS_* variables or ~/.aws",
    )


def _manage_parsers(sub: Any) -> None:
    pw = sub.add_parser(
        "passwd",
        help="add, update or delete an account in an htpasswd file (bcrypt)",
        description="Add or update USER in the Apache htpasswd FILE (created if missing, "
        "mode 0640, in an existing directory), hashing the password with bcrypt; or delete "
        "USER. A running server picks the change up within a second.",
    )
    pw.set_defaults(parser=pw)
    pw.add_argument("file", type=Path, metavar="FILE")
    pw.add_argument("user", metavar="USER")
    pw.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    pw.add_argument("--delete", action="store_true", help="remove USER")
    for name, what in (("yank", "yank"), ("unyank", "un-yank")):
        y = sub.add_parser(
            name,
            help=f"{what} a release (or one file) in the package directory or bucket (PEP 592)",
            description=f"{what.capitalize()} every file of PROJECT VERSION (or only --file). "
            "The state is kept in PACKAGES_DIR/.dynopypi/yanked.json, or with --storage in "
            "the bucket's journal; a running server (every replica of a bucket) shows the "
            "change within a second.",
        )
        y.set_defaults(parser=y)
        y.add_argument("project", metavar="PROJECT")
        y.add_argument("version", metavar="VERSION")
        y.add_argument("--file", metavar="FILENAME", help="only this file of the release")
        if name == "yank":
            y.add_argument("--reason", default="", help="why (shown by pip)")
        _where_flags(y)
    r = sub.add_parser(
        "reindex",
        help="drop the digest and metadata cache so the next start re-reads files",
        description="Delete the digest and metadata cache of these package directories. "
        "Nothing else changes; the next start reads every file again (and logs its "
        "progress). Stop the server first, or restart it afterwards.",
    )
    r.set_defaults(parser=r)
    _roots_flag(r)
    r.add_argument("--cache-dir", metavar="DIR", help="as for run")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dynopypi", description="A fast private Python package index."
    )
    parser.add_argument("--version", action="version", version=f"dynopypi {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _run_parser(sub, "run", "serve package directories")
    _manage_parsers(sub)
    upstream_parser(sub, _roots_flag)
    trust_parsers(sub, _where_flags)
    audit_parser(sub, _roots_flag)
    retention_parsers(sub, _roots_flag)
    storage_parser(sub)
    compare_parser(sub)
    _run_parser(
        sub,
        "check-config",
        "validate the settings run would use (same options) and print them as TOML",
    )
    return parser
