"""Quotas: whether an upload fits in its project's limit and the index's (pure).

An upload that would take a project past its limit (``--quota-project``, or the first
``quota_overrides`` glob that matches it) or the whole index past ``--quota-total`` is
refused with ``OverQuota`` (507), saying how much is used and allowed and what to do. A
file that replaces another (``--overwrite``) counts only what it adds. Two uploads arriving
at once may each fit alone and pass together: a quota keeps a store from growing without
bound, it is not an exact ledger.
"""

from __future__ import annotations

from dataclasses import dataclass

from dynopypi.errors import OverQuota


@dataclass(frozen=True)
class Limits:
    project: int | None  # this project's limit in bytes (None: none)
    total: int | None  # the index's


def human(size: float) -> str:
    """Bytes for people: ``1.5 GiB``."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"  # pragma: no cover


def check_quota(
    project: str, adding: int, project_used: int, total_used: int, limits: Limits
) -> None:
    """Refuse (``OverQuota``) unless ``adding`` more bytes fit both limits."""
    if limits.project is not None and project_used + adding > limits.project:
        raise OverQuota(
            f"quota exceeded: project {project!r} holds {human(project_used)} of its "
            f"{human(limits.project)} quota and this file adds {human(adding)}; remove old "
            "releases (dynopypi usage lists the biggest) or ask the operator for more",
            used=project_used, allowed=limits.project,
        )  # fmt: skip
    if limits.total is not None and total_used + adding > limits.total:
        raise OverQuota(
            f"quota exceeded: the index holds {human(total_used)} of its "
            f"{human(limits.total)} quota and this file adds {human(adding)}; remove old "
            "releases (dynopypi usage lists the biggest) or ask the operator for more",
            used=total_used, allowed=limits.total,
        )  # fmt: skip
