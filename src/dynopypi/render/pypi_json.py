"""The PyPI JSON API (``/pypi/<project>/json``), filled with what a private index knows.

Tools such as Renovate, pip-tools and hashin read ``info``, ``releases`` and ``urls``;
fields PyPI computes from data we do not have (download counts, vulnerabilities) carry
the neutral values PyPI itself uses for them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from packaging.version import Version

from dynopypi.core.model import Project
from dynopypi.dists.metadata import CoreMetadata
from dynopypi.dists.names import DistFile
from dynopypi.render.simple import quote_path, rfc3339


def latest_version(project: Project) -> Version:
    """Highest release that is not yanked, preferring final releases, as PyPI does."""
    candidates = {f.version for f in project.files if not f.is_yanked} or {
        f.version for f in project.files
    }
    finals = {v for v in candidates if not v.is_prerelease}
    return max(finals or candidates)


def _file_entry(dist: DistFile, base_url: str) -> dict[str, Any]:
    upload = rfc3339(dist.upload_time_ns)
    # all zeros: not known yet (an upstream file before its first download)
    digests = {k: v for k, v in dist.digests.items() if v.strip("0")}
    return {
        "comment_text": "",
        "digests": {k: digests[k] for k in ("md5", "sha256", "blake2b_256") if k in digests},
        "downloads": -1,
        "filename": dist.filename,
        "has_sig": False,
        "md5_digest": digests.get("md5"),
        "packagetype": dist.packagetype,
        "python_version": dist.python_tag,
        "requires_python": dist.requires_python,
        "size": dist.size,
        "upload_time": upload[:19],
        "upload_time_iso_8601": upload,
        "url": base_url + "packages/" + quote_path(dist.relpath),
        "yanked": dist.is_yanked,
        "yanked_reason": dist.yanked or None,
    }


def _info(project: Project, version: Version, metadata: CoreMetadata | None) -> dict[str, Any]:
    def field(key: str) -> str | None:
        return metadata.first(key) if metadata is not None else None

    urls: dict[str, str] = {}
    if metadata is not None:
        for entry in metadata.all("Project-URL"):
            label, _, url = entry.partition(",")
            urls[label.strip()] = url.strip()
    files = [f for f in project.files if f.version == version]
    return {
        "author": field("Author"),
        "author_email": field("Author-email"),
        "classifiers": metadata.all("Classifier") if metadata is not None else [],
        "description": field("Description") or "",
        "description_content_type": field("Description-Content-Type"),
        "home_page": field("Home-page"),
        "keywords": field("Keywords"),
        "license": field("License"),
        "license_expression": field("License-Expression"),
        "maintainer": field("Maintainer"),
        "maintainer_email": field("Maintainer-email"),
        "name": field("Name") or project.display_name,
        "platform": field("Platform"),
        "project_urls": urls or None,
        "provides_extra": metadata.all("Provides-Extra") if metadata is not None else [],
        "requires_dist": (metadata.all("Requires-Dist") or None) if metadata is not None else None,
        "requires_python": field("Requires-Python")
        or next((f.requires_python for f in files if f.requires_python), None),
        "summary": field("Summary"),
        "version": str(version),
        "yanked": bool(files) and all(f.is_yanked for f in files),
        "yanked_reason": next((f.yanked for f in files if f.yanked), None),
    }


def project_json(
    project: Project,
    base_url: str,
    read_metadata: Callable[[DistFile], CoreMetadata | None],
    version: Version | None = None,
) -> dict[str, Any] | None:
    """The document for the project, or for one version; None when the version is unknown."""
    chosen = latest_version(project) if version is None else version
    files = [f for f in project.files if f.version == chosen]
    if not files:
        return None
    # wheels carry the most trustworthy metadata; sdists' PKG-INFO may be dynamic
    ordered = sorted(files, key=lambda f: f.packagetype != "bdist_wheel")
    metadata = next((m for m in map(read_metadata, ordered) if m is not None), None)
    document: dict[str, Any] = {
        "info": _info(project, chosen, metadata),
        "last_serial": 0,
        "urls": [_file_entry(f, base_url) for f in files],
        "vulnerabilities": [],
    }
    if version is None:
        releases: dict[str, list[dict[str, Any]]] = {}
        for dist in project.files:
            releases.setdefault(str(dist.version), []).append(_file_entry(dist, base_url))
        document["releases"] = releases
    return document
