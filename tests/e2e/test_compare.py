"""``dynopypi compare OLD NEW``: a pair of real dynopypi servers with a difference of each
kind planted between them, and what the command says about an index it cannot read."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from support.fakedist import make_sdist, make_wheel
from support.indexes import dynopypi, last_line
from support.server import ServerFactory
from support.upstream import Answer, FakeUpstream

from dynopypi.store.directory.yanks import write_yanks

S = 1_000_000_000


def test_a_difference_of_each_kind_is_found(server_factory: ServerFactory, tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    for version in ("1.0", "1.1", "1.2", "1.3", "1.4"):
        make_wheel(old, "same", version)
    make_sdist(old, "same", "1.0")
    make_wheel(old, "gone", "1.0")  # a project the new index lacks
    for path in old.iterdir():
        os.utime(path, ns=(1_700_000_000 * S, 1_700_000_000 * S))
    shutil.copytree(old, new, copy_function=shutil.copy2)
    write_yanks(old, {"same-1.2-py3-none-any.whl": "bad", "same-1.3-py3-none-any.whl": "old"})
    write_yanks(new, {"same-1.3-py3-none-any.whl": "other reason"})
    (new / "same-1.0.tar.gz").unlink()  # missing on the new index
    (new / "gone-1.0-py3-none-any.whl").unlink()
    make_wheel(new, "same", "2.0")  # only on the new index
    (new / "same-1.1-py3-none-any.whl").unlink()  # other bytes, metadata, requires-python
    make_wheel(new, "same", "1.1", requires_python=">=3.12")
    os.utime(new / "same-1.1-py3-none-any.whl", ns=(1_700_000_000 * S, 1_700_000_000 * S))
    os.utime(new / "same-1.4-py3-none-any.whl", ns=(1_700_000_003 * S, 1_700_000_003 * S))
    os.utime(new / "same-1.0-py3-none-any.whl", ns=(1_700_000_001 * S, 1_700_000_001 * S))

    a, b = server_factory(old), server_factory(new)
    compared = dynopypi("compare", a.index_url, b.index_url)
    assert compared.returncode == 1, compared.stderr
    lines = compared.stdout.strip().splitlines()
    assert lines[:-1] == [
        "gone: gone-1.0-py3-none-any.whl: missing on the new index",
        "same: same-1.0.tar.gz: missing on the new index",
        "same: same-1.1-py3-none-any.whl: other bytes (sha256): old "
        f"{_sha(a.index_url, 'same-1.1-py3-none-any.whl')!r}, new "
        f"{_sha(b.index_url, 'same-1.1-py3-none-any.whl')!r}",
        "same: same-1.1-py3-none-any.whl: requires-python: old none, new '>=3.12'",
        "same: same-1.1-py3-none-any.whl: core metadata (sha256): old "
        f"{_meta(a.index_url, 'same-1.1-py3-none-any.whl')!r}, new "
        f"{_meta(b.index_url, 'same-1.1-py3-none-any.whl')!r}",
        "same: same-1.2-py3-none-any.whl: yank state: old 'yanked: bad', new none",
        "same: same-1.3-py3-none-any.whl: yank state: old 'yanked: old', new 'yanked: other "
        "reason'",
        "same: same-1.4-py3-none-any.whl: upload time: old '2023-11-14T22:13:20.000Z', new "
        "'2023-11-14T22:13:23.000Z'",
        "same: same-2.0-py3-none-any.whl: not on the old index",
    ], compared.stdout  # 1.0's upload time is 1 s off: within the default tolerance
    assert lines[-1] == (
        "compared 2 projects, 8 files: 9 differences (only-old 2, only-new 1, sha256 1, "
        "yanked 2, requires-python 1, upload-time 1, core-metadata 1)"
    )
    strict = dynopypi("compare", a.index_url, b.index_url, "--project", "same",
                      "--tolerance", "0.5", "--json")  # fmt: skip
    report = json.loads(strict.stdout)
    assert report["alike"] is False and report["projects"] == 1
    assert report["counts"]["upload-time"] == 2  # 1.0 is now beyond the tolerance too
    assert {"project": "same", "file": "same-1.0-py3-none-any.whl", "kind": "upload-time",
            "old": "2023-11-14T22:13:20.000Z", "new": "2023-11-14T22:13:21.000Z"
            } in report["differences"]  # fmt: skip


def _file(index_url: str, filename: str) -> dict[str, object]:
    import requests

    project = filename.split("-", 1)[0]
    page = requests.get(index_url + project + "/", headers={"Accept": "application/vnd.pypi"
                        ".simple.v1+json"}, timeout=10).json()  # fmt: skip
    found: dict[str, object] = next(f for f in page["files"] if f["filename"] == filename)
    return found


def _sha(index_url: str, filename: str) -> str:
    return str(_file(index_url, filename)["hashes"]["sha256"])  # type: ignore[index]


def _meta(index_url: str, filename: str) -> str:
    return str(_file(index_url, filename)["core-metadata"]["sha256"])  # type: ignore[index]


def test_an_index_that_cannot_be_read_is_not_alike(
    server_factory: ServerFactory, fake: FakeUpstream, tmp_path: Path
) -> None:
    pkgs = tmp_path / "pkgs"
    pkgs.mkdir()
    make_wheel(pkgs, "alpha", "1.0")
    good = server_factory(pkgs)
    fake.answers["/simple/"] = Answer(b'<a href="alpha/">alpha</a>', "text/html")
    fake.answers["/simple/alpha/"] = Answer(b"oops", "text/plain", 500)
    broken = dynopypi("compare", good.index_url, fake.index_url)
    assert broken.returncode == 1
    assert "dynopypi: not compared: alpha: " in broken.stderr and "500" in broken.stderr
    assert last_line(broken).endswith("0 differences (pages not read 1)")

    nothing = dynopypi("compare", good.index_url, f"http://127.0.0.1:{fake.port}/nothing/")
    assert nothing.returncode == 1
    assert "answered 404: is it the index's simple URL" in nothing.stderr
    bad = dynopypi("compare", "ftp://example/", good.index_url)
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "dynopypi: error: OLD_URL: 'ftp://example/' is not an http(s) URL of a simple index"
    )
