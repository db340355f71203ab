"""The nginx mode's correctness checks: each of the three servers answers as the app does.

Run once per mode before the load, so that the req/s compared are for the same answers: pages
byte-equal to the app's own (HTML and PEP 691 JSON), downloads by sha256 (also a file in a
sub-folder with a ``+local`` version through X-Accel), ``Range``, ``If-None-Match``, gzip,
and the ``internal`` files location answering 404 from outside.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

from run_common import _sha256, http_get
from run_nginx_site import GZIP_HEADERS, NGINX_MODE_LABELS
from run_target import Target


def nginx_checks(
    ports: dict[str, int], tgt: Target, accel_relpath: str, accel_file: Path
) -> tuple[dict[str, Any], list[str]]:
    """Each mode once: pages byte-equal to the app's own answer, downloads by sha256."""
    out: dict[str, Any] = {}
    problems: list[str] = []
    page_checks(ports, tgt, out, problems)
    download_checks(ports, tgt, accel_relpath, accel_file, out, problems)
    protocol_checks(ports, tgt, out, problems)
    return out, problems


def page_checks(
    ports: dict[str, int], tgt: Target, out: dict[str, Any], problems: list[str]
) -> None:
    """Pages through nginx and static nginx byte-equal to the app's; PEP 691 JSON too."""
    pages = list(
        dict.fromkeys(
            ["/simple/", tgt.project_path]
            + [f"/simple/{p['normalized']}/" for p in tgt.check_projects[:10]]
        )
    )
    compared = 0
    for path in pages:
        status, direct, _ = http_get(ports["direct"], path, timeout=120)
        if status != 200:
            problems.append(f"app direct {path}: status {status}")
            continue
        for mode in ("nginx", "static"):
            status, body, _ = http_get(ports[mode], path, timeout=120)
            compared += 1
            if status != 200 or body != direct:
                problems.append(
                    f"{NGINX_MODE_LABELS[mode]} {path}: status {status}, {len(body)} bytes, "
                    f"not the app's {len(direct)} bytes"
                )
    out["pages_compared"] = compared

    json_accept = {"Accept": "application/vnd.pypi.simple.v1+json"}
    _, direct_json, dh = http_get(ports["direct"], tgt.project_path, headers=json_accept)
    status, body, nh = http_get(ports["nginx"], tgt.project_path, headers=json_accept)
    if status != 200 or body != direct_json or nh.get("content-type") != dh.get("content-type"):
        problems.append(f"nginx->app PEP 691 JSON {tgt.project_path}: {status}, differs")


def download_checks(
    ports: dict[str, int],
    tgt: Target,
    accel_relpath: str,
    accel_file: Path,
    out: dict[str, Any],
    problems: list[str],
) -> None:
    """Downloads by sha256 (X-Accel and static), the app's X-Accel-Redirect, a sub-folder, Range."""
    data = tgt.download_file.read_bytes()
    want = _sha256(data)
    for mode in ("nginx", "static"):
        status, body, headers = http_get(ports[mode], tgt.download_path, timeout=60)
        summary = (
            f"{status}, {len(body)} bytes, {headers.get('content-type')}, "
            f"sha256 {'ok' if _sha256(body) == want else 'WRONG'}"
        )
        out[f"download_{mode}"] = summary
        if status != 200 or _sha256(body) != want:
            problems.append(f"{NGINX_MODE_LABELS[mode]} {tgt.download_path}: {summary}")
    status, body, headers = http_get(ports["direct"], tgt.download_path, timeout=60)
    out["download_direct"] = (
        f"{status}, {len(body)} bytes, X-Accel-Redirect: {headers.get('x-accel-redirect')}"
    )
    if status != 200 or not headers.get("x-accel-redirect"):
        problems.append(f"app direct {tgt.download_path}: {out['download_direct']}")

    status, body, _ = http_get(ports["nginx"], f"/packages/{accel_relpath}", timeout=60)
    ok = status == 200 and _sha256(body) == _sha256(accel_file.read_bytes())
    out["download_subdir_local_version"] = f"{status}, sha256 {'ok' if ok else 'WRONG'}"
    if not ok:
        problems.append(f"nginx->app /packages/{accel_relpath}: {status}, {len(body)} bytes")

    status, body, headers = http_get(
        ports["nginx"], tgt.download_path, headers={"Range": "bytes=0-99"}
    )
    out["download_range"] = f"{status}, {len(body)} bytes"
    if status != 206 or body != data[:100]:
        problems.append(f"nginx->app Range bytes=0-99: {status}, {len(body)} bytes")


def protocol_checks(
    ports: dict[str, int], tgt: Target, out: dict[str, Any], problems: list[str]
) -> None:
    """The internal location not public, If-None-Match -> 304, gzip of /simple/."""
    internal = f"/_dynopypi_files/0/{tgt.download_file.name}"
    status, _, _ = http_get(ports["nginx"], internal)
    out["internal_location"] = status
    if status != 404:
        problems.append(f"nginx {internal} answered {status}: the internal location is public")

    # the ETag of the answer through nginx: the app's, or nginx's own for a page it sends
    _, _, headers = http_get(ports["nginx"], tgt.project_path)
    etag = headers.get("etag", "")
    status, _, _ = http_get(ports["nginx"], tgt.project_path, headers={"If-None-Match": etag})
    out["conditional_get"] = status
    if status != 304:
        problems.append(f"nginx If-None-Match {etag}: {status}, not 304")

    _, plain, _ = http_get(ports["direct"], "/simple/", timeout=120)
    status, body, headers = http_get(
        ports["nginx"], "/simple/", timeout=120, headers=dict(GZIP_HEADERS)
    )
    encoding = headers.get("content-encoding")
    out["simple_gzip"] = f"{status}, {encoding}, {len(body)} of {len(plain)} bytes"
    if status != 200 or (gzip.decompress(body) if encoding == "gzip" else body) != plain:
        problems.append(f"nginx->app /simple/ with gzip: {out['simple_gzip']}, differs")
