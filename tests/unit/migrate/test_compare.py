"""What ``dynopypi compare`` reports for one project's two pages (pure): each kind of
difference on its own, and nothing for what pip would not see differently."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dynopypi.migrate.compare import Difference, compare_files
from dynopypi.migrate.comparing import Report
from dynopypi.upstream.page import UpstreamFile

T = 1_700_000_000_000_000_000
A = UpstreamFile(
    filename="demo-1.0-py3-none-any.whl",
    url="https://old.example/files/demo-1.0-py3-none-any.whl",
    sha256="ab" * 32,
    requires_python=">=3.9",
    yanked=None,
    size=100,
    upload_ns=T,
    metadata_sha256="cd" * 32,
)
S = 1_000_000_000


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"url": "https://new.example/elsewhere.whl", "size": None}, []),
        ({"upload_ns": T + 2 * S}, []),  # within the tolerance
        ({"metadata_sha256": None}, []),  # pip reads the file's own: the same file
        ({"sha256": "ef" * 32}, [("sha256", "ab" * 32, "ef" * 32)]),
        ({"yanked": ""}, [("yanked", None, "yanked")]),
        ({"yanked": "why"}, [("yanked", None, "yanked: why")]),
        ({"requires_python": None}, [("requires-python", ">=3.9", None)]),
        (
            {"upload_ns": T + 3 * S},
            [("upload-time", "2023-11-14T22:13:20.000Z", "2023-11-14T22:13:23.000Z")],
        ),
        ({"upload_ns": None}, [("upload-time", "2023-11-14T22:13:20.000Z", None)]),
        ({"metadata_sha256": "ef" * 32}, [("core-metadata", "cd" * 32, "ef" * 32)]),
    ],
)
def test_each_kind_of_difference_alone(
    changes: dict[str, object], expected: list[tuple[str, str | None, str | None]]
) -> None:
    found = compare_files("demo", [A], [replace(A, **changes)], tolerance_ns=2 * S)  # type: ignore[arg-type]
    assert [(d.kind, d.old, d.new) for d in found] == expected


def test_files_on_one_side_only_in_name_order() -> None:
    b = replace(A, filename="demo-0.9.tar.gz")
    c = replace(A, filename="demo-2.0.tar.gz")
    found = compare_files("demo", [A, b], [c, A], tolerance_ns=0)
    assert [d.line() for d in found] == [
        "demo: demo-0.9.tar.gz: missing on the new index",
        "demo: demo-2.0.tar.gz: not on the old index",
    ]


def test_the_summary_counts_each_kind() -> None:
    report = Report("https://old/", "https://new/", projects=3, files=10)
    assert report.summary() == "compared 3 projects, 10 files: the two indexes answer alike"
    report.differences = [
        Difference("a", "sha256", "a-1.tar.gz", "x", "y"),
        Difference("a", "only-old", "a-2.tar.gz", None, None),
        Difference("b", "only-old", "b-2.tar.gz", None, None),
    ]
    report.problems = ["c: https://new/: too slow"]
    assert report.summary() == (
        "compared 3 projects, 10 files: 3 differences (only-old 2, sha256 1, pages not read 1)"
    )
    assert report.as_json()["counts"] == {"only-old": 2, "sha256": 1}
    assert report.as_json()["alike"] is False
