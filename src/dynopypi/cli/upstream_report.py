"""What ``dynopypi upstream shadowed`` and ``dynopypi upstream held`` print: the upstream
cache on disk as an operator reads it, one line per thing worth reading.

Every field shown came from the upstream (or a hand-edited file), so control characters
and terminal escapes are shown as text (``logsafe.escape``, as in the log) and URL
credentials as ``***``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from packaging.version import InvalidVersion, Version

from dynopypi.core.visibility import NS, Cooldown, format_duration, split, utc
from dynopypi.dists.names import NormalizedName
from dynopypi.errors import ConfigError, InvalidFilename
from dynopypi.ops.logsafe import escape, redact
from dynopypi.upstream.names import upstream_dist, upstream_times
from dynopypi.upstream.store import UpstreamStore

_PLAIN_FIELDS = ("name", "version", "rule")


def held_lines(
    store: UpstreamStore, name: NormalizedName, cooldown: Cooldown, now_ns: int
) -> list[str]:
    """The files of ``name``'s cached upstream page that the cooldown holds back now,
    each with when it is served, then a summary line."""
    page = store.load_page(name)
    if page is None:
        raise ConfigError(
            f"held: no cached upstream page of {name!r} in {store.base}; the server fetches "
            f"it on the first request for it (pip install {name}), and its /simple/{name}/ "
            "page says what is held back in the X-Dynopypi-Held header"
        )
    if not cooldown.active:
        return [f"{name}: nothing is held back: there is no cooldown (--min-age is not set)"]
    dists, times = [], {}
    for item in page.files:
        try:
            dist = upstream_dist(page, item, 0)
        except (InvalidFilename, ValueError):
            continue  # not served either
        dists.append(dist)
        times[dist.relpath] = upstream_times(page, item)
    _shown, held = split(dists, lambda d: times.get(d.relpath), cooldown, now_ns=now_ns)
    lines = []
    for h in sorted(held, key=lambda h: (h.version, h.filename), reverse=True):
        if h.until_ns is None:
            when = "no upload time given: held while --min-age-unknown is exclude"
        else:
            when = f"served from {utc(h.until_ns)} (in {_left(h.until_ns - now_ns)})"
        lines.append(f"{name} {h.version} {escape(h.filename, space=True)} {when}")
    age = format_duration(cooldown.min_age_s)
    lines.append(
        f"{name}: {len(held)} of {len(dists)} upstream files held back by the cooldown "
        f"(--min-age {age}), as of the page fetched {utc(int(page.fetched * NS))}"
    )
    return lines


def _left(ns: int) -> str:
    minutes = max(1, ns // (60 * NS))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    return " ".join(f"{n}{u}" for n, u in ((days, "d"), (hours, "h"), (minutes, "m")) if n) or "1m"


def shadowed_summary(entries: Iterable[dict[str, Any]]) -> list[str]:
    """One line per name: how many upstream files are hidden, which versions (sorted as
    versions), the newest, since when, and why."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        by_name.setdefault(str(entry.get("name", "?")), []).append(entry)
    lines = []
    for name in sorted(by_name):
        found = by_name[name]
        versions = sorted({str(e.get("version", "?")) for e in found}, key=_version_key)
        rules = sorted({escape(e.get("rule", "?"), space=True) for e in found})
        seen = [e["first_seen"] for e in found if isinstance(e.get("first_seen"), int)]
        shown = versions if len(versions) <= 5 else [versions[0], "...", *versions[-3:]]
        lines.append(
            f"{escape(name, space=True)}: {len(found)} upstream file"
            f"{'s' if len(found) != 1 else ''} hidden ({', '.join(rules)}), "
            f"newest {escape(versions[-1], space=True)}, versions "
            f"{escape(' '.join(shown))}, first seen {utc(min(seen)) if seen else '?'}"
        )
    return lines


def _version_key(text: str) -> tuple[int, Version | str]:
    try:
        return (1, Version(text))
    except InvalidVersion:
        return (0, text)  # not a version: first, as text


MERGE_HINT = (
    "hint: a name listed here is served from local files only; if it is your fork of "
    "the public project and you want upstream's other versions too, add --merge NAME "
    "(a version with a local file still comes from local files only); --files lists every file"
)


def shadowed_line(entry: dict[str, Any]) -> str:
    """One evidence entry (``--files``): one hidden upstream file."""
    name, version, rule = (escape(entry.get(key, "?"), space=True) for key in _PLAIN_FIELDS)
    url = escape(redact(str(entry.get("url", ""))), space=True)
    first = entry.get("first_seen")
    seen = utc(first) if isinstance(first, int) else "?"
    return f"{name} {version} {url} first seen {seen} ({rule})"
