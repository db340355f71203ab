"""``dynopypi token`` (create, list, revoke API tokens) and ``dynopypi publisher`` (add,
list, remove trusted publishers), on the storage a server serves, found as ``yank``
finds it (``-d DIR``, ``--storage s3://...``, ``--config``); a running server (every
replica) sees the change within a second.

``token create`` prints the token and nothing else on stdout, so ``TOKEN=$(dynopypi
token create ...)`` works; the secret is never shown again and never stored.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from dynopypi.auth.identity import ACTIONS, DOWNLOAD, LIST, UPDATE
from dynopypi.errors import ConfigError
from dynopypi.settings.config import build_settings

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_ISO = re.compile(r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")
MAX_LIFETIME = 10 * 366 * 86400


def parse_duration(text: str) -> float | None:
    """Seconds from ``90d``, ``12h``, ``30m``, ``30s``, ``2w`` or ISO 8601 ``P30D``,
    ``PT12H``; None for ``never``. ``ConfigError`` for anything else."""
    value = text.strip()
    if value.lower() == "never":
        return None
    seconds: int | None = None
    short = re.fullmatch(r"(\d+)([smhdw])", value.lower())
    if short:
        seconds = int(short.group(1)) * _UNITS[short.group(2)]
    iso = _ISO.fullmatch(value.upper())
    if iso and value.upper() not in ("P", "PT") and any(iso.groups()):
        w, d, h, m, s = (int(g or 0) for g in iso.groups())
        seconds = (((w * 7 + d) * 24 + h) * 60 + m) * 60 + s
    if seconds is None or not 0 < seconds <= MAX_LIFETIME:
        raise ConfigError(
            f"--expires {text!r}: expected a duration such as 90d, 12h, 30s or P30D "
            "(at most ten years), or 'never'"
        )
    return float(seconds)


def trust_parsers(sub: Any, where: Callable[[argparse.ArgumentParser], None]) -> None:
    """The ``token`` and ``publisher`` commands; ``where`` adds yank's storage flags."""
    token = sub.add_parser(
        "token",
        help="create, list or revoke API tokens (for CI, twine, uv, poetry, pip)",
        description="API tokens act for an account with at most its rights (checked at "
        "every use), narrowed to some projects and actions. They are kept as digests in "
        "the storage's .dynopypi/tokens/, shared by every replica.",
    )
    token.set_defaults(parser=token)
    tsub = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    create = tsub.add_parser("create", help="create a token and print it (only once)")
    create.set_defaults(parser=create)
    create.add_argument("--user", required=True, help="the account the token acts for")
    create.add_argument(
        "--project", action="append", metavar="GLOB",
        help="a project (glob) the token may upload to (repeatable; default: *)",
    )  # fmt: skip
    create.add_argument(
        "--action", action="append", choices=ACTIONS, metavar="ACTION",
        help="list, download or update (repeatable; default: all three)",
    )  # fmt: skip
    create.add_argument(
        "--expires", default="90d", metavar="DURATION",
        help="lifetime: 90d, 12h, 30s, P30D, or 'never' (default: 90d)",
    )  # fmt: skip
    create.add_argument("--description", default="", help="what the token is for")
    listing = tsub.add_parser("list", help="list tokens (never their secrets)")
    listing.set_defaults(parser=listing)
    listing.add_argument("--json", action="store_true", help="a JSON list of objects")
    revoke = tsub.add_parser("revoke", help="revoke a token: refused everywhere within 1 s")
    revoke.set_defaults(parser=revoke)
    revoke.add_argument("id", metavar="ID", help="the token's id (from 'token list')")
    for p in (create, listing, revoke):
        where(p)
    _publisher_parsers(sub, where)


def _publisher_parsers(sub: Any, where: Callable[[argparse.ArgumentParser], None]) -> None:
    pub = sub.add_parser(
        "publisher",
        help="add, list or remove trusted publishers (CI identities that may publish)",
        description="A trusted publisher lets a CI job prove who it is with an OIDC "
        "identity token (GitHub Actions, GitLab CI, ...) and get a 15-minute upload "
        "token for one project, with no stored secret.",
    )
    pub.set_defaults(parser=pub)
    psub = pub.add_subparsers(dest="publisher_command", metavar="ACTION", required=True)
    add = psub.add_parser("add", help="add a trusted publisher")
    add.set_defaults(parser=add)
    add.add_argument("--project", required=True, help="the project it may publish")
    add.add_argument(
        "--issuer", required=True, metavar="URL",
        help="the OIDC issuer, exactly as its tokens' iss claim (https; e.g. "
        "https://token.actions.githubusercontent.com)",
    )  # fmt: skip
    add.add_argument(
        "--claim", action="append", required=True, metavar="KEY=VALUE",
        help="a claim the identity token must carry exactly (repeatable; e.g. "
        "repository=acme/tools, environment=release)",
    )  # fmt: skip
    listing = psub.add_parser("list", help="list trusted publishers")
    listing.set_defaults(parser=listing)
    listing.add_argument("--json", action="store_true", help="a JSON list of objects")
    remove = psub.add_parser("remove", help="remove a trusted publisher")
    remove.set_defaults(parser=remove)
    remove.add_argument("id", metavar="ID")
    for p in (add, listing, remove):
        where(p)


def _trust(args: argparse.Namespace, user: str | None = None) -> Any:
    """The storage's tokens and publishers; with ``user``, a ``ConfigError`` first when
    the settings name a password file that has no such account (a typo would otherwise
    make a token that can never be used)."""
    from dynopypi.build import build_trust, state_storage

    flags = {"roots": args.roots, "storage": args.storage, "s3_endpoint": args.s3_endpoint}
    settings = build_settings(flags, config_file=args.config)
    if user is not None and settings.passwords is not None:
        from dynopypi.auth.htpasswd import read_htpasswd

        if user not in read_htpasswd(settings.passwords):
            raise ConfigError(
                f"no account {user!r} in {settings.passwords}; add it with 'dynopypi passwd' first"
            )
    storage = state_storage(settings)
    storage.check()
    return build_trust(settings, storage)


def _audit(args: argparse.Namespace, action: str, **extra: Any) -> None:
    """The audit record of a token or publisher change made here (``cli.audit``)."""
    from dynopypi.audit.records import Event
    from dynopypi.cli.audit import record_cli

    flags = {"roots": args.roots, "storage": args.storage, "s3_endpoint": args.s3_endpoint}
    settings = build_settings(flags, config_file=args.config)
    project = str(extra.pop("project", ""))
    record_cli(settings, Event(action, {}, "local", project, extra=extra))


def run_token(args: argparse.Namespace) -> int:
    if args.token_command == "create":
        expires = parse_duration(args.expires)
        projects = tuple(args.project or ("*",))
        actions = frozenset(args.action or (LIST, DOWNLOAD, UPDATE))
        from dynopypi.auth.tokens import project_globs

        trust = _trust(args, args.user)
        text, record = trust.tokens.create(
            args.user, projects=project_globs(projects), actions=actions,
            expires=None if expires is None else time.time() + expires,
            description=args.description,
        )  # fmt: skip
        print(text)
        print(f"created token {record.id} for {args.user}", file=sys.stderr)
        _audit(args, "token-create", token=record.id, for_user=args.user,
               projects=list(projects), actions=sorted(actions))  # fmt: skip
        return 0
    trust = _trust(args)
    if args.token_command == "revoke":
        record = trust.tokens.revoke(args.id)
        if record is None:
            print(f"dynopypi: error: no token {args.id!r}", file=sys.stderr)
            return 1
        print(f"revoked token {record.id} of {record.user}")
        _audit(args, "token-revoke", token=record.id, for_user=record.user)
        return 0
    records = [r.public() for r in trust.tokens.records()]
    if args.json:
        print(json.dumps(records, indent=1))
        return 0
    columns = ("id", "user", "projects", "actions", "expires", "last_used", "description")
    _table([{**r, "expires": _when(r["expires"], r["revoked"])} for r in records], columns)
    return 0


def run_publisher(args: argparse.Namespace) -> int:
    from dynopypi.trust.publishers import parse_claim

    claims = [parse_claim(c) for c in args.claim] if args.publisher_command == "add" else []
    trust = _trust(args)
    if args.publisher_command == "add":
        record = trust.publishers.add(args.project, args.issuer, claims)
        print(f"added publisher {record.id} for {record.project}")
        _audit(args, "publisher-add", project=record.project, publisher=record.id,
               issuer=args.issuer, claims=dict(claims))  # fmt: skip
        return 0
    if args.publisher_command == "remove":
        removed = trust.publishers.remove(args.id)
        if removed is None:
            print(f"dynopypi: error: no publisher {args.id!r}", file=sys.stderr)
            return 1
        print(f"removed publisher {removed.id} of {removed.project}")
        _audit(args, "publisher-remove", project=removed.project, publisher=removed.id)
        return 0
    records = [p.public() for p in trust.publishers.records()]
    if args.json:
        print(json.dumps(records, indent=1))
        return 0
    _table(records, ("id", "project", "issuer", "claims"))
    return 0


def _when(at: float | None, revoked: float | None = None) -> str:
    if revoked is not None:
        return "revoked " + _iso(revoked)
    return "never" if at is None else _iso(at)


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cell(value: object) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, float):
        return _iso(value)
    return "-" if value is None or value == "" else str(value)


def _table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    cells = [[_cell(row[c]) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    for line in [list(columns), *cells]:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())
