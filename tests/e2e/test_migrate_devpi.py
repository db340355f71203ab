"""``dynopypi storage copy`` from a real devpi-server (PEP 691 JSON, no upload times, a
requires-python per release): imported into a directory, what ``compare`` finds is
exactly what devpi says that a file's own metadata does not."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests
from support.indexes import TIMES, DevpiFactory, S, dynopypi, fill, last_line
from support.server import ServerFactory

from dynopypi.migrate.remote import http_date_ns


@pytest.mark.slow  # devpi-server takes 5 to 15 s to start on a busy machine
def test_devpi_imported_into_a_directory_differs_only_where_devpi_says_more_or_less(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    files = fill(tmp_path / "built", yanks=False)
    factory = DevpiFactory(tmp_path / "work")
    try:
        devpi = factory(tmp_path / "unused")
        devpi.upload(sorted(p for p in files.iterdir() if p.is_file()))
        dest = tmp_path / "dest"
        dest.mkdir()
        done = dynopypi("storage", "copy", devpi.index_url, dest, "-j", "2")
        assert done.returncode == 0, done.stderr
        assert last_line(done).startswith(f"copied {len(TIMES)} (")
        for name in TIMES:
            assert (dest / name).read_bytes() == (files / name).read_bytes()
        page = requests.get(devpi.index_url + "alpha/", timeout=30,
                            headers={"Accept": "application/vnd.pypi.simple.v1+json"})  # fmt: skip
        link = next(f["url"] for f in page.json()["files"] if f["filename"] == "alpha-1.0.tar.gz")
        head = requests.get(urljoin(page.url, link), timeout=30)
        modified = http_date_ns(head.headers.get("Last-Modified"))
        assert modified is not None and (dest / "alpha-1.0.tar.gz").stat().st_mtime_ns == modified
        assert modified // S * S == modified

        imported = server_factory(dest)
        compared = dynopypi("compare", devpi.index_url, imported.index_url, "--json")
        report = json.loads(compared.stdout)
        assert compared.returncode == 1 and report["problems"] == [], compared.stderr
        upload_times = [d for d in report["differences"] if d["kind"] == "upload-time"]
        assert len(upload_times) == len(TIMES) and all(d["old"] is None for d in upload_times)
        # devpi keeps requires-python per release: it says it of alpha 1.0's sdist too,
        # whose PKG-INFO does not, and dynopypi serves what a file's metadata says
        others = [d for d in report["differences"] if d["kind"] != "upload-time"]
        expected = {"project": "alpha", "file": "alpha-1.0.tar.gz", "kind": "requires-python"}
        assert others == [{**expected, "old": ">=3.8", "new": None}], others
    finally:
        factory.close()
