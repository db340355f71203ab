from __future__ import annotations

import pytest
from packaging.version import Version

from dynopypi.dists.names import file_key, normalize, parse_filename
from dynopypi.errors import InvalidFilename


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Foo.Bar", "foo-bar"),
        ("foo__bar", "foo-bar"),
        ("Foo-_.Bar", "foo-bar"),
        ("ZOPE.interface", "zope-interface"),
        ("simple", "simple"),
    ],
)
def test_normalize(name: str, expected: str) -> None:
    assert normalize(name) == expected


@pytest.mark.parametrize(
    ("filename", "project", "version", "packagetype"),
    [
        ("foo_bar-1.0-py3-none-any.whl", "foo-bar", "1.0", "bdist_wheel"),
        (
            "Foo_Bar-2.0rc1-cp311-cp311-manylinux_2_17_x86_64.whl",
            "foo-bar",
            "2.0rc1",
            "bdist_wheel",
        ),
        ("foo-bar-1.0.tar.gz", "foo-bar", "1.0", "sdist"),
        ("foo_bar-1.0.zip", "foo-bar", "1.0", "sdist"),
        ("foo-1.0.post1.tar.bz2", "foo", "1.0.post1", "sdist"),
        ("foo-1.0.tgz", "foo", "1.0", "sdist"),
        ("foo-1.0.tar.xz", "foo", "1.0", "sdist"),
        ("foo-1.0-py3.8.egg", "foo", "1.0", "bdist_egg"),
        ("foo-1.0-1build-py2.py3-none-any.whl", "foo", "1.0", "bdist_wheel"),
    ],
)
def test_parse_filename(filename: str, project: str, version: str, packagetype: str) -> None:
    parsed = parse_filename(filename)
    assert (parsed.project, parsed.version, parsed.packagetype) == (
        project,
        Version(version),
        packagetype,
    )


@pytest.mark.parametrize(
    "filename",
    [
        "foo.whl",
        "foo-1.0.txt",
        "notapackage.tar.gz",
        "foo-notaversion.tar.gz",
        "foo-1.0-py3-none.whl",
        "../foo-1.0.tar.gz",
        "a/foo-1.0.tar.gz",
        "foo\x00-1.0.tar.gz",
        "-1.0.tar.gz",
        "-1.0-py3-none-any.whl",
        "foo-1.0\n.tar.gz",
        "foo-1.0\t.tar.gz",
        "foo bar-1.0.tar.gz",
        "foo-1.0-build-py3-none-any.whl",
        "foo-1.0--none-any.whl",
        "foo-1.0-py3-none-any-extra-parts.whl",
    ],
)
def test_parse_filename_rejects(filename: str) -> None:
    with pytest.raises(InvalidFilename):
        parse_filename(filename)


def test_python_tags() -> None:
    assert parse_filename("foo-1.0-py3.py2-none-any.whl").python_tag == "py2.py3"
    assert parse_filename("foo-1.0.tar.gz").python_tag == "source"


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        ("Acme_Bar-1.0-py3-none-any.whl", "acme_bar-1.0-py3-none-any.whl", True),
        ("acme.bar-1.0.0-PY3-none-ANY.whl", "acme_bar-1.0-py3-none-any.whl", True),
        ("acme_bar-1.0-py3.py2-none-any.whl", "acme_bar-1.0-py2.py3-none-any.whl", True),
        ("acme_bar-1.0-py3-none-any.whl", "acme_bar-1.0-py2.py3-none-any.whl", False),
        ("acme_bar-1.0-1-py3-none-any.whl", "acme_bar-1.0-py3-none-any.whl", False),
        ("acme_bar-1.0-py3-none-any.whl", "acme_bar-1.0.post0-py3-none-any.whl", False),
        ("Acme-Bar-1.0.tgz", "acme_bar-1.0.tar.gz", True),
        ("acme_bar-1.0.zip", "acme_bar-1.0.tar.gz", False),
        ("acme-1.0-py3.11.egg", "ACME-1.0-PY3.11.egg", True),
    ],
)
def test_file_key(one: str, other: str, same: bool) -> None:
    assert (file_key(one) == file_key(other)) is same
