"""Names and records of the upstream source: the ``--private``/``--merge`` globs, the
merge rule built from them, the ``DistFile`` an upstream page's file becomes, the
evidence log's entries, and the bounded per-name memory of 404s and failures."""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from dynopypi.core.snapshot import MergeRule, private_first
from dynopypi.core.visibility import UpstreamTimes
from dynopypi.dists.names import DistFile, NormalizedName, display_name_of, parse_filename
from dynopypi.upstream.origin import Origin
from dynopypi.upstream.page import UpstreamFile
from dynopypi.upstream.store import CachedPage, relpath_of


def glob_matcher(globs: Sequence[str]) -> re.Pattern[str] | None:
    """``--private``/``--merge`` globs over normalized names (``Acme_*`` == ``acme-*``)."""
    if not globs:
        return None
    parts = [fnmatch.translate(re.sub(r"[-_.]+", "-", g.strip().lower())) for g in globs]
    return re.compile("|".join(f"(?:{p})" for p in parts))


def upstream_rule(local_sources: int, private: Sequence[str], merge: Sequence[str]) -> MergeRule:
    """``private_first`` with the ``--private`` and ``--merge`` globs."""
    private_re, merge_re = glob_matcher(private), glob_matcher(merge)
    return private_first(
        local_sources,
        lambda name: bool(private_re and private_re.match(name)),
        lambda name: bool(merge_re and merge_re.match(name)),
    )


def upstream_times(page: CachedPage, item: UpstreamFile) -> UpstreamTimes:
    """What this index knows of when ``item`` was published (``core.visibility.UpstreamTimes``)."""
    return UpstreamTimes(
        item.upload_ns,
        page.first_seen.get(item.filename, 0),
        page.not_before.get(item.filename, 0),
    )


def upstream_dist(page: CachedPage, item: UpstreamFile, source: int) -> DistFile:
    """The served record of an upstream file; its upload time is ``upstream_times``'s,
    so that a client filtering by upload time (uv's ``--exclude-newer``) is not fooled
    either."""
    parsed = parse_filename(item.filename)
    return DistFile(
        relpath=relpath_of(page.name, item.filename),
        root=source,
        filename=item.filename,
        project=parsed.project,
        display_name=display_name_of(item.filename),
        version=parsed.version,
        packagetype=parsed.packagetype,
        python_tag=parsed.python_tag,
        size=item.size or 0,
        mtime_ns=upstream_times(page, item).since_ns,
        hashes=bytes.fromhex(item.sha256) + bytes(48),  # md5/blake2b known once fetched
        requires_python=item.requires_python,
        metadata_digest=bytes.fromhex(item.metadata_sha256) if item.metadata_sha256 else None,
        yanked=item.yanked,
    )


def shadow_rule(private: bool, merge: bool) -> str:
    """Why an upstream file is hidden, as the evidence log names it: a ``--private`` name,
    a name with local files (``private-first``), or, for a ``--merge`` name, a release
    that has a local file (the fork wins)."""
    if private:
        return "private"
    return "merge-same-version" if merge else "private-first"


def shadow_entry(
    dist: DistFile,
    urls: Mapping[str, tuple[Origin, str]],
    times: Mapping[str, UpstreamTimes],
    rule: str,
) -> dict[str, Any]:
    """One line of the evidence log: an upstream file the merge rule hides (``rule``)."""
    seen = times.get(dist.relpath)
    return {
        "name": str(dist.project),
        "version": str(dist.version),
        "filename": dist.filename,
        "url": urls[dist.relpath][1] if dist.relpath in urls else "",
        "first_seen": seen.first_seen_ns if seen else time.time_ns(),
        "rule": rule,
    }


MAX_REMEMBERED = 50_000  # names remembered as missing upstream or failing


def remember(table: dict[NormalizedName, float], name: NormalizedName, seconds: float) -> None:
    """Remember a 404 or a failure for a while, in a table strangers cannot grow."""
    now = time.monotonic()
    if len(table) >= MAX_REMEMBERED:
        for key in [k for k, until in table.items() if until <= now]:
            del table[key]
        if len(table) >= MAX_REMEMBERED:
            table.clear()
    table[name] = now + seconds
