"""The PyPI-compatible JSON API: /pypi/<project>/json and /pypi/<project>/<version>/json."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from packaging.utils import canonicalize_name
from support.corpus import Corpus
from support.inproc import AppServer

ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def get_json(server: AppServer, path: str) -> tuple[requests.Response, Any]:
    r = server.get(path)
    assert r.status_code == 200, server.explain(r)
    assert r.headers.get("Content-Type", "").split(";")[0] == "application/json"
    return r, r.json()


def check_file_entry(
    server: AppServer, corpus: Corpus, page_url: str, entry: dict[str, Any]
) -> None:
    path = corpus.files[entry["filename"]]
    data = path.read_bytes()
    assert entry["digests"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert entry["digests"]["md5"] == hashlib.md5(data).hexdigest()
    assert entry["digests"]["blake2b_256"] == hashlib.blake2b(data, digest_size=32).hexdigest()
    assert entry["size"] == len(data)
    assert ISO_UTC.match(entry["upload_time_iso_8601"]), entry["upload_time_iso_8601"]
    datetime.fromisoformat(entry["upload_time_iso_8601"].replace("Z", "+00:00"))
    assert entry["packagetype"] == (
        "bdist_wheel" if entry["filename"].endswith(".whl") else "sdist"
    )
    assert entry["yanked"] is False
    url = urljoin(page_url, entry["url"])
    assert url == f"{server.base}/packages/{corpus.relpath(entry['filename'])}"
    d = server.get(url)
    assert d.status_code == 200
    assert d.content == data


def test_project_json(server: AppServer, corpus: Corpus) -> None:
    r, data = get_json(server, "/pypi/foo-bar/json")
    info = data["info"]
    assert canonicalize_name(info["name"]) == "foo-bar"
    assert info["version"] == "1.1"
    assert info["summary"] == "The Foo.Bar test package"
    assert info["requires_python"] == ">=3.8"
    assert info["requires_dist"] in (None, [])
    assert sorted(data["releases"]) == ["1.0", "1.1"]
    assert sorted(f["filename"] for f in data["releases"]["1.0"]) == [
        "foo_bar-1.0-py3-none-any.whl",
        "foo_bar-1.0.tar.gz",
    ]
    assert [f["filename"] for f in data["releases"]["1.1"]] == ["foo_bar-1.1-py3-none-any.whl"]
    assert [f["filename"] for f in data["urls"]] == ["foo_bar-1.1-py3-none-any.whl"]
    for files in [*data["releases"].values(), data["urls"]]:
        for entry in files:
            check_file_entry(server, corpus, r.url, entry)


def test_requires_dist(server: AppServer) -> None:
    _, data = get_json(server, "/pypi/app/json")
    assert data["info"]["requires_dist"] == ["lib>=1"]
    assert data["info"]["version"] == "1.0"


def test_version_json(server: AppServer, corpus: Corpus) -> None:
    r, data = get_json(server, "/pypi/foo-bar/1.0/json")
    assert data["info"]["version"] == "1.0"
    assert data["info"]["requires_python"] in (None, "")
    assert sorted(f["filename"] for f in data["urls"]) == [
        "foo_bar-1.0-py3-none-any.whl",
        "foo_bar-1.0.tar.gz",
    ]
    for entry in data["urls"]:
        check_file_entry(server, corpus, r.url, entry)


def test_latest_uses_version_ordering(server: AppServer) -> None:
    """1.10 > 1.9 (not string order); a pre-release is not "latest" while a final exists."""
    _, data = get_json(server, "/pypi/ver-sort/json")
    assert sorted(data["releases"]) == sorted(["1.9", "1.10", "2.0rc1"])
    assert data["info"]["version"] == "1.10"
    assert [f["filename"] for f in data["urls"]] == ["ver_sort-1.10-py3-none-any.whl"]


def test_latest_lib(server: AppServer) -> None:
    _, data = get_json(server, "/pypi/lib/json")
    assert data["info"]["version"] == "2.0"
    assert [f["filename"] for f in data["urls"]] == ["lib-2.0-py3-none-any.whl"]


@pytest.mark.parametrize("version", ["1.9", "1.10", "2.0rc1"])
def test_each_version(server: AppServer, version: str) -> None:
    _, data = get_json(server, f"/pypi/ver-sort/{version}/json")
    assert data["info"]["version"] == version
    assert [f["filename"] for f in data["urls"]] == [f"ver_sort-{version}-py3-none-any.whl"]


def test_project_in_subdirectory(server: AppServer, corpus: Corpus) -> None:
    r, data = get_json(server, "/pypi/zeta/json")
    assert data["info"]["version"] == "0.2"
    assert sorted(data["releases"]) == ["0.1", "0.2"]
    for entry in data["releases"]["0.1"] + data["releases"]["0.2"]:
        check_file_entry(server, corpus, r.url, entry)


@pytest.mark.parametrize("path", ["/pypi/Foo_Bar/json", "/pypi/FOO.BAR/json"])
def test_non_normalized_name(server: AppServer, path: str) -> None:
    r = server.get(path)
    assert r.status_code == 200, server.explain(r)
    assert canonicalize_name(r.json()["info"]["name"]) == "foo-bar"


@pytest.mark.parametrize(
    "path",
    [
        "/pypi/does-not-exist/json",
        "/pypi/foo-bar/9.9/json",
        "/pypi/does-not-exist/1.0/json",
        "/pypi/notapackage/json",
    ],
)
def test_unknown_404(server: AppServer, path: str) -> None:
    r = server.get(path)
    assert r.status_code == 404, server.explain(r)
