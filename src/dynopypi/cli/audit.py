"""``dynopypi audit verify|show``: check the audit trail's chain, and read it.

Both read the store that ``run`` and ``yank`` would use (``-d``, ``--storage``,
``--s3-endpoint``, ``--config``) and change nothing. ``verify`` exits 1 and says where the
chain breaks (an edited, removed or reordered record); ``show`` prints one line per record,
or with ``--json`` each record as it is stored, one JSON object per line.

Also ``record_cli``: the audit record of a change made from the command line (``yank``).
"""

from __future__ import annotations

import argparse
import fnmatch
import getpass
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from dynopypi.audit.records import Event, Head, actor_of, decode
from dynopypi.cli.storage import where_flags
from dynopypi.core.visibility import parse_duration
from dynopypi.errors import ConfigError, Refused
from dynopypi.settings.config import Settings, build_settings


def audit_parser(sub: Any, roots_flag: Any) -> None:
    p = sub.add_parser(
        "audit",
        help="check and read the audit trail (who uploaded, removed or yanked what)",
        description="The audit trail: one record per write (and per refused write), each "
        "linked to the one before by its sha256, kept in PACKAGES_DIR/.dynopypi/audit/ or "
        "with --storage in the bucket.",
    )
    p.set_defaults(parser=p)
    verbs = p.add_subparsers(dest="audit_command", metavar="VERB", required=True)
    v = verbs.add_parser(
        "verify",
        help="check that no record was edited, removed or reordered",
        description="Read every record and check the chain and its anchored head; exit 1 "
        "and say where it breaks.",
    )
    v.set_defaults(parser=v)
    v.add_argument(
        "--head",
        metavar="SEQ:SHA256",
        help="a chain head kept elsewhere (the server logs one with every record): the chain "
        "must still hold that record with that hash",
    )
    s = verbs.add_parser(
        "show",
        help="print the records, oldest first",
        description="Print the records (filtered), oldest first.",
    )
    s.set_defaults(parser=s)
    s.add_argument("--project", metavar="GLOB", help="only this project (a glob)")
    s.add_argument("--actor", metavar="NAME", help="only records whose actor has this name")
    s.add_argument("--since", metavar="DURATION", help="only the last DURATION (7d, 12h, P7D)")
    s.add_argument("--json", action="store_true", help="each record as JSON, one per line")
    for verb in (v, s):
        roots_flag(verb)
        where_flags(verb, "the bucket the replicas serve (as for run)")


def _settings(args: argparse.Namespace) -> Settings:
    flags = {"roots": args.roots, "storage": args.storage, "s3_endpoint": args.s3_endpoint}
    return build_settings(flags, config_file=args.config)


def run_audit(args: argparse.Namespace) -> int:
    from dynopypi.build import open_audit

    settings = _settings(args)
    if settings.storage is None and not settings.primary_root.is_dir():
        raise ConfigError(f"{settings.primary_root} is not a directory")
    anchor = _anchor(args.head) if args.audit_command == "verify" else None
    try:
        trail = open_audit(settings)
        if args.audit_command == "verify":
            count, problems = trail.verify(anchor)
            for problem in problems:
                print(f"audit: {problem.what}", file=sys.stderr)
            if problems:
                print(f"audit: the chain of {count} records is broken", file=sys.stderr)
                return 1
            head = trail.head()
            tail = f"; head {head.seq}:{head.hash}" if head else ""
            print(f"audit: {count} records, the chain is intact{tail}")
            return 0
        for line in _show(args, trail.stored()):
            print(line)
    except Refused as exc:
        print(f"dynopypi: error: {exc.message}", file=sys.stderr)
        return 1
    return 0


def _anchor(text: str | None) -> Head | None:
    if text is None:
        return None
    seq, _, digest = text.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise ConfigError(f"--head {text!r}: expected SEQ:SHA256, as the server logs it")
    return Head(int(seq), digest.lower())


def _show(args: argparse.Namespace, stored: Iterator[tuple[int, bytes]]) -> Iterator[str]:
    since = None
    if args.since:
        try:
            since = time.time() - parse_duration(args.since)
        except ValueError as exc:
            raise ConfigError(f"--since: {exc}") from None
    for _seq, raw in stored:
        record = decode(raw)
        if record is None or not _wanted(args, record, since):
            continue
        yield raw.decode() if args.json else _line(record)


def _wanted(args: argparse.Namespace, record: dict[str, Any], since: float | None) -> bool:
    if args.project and not fnmatch.fnmatchcase(str(record.get("project", "")), args.project):
        return False
    actor = record.get("actor") or {}
    if args.actor and args.actor not in (actor.values() if isinstance(actor, dict) else ()):
        return False
    if since is not None:
        try:
            stamp = datetime.fromisoformat(str(record.get("time")).replace("Z", "+00:00"))
        except ValueError:
            return True
        return stamp.timestamp() >= since
    return True


def _line(record: dict[str, Any]) -> str:
    actor = record.get("actor") or {}
    who = (actor.get("user") or actor.get("via") or "anonymous") if isinstance(actor, dict) else "?"
    files = ", ".join(str(f.get("name")) for f in record.get("files", []) if isinstance(f, dict))
    reason = f" ({record['reason']})" if record.get("reason") else ""
    return (
        f"{record['seq']:>6} {record.get('time')} {who}@{record.get('address') or '-'} "
        f"{record.get('action')} {record.get('project')} {record.get('version')} "
        f"[{files}] {record.get('outcome')}{reason}"
    )


def record_cli(settings: Settings, event: Event) -> None:
    """The audit record of a change made from the command line: the actor is the local
    account (``via: cli``). A failure to record is said, and does not undo the change."""
    from dynopypi.build import open_audit

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    actor = {**actor_of(None, via="cli"), "user": user}
    try:
        trail = open_audit(settings)
    except Refused as exc:
        print(f"dynopypi: warning: the audit trail could not record this: {exc}", file=sys.stderr)
        return
    if trail.record(Event(**{**event.__dict__, "actor": actor})) is None:
        print("dynopypi: warning: the audit trail could not record this", file=sys.stderr)
