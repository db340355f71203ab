"""Which files a page shows at a given moment: the cooldown and the "as of" views. Pure.

Both are filters over a project's files by upload time, applied when a page is served
(time passes without the snapshot changing). The cooldown (``--min-age``) applies to
upstream files only: a brand-new public release waits, a local one never does. An "as
of" view (``/as-of/<INSTANT>/simple/``) at an instant (``2026-10-01T00:00:00Z``) applies
to every file: the index as it stood then, for a build that must be reproducible. One a
duration back from now (``/as-of/P4D/``) is a cooldown the consumer chose: it moves with
the clock, so it reproduces nothing; what it is for is keeping fresh public releases out
(a hijacked account's release is usually found within days), and like ``--min-age`` it
leaves the team's own files alone (``AsOf.local``): a private release uploaded a minute
ago is there, as it is on the plain index.

An upstream file's time is upstream's ``upload-time``; where upstream gives none (HTML
pages), the cooldown leaves it out (fail closed) unless told to include it or to use the
time this index first saw it; an "as of" view uses that first-seen time. Upstream's word
is taken only as far as this index cannot know better: a file that a fetch of its page
did not list was uploaded after that fetch, so its time is never older than it
(``UpstreamTimes.not_before_ns``, see ``upstream.store.not_before``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from packaging.version import InvalidVersion, Version

from dynopypi.core.model import Held
from dynopypi.dists.names import DistFile, NormalizedName, normalize
from dynopypi.errors import ConfigError, InvalidInput

NS = 1_000_000_000
_SHORT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_ISO = re.compile(
    r"^P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?$",
    re.IGNORECASE,
)
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
UNKNOWN_CHOICES = ("exclude", "include", "first-seen")
MAX_SECONDS = 100 * 365 * 86400


def parse_duration(text: str) -> float:
    """``7d``, ``12h``, ``90m``, ``30`` (seconds) or ISO 8601 ``P7D``/``PT12H``; ValueError."""
    short = _SHORT.match(text)
    if short:
        seconds = float(short.group(1)) * _UNIT[short.group(2).lower()]
    else:
        iso = _ISO.match(text.strip())
        if not iso or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
            raise ValueError(f"{text!r} is not a duration like 7d, 12h or P7D")
        parts = {k: int(v) for k, v in iso.groupdict().items() if v}
        seconds = float(
            parts.get("w", 0) * 7 * 86400
            + parts.get("d", 0) * 86400
            + parts.get("h", 0) * 3600
            + parts.get("m", 0) * 60
            + parts.get("s", 0)
        )
    if seconds > MAX_SECONDS:
        raise ValueError(f"{text!r} is longer than 100 years")
    return seconds


def parse_instant(text: str, now_ns: int) -> int:
    """An "as of" INSTANT: RFC 3339 UTC (``2026-10-01T00:00:00Z``) or a duration back from
    now (``P7D``); ns since the epoch. Raise ``InvalidInput``."""
    if len(text) > 64:
        raise InvalidInput("an as-of instant is at most 64 characters")
    if text[:1].upper() == "P":
        try:
            return now_ns - int(parse_duration(text) * NS)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        moment = None
    if (
        moment is None
        or moment.tzinfo is None
        or moment.utcoffset() != timezone.utc.utcoffset(None)
    ):
        raise InvalidInput(
            f"{text[:64]!r} is not an instant: use an RFC 3339 UTC time such as "
            "2026-10-01T00:00:00Z, or a duration back from now such as P7D"
        )
    return int(moment.timestamp()) * NS + moment.microsecond * 1000


@dataclass(frozen=True, slots=True)
class AsOf:
    """An "as of" view: the moment (ns); ``local``: whether local files are filtered too
    (an instant), or only upstream's (a duration back from now: a consumer's cooldown)."""

    ns: int
    local: bool = True


def parse_as_of(text: str, now_ns: int) -> AsOf:
    """``/as-of/<INSTANT>/``: an instant filters every file, a duration (``P4D``) only
    upstream files (see the module doc). Raise ``InvalidInput``."""
    return AsOf(parse_instant(text, now_ns), local=text[:1].upper() != "P")


@dataclass(frozen=True, slots=True)
class Exempt:
    """One ``--min-age-exempt`` spec: a whole project, or one version of it."""

    name: NormalizedName
    version: Version | None

    @classmethod
    def parse(cls, spec: str) -> Exempt:
        name, sep, version = spec.strip().partition("==")
        if not name.strip():
            raise ConfigError(f"min_age_exempt: {spec!r} is not NAME or NAME==VERSION")
        try:
            parsed = Version(version.strip()) if sep else None
        except InvalidVersion:
            raise ConfigError(f"min_age_exempt: {spec!r} has an invalid version") from None
        return cls(normalize(name.strip()), parsed)

    def covers(self, dist: DistFile) -> bool:
        return dist.project == self.name and self.version in (None, dist.version)


@dataclass(frozen=True, slots=True)
class UpstreamTimes:
    """An upstream file's timestamps: upstream's upload time (None: not given), when this
    index first saw it, and when a fetch of its page did not list it yet (0: unknown, as
    for every file of a page's first fetch)."""

    upload_ns: int | None
    first_seen_ns: int
    not_before_ns: int = 0

    @property
    def uploaded_ns(self) -> int | None:
        """Upstream's upload time, but never before the file could have been there."""
        return None if self.upload_ns is None else max(self.upload_ns, self.not_before_ns)

    @property
    def since_ns(self) -> int:
        """Since when the file counts as published (an "as of" view, the pages' upload
        time): the upload time, else when this index first saw it."""
        when = self.uploaded_ns
        return max(self.first_seen_ns, self.not_before_ns) if when is None else when


TimesOf = Callable[[DistFile], "UpstreamTimes | None"]  # None: a local file


@dataclass(frozen=True, slots=True)
class Cooldown:
    min_age_s: float = 0.0
    exempt: tuple[Exempt, ...] = ()
    unknown: str = "exclude"

    @property
    def active(self) -> bool:
        return self.min_age_s > 0

    def allows(self, dist: DistFile, times: UpstreamTimes | None, now_ns: int) -> bool:
        if times is None or not self.active:
            return True  # local files have no cooldown
        if any(spec.covers(dist) for spec in self.exempt):
            return True
        when = self._counted_from(times)
        return when is not None and when <= now_ns - int(self.min_age_s * NS)

    def _counted_from(self, times: UpstreamTimes) -> int | None:
        """When the file's cooldown starts (None: never, an unknown time is excluded)."""
        when = times.uploaded_ns
        if when is None and self.unknown != "exclude":
            # include: unless it is known to be young; first-seen: when it was first seen
            when = times.not_before_ns if self.unknown == "include" else times.since_ns
        return when

    def until_ns(self, times: UpstreamTimes) -> int | None:
        """When a held-back file is served (None: not while upstream gives no time)."""
        when = self._counted_from(times)
        return None if when is None else when + int(self.min_age_s * NS)


def split(
    files: Iterable[DistFile],
    times_of: TimesOf,
    cooldown: Cooldown,
    as_of: AsOf | None = None,
    now_ns: int | None = None,
) -> tuple[tuple[DistFile, ...], tuple[Held, ...]]:
    """The files a page shows now (cooldown) or as of an instant (cooldown, then time),
    and those the cooldown holds back, with when each is served."""
    now = time.time_ns() if now_ns is None else now_ns
    out, held = [], []
    for dist in files:
        times = times_of(dist)
        if not cooldown.allows(dist, times, now):
            assert times is not None  # only upstream files are held back
            held.append(Held(dist.filename, dist.version, cooldown.until_ns(times)))
            continue
        if as_of is not None and (times is not None or as_of.local):
            when = dist.upload_time_ns if times is None else times.since_ns
            if when > as_of.ns:
                continue
        out.append(dist)
    return tuple(out), tuple(held)


def visible(
    files: Iterable[DistFile],
    times_of: TimesOf,
    cooldown: Cooldown,
    as_of: AsOf | None = None,
    now_ns: int | None = None,
) -> tuple[DistFile, ...]:
    """The files a page shows now (cooldown) or as of an instant (cooldown, then time)."""
    return split(files, times_of, cooldown, as_of, now_ns)[0]


def format_duration(seconds: float) -> str:
    """``seconds`` as ``parse_duration`` reads it, in the largest whole unit up to days
    (``7d``, ``12h``, ``90s``)."""
    for unit in ("d", "h", "m"):
        if seconds and seconds % _UNIT[unit] == 0:
            return f"{int(seconds // _UNIT[unit])}{unit}"
    return f"{seconds:g}s"


def utc(ns: int) -> str:
    """An instant to the second, RFC 3339 UTC (``2026-12-09T10:00:00Z``)."""
    return datetime.fromtimestamp(ns // NS, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def held_summary(held: Sequence[Held], cooldown: Cooldown) -> str:
    """One line on what the cooldown holds back of a page, for the person whose install
    did not find a version (the ``X-Dynopypi-Held`` header, the debug log)."""
    versions = sorted({h.version for h in held}, reverse=True)
    named = ", ".join(str(v) for v in versions[:3])
    if len(versions) > 3:
        named += f" and {len(versions) - 3} more versions"
    count = f"{len(held)} file{'s' if len(held) != 1 else ''}"
    age = format_duration(cooldown.min_age_s)
    text = f"{count} of {named} inside the cooldown (--min-age {age})"
    known = [h.until_ns for h in held if h.until_ns is not None]
    if known:
        text += f"; the first is served from {utc(min(known))}"
    if len(known) < len(held):
        text += f"; {len(held) - len(known)} without an upload time (--min-age-unknown exclude)"
    return text
