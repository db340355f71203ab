"""The operator's part of the command line: ``run``'s metrics and quota flags (one group),
``dynopypi retention plan|apply`` (what old releases the rules remove, shown before anything
goes; removing exactly that) and ``dynopypi usage`` (what each project holds).

Quotas per project glob come from the TOML file (``quota_overrides``) or
``DYNOPYPI_QUOTA_OVERRIDES``: a table does not fit a flag. ``plan`` removes nothing: it
prints (or writes with ``--out``) every release the rules select, with its files, sizes and
the rule. ``apply --from-plan`` removes those releases through the store's own removal (the
web's ``remove_pkg``: journaled on a bucket, seen by every running replica within a second),
skipping any release that changed since the plan, and records each removal in the audit
trail. Rules come from flags, or from the ``[retention]`` table of the ``--config`` file
(flags win).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dynopypi.audit.records import REMOVE, Event
from dynopypi.cli.audit import record_cli
from dynopypi.cli.storage import where_flags
from dynopypi.core.usage import usage_of
from dynopypi.core.visibility import parse_duration
from dynopypi.errors import ConfigError, Refused
from dynopypi.publish.quota import human
from dynopypi.publish.retention import Rules, changed, from_json, plan_releases, to_json
from dynopypi.settings.config import Settings, build_settings
from dynopypi.settings.operations import quota_for
from dynopypi.settings.toml import load_section

OPERATIONS_FLAGS = ("metrics", "metrics_listen", "quota_project", "quota_total")


def operations_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("metrics and quotas")
    g.add_argument(
        "--no-metrics",
        dest="metrics",
        action="store_const",
        const=False,
        help="no /metrics at all, and no counting (default: /metrics for any account of "
        "-P/--passwords, and on --metrics-listen)",
    )
    g.add_argument(
        "--metrics-listen",
        metavar="HOST:PORT",
        help="also serve /metrics, without accounts, on this address of its own (e.g. "
        "127.0.0.1:9108): one that only Prometheus reaches",
    )
    g.add_argument(
        "--quota-project",
        metavar="SIZE",
        help="most bytes one project may hold, e.g. 5G; an upload past it is refused with "
        "507 (per-project globs: quota_overrides in --config)",
    )
    g.add_argument(
        "--quota-total",
        metavar="SIZE",
        help="most bytes the whole index may hold, e.g. 500G (507 past it)",
    )


_RULE_FLAGS = ("keep_last", "drop_prereleases_older_than", "drop_yanked_older_than")


def retention_parsers(sub: Any, roots_flag: Any) -> None:
    p = sub.add_parser(
        "retention",
        help="remove old releases by rules, after a preview (plan, then apply)",
        description="Plan which releases the rules remove (nothing is removed), then apply "
        "exactly that plan. Never the newest release of a project.",
    )
    p.set_defaults(parser=p)
    verbs = p.add_subparsers(dest="retention_command", metavar="VERB", required=True)
    plan = verbs.add_parser("plan", help="print (or --out) what the rules would remove")
    plan.set_defaults(parser=plan)
    plan.add_argument("--keep-last", metavar="N", type=int,
                      help="keep the newest N final releases of each project")  # fmt: skip
    plan.add_argument("--drop-prereleases-older-than", metavar="DURATION",
                      help="remove pre- and dev releases older than this (30d, P30D)")  # fmt: skip
    plan.add_argument("--drop-yanked-older-than", metavar="DURATION",
                      help="remove wholly yanked releases older than this")  # fmt: skip
    plan.add_argument("--project", metavar="GLOB", action="append",
                      help="only these projects (repeatable; default: all)")  # fmt: skip
    plan.add_argument("--keep", metavar="SPEC", action="append",
                      help="never remove what this requirement matches, e.g. 'acme==1.2.*' "
                      "(repeatable)")  # fmt: skip
    plan.add_argument("--out", metavar="PLAN.json", type=Path, help="write the plan here")
    apply = verbs.add_parser("apply", help="remove exactly what a plan lists")
    apply.set_defaults(parser=apply)
    apply.add_argument("--from-plan", metavar="PLAN.json", type=Path, required=True,
                       help="the plan 'retention plan --out' wrote")  # fmt: skip
    usage = sub.add_parser("usage", help="list the biggest projects and the quotas",
                           description="Bytes each project holds, biggest first.")  # fmt: skip
    usage.set_defaults(parser=usage)
    usage.add_argument("--top", metavar="N", type=int, default=20, help="how many (20)")
    usage.add_argument("--json", action="store_true", help="one JSON object per project")
    for verb in (plan, apply, usage):
        roots_flag(verb)
        where_flags(verb, "the bucket the replicas serve (as for run)")


def _settings(args: argparse.Namespace) -> Settings:
    flags = {"roots": args.roots, "storage": args.storage, "s3_endpoint": args.s3_endpoint}
    return build_settings(flags, config_file=args.config)


def _open(settings: Settings) -> Any:
    from dynopypi.build import open_for_changes

    return open_for_changes(settings)


def rules_of(args: argparse.Namespace) -> Rules:
    """The rules from the flags, else the config file's ``[retention]`` table."""
    table = load_section(args.config, "retention") if args.config else {}
    values: dict[str, Any] = {key: table.get(key) for key in (*_RULE_FLAGS, "projects", "keep")}
    values.update({k: getattr(args, k) for k in _RULE_FLAGS if getattr(args, k) is not None})
    values["projects"] = args.project or values["projects"] or ["*"]
    values["keep"] = (args.keep or []) + list(values["keep"] or [])
    if not any(values[k] is not None for k in _RULE_FLAGS):
        raise ConfigError(
            "retention plan: give a rule (--keep-last N, --drop-prereleases-older-than "
            "DURATION, --drop-yanked-older-than DURATION) or a [retention] table in --config"
        )
    return Rules(
        keep_last=_count(values["keep_last"]),
        prereleases_older_than=_seconds("drop-prereleases-older-than", values[_RULE_FLAGS[1]]),
        yanked_older_than=_seconds("drop-yanked-older-than", values[_RULE_FLAGS[2]]),
        projects=tuple(str(g) for g in values["projects"]),
        keep=tuple(str(k) for k in values["keep"]),
    )


def _count(value: Any) -> int | None:
    if value is None:
        return None
    if not str(value).isdigit():
        raise ConfigError(f"--keep-last: {value!r} is not a number of releases")
    return int(value)


def _seconds(name: str, value: Any) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(str(value))
    except ValueError as exc:
        raise ConfigError(f"--{name}: {exc}") from None


def run_retention(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        if args.command == "usage":
            return _usage(args, settings)
        if args.retention_command == "plan":
            return _plan(args, settings)
        return _apply(args, settings)
    except Refused as exc:
        print(f"dynopypi: error: {exc.message}", file=sys.stderr)
        return 1


def _plan(args: argparse.Namespace, settings: Settings) -> int:
    rules = rules_of(args)
    index, _releases = _open(settings)
    planned = plan_releases(index.snapshot.projects.values(), rules, time.time())
    for release in planned:
        print(f"{release.project} {release.version}: {len(release.files)} files, "
              f"{human(release.size)} ({release.rule})")  # fmt: skip
    total = sum(r.size for r in planned)
    print(f"{len(planned)} releases, {human(total)} would be removed", file=sys.stderr)
    if args.out is not None:
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        args.out.write_text(to_json(planned, rules, created), encoding="utf-8")
        print(f"plan written to {args.out}; apply it with: dynopypi retention apply "
              f"--from-plan {args.out}", file=sys.stderr)  # fmt: skip
    return 0


def _apply(args: argparse.Namespace, settings: Settings) -> int:
    try:
        planned = from_json(args.from_plan.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"--from-plan: cannot read {args.from_plan}: {exc.strerror}") from None
    index, releases = _open(settings)
    removed = skipped = 0
    for release in planned:
        project = index.snapshot.project(release.project)
        current = [f for f in project.files if str(f.version) == release.version] if project else []
        why = changed(release, current)
        if why is not None:
            print(f"skipped {release.project} {release.version}: {why}")
            skipped += 1
            continue
        files = releases.remove(release.project, release.version)
        print(f"removed {release.project} {release.version} ({release.rule})")
        removed += 1
        record_cli(settings, Event(
            REMOVE, {}, "local", release.project, release.version,
            tuple((f.filename, f.sha256) for f in files), extra={"retention": release.rule},
        ))  # fmt: skip
    print(f"{removed} releases removed, {skipped} skipped", file=sys.stderr)
    return 0


def _usage(args: argparse.Namespace, settings: Settings) -> int:
    index, _releases = _open(settings)
    usage = usage_of(index.snapshot, 1 if settings.storage else len(settings.roots))
    for project, size in usage.biggest(args.top):
        limit = quota_for(project, settings.quota_project, settings.quota_overrides)
        if args.json:
            print(json.dumps({"project": project, "bytes": size, "quota": limit}))
        else:
            quota = f" of {human(limit)} ({100 * size / limit:.0f}%)" if limit else ""
            print(f"{project:<40} {human(size):>12}{quota}")
    quota = f" of {human(settings.quota_total)}" if settings.quota_total else ""
    print(f"total: {human(usage.total)}{quota} in {usage.files} files, "
          f"{len(usage.projects)} projects", file=sys.stderr)  # fmt: skip
    return 0
