"""The README's commands, run as written (issue 11: the README's first upload commands
failed as written, so now the test suite runs them; issue 20: the quickstart too).

The Quickstart, Use and Upload sections' ``sh`` blocks run in order, as a person following
the README would: ``make run`` with an accounts file and PyPI as the upstream (a local
index standing for PyPI), an account, ``pip install requests`` with its dependencies, then
installs, uploads, yanks and a removal. What the reader is given and the only
substitutions are in ``support/docs.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.docs import REPO, REQUESTS_DEPENDENCIES, Reader, make_public_index, sh_blocks
from support.server import ServerFactory

README = REPO / "README.md"


@pytest.fixture(scope="module")
def public_index(
    module_server_factory: ServerFactory, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """The index standing for PyPI: ``requests`` and its dependencies."""
    server = module_server_factory(make_public_index(tmp_path_factory.mktemp("public")))
    return f"{server.base}/simple/"


@pytest.fixture
def reader(tmp_path: Path, public_index: str) -> Iterator[Reader]:
    person = Reader(tmp_path, public_index)
    yield person
    person.stop()


def test_readme_quickstart_use_and_upload_run_as_written(reader: Reader) -> None:
    text = README.read_text()
    quickstart = list(sh_blocks(text, ("Quickstart",)))
    use = list(sh_blocks(text, ("Use",)))
    upload = list(sh_blocks(text, ("Upload",)))
    assert len(quickstart) == 2 and use and len(upload) == 2, "the README lost its blocks"
    assert quickstart[0].splitlines()[-1].startswith("make run "), quickstart[0]

    for block in quickstart:  # make run (in the background), an account, pip install requests
        reader.follow(block)
    said = "\n".join(reader.transcript)
    assert "added 'alice'" in said, said
    wanted = ["requests", *REQUESTS_DEPENDENCIES]
    assert reader.installed(*wanted) == wanted, said

    for block in use:
        reader.follow(block)
    assert reader.installed("readme-demo") == ["readme-demo"], "\n".join(reader.transcript)

    for block in upload:
        reader.follow(block)
    said = "\n".join(reader.transcript)
    packages = reader.checkout / "packages"
    assert "yanked packages/foo-1.0" in said and "unyanked packages/foo-1.0" in said, said
    assert "removed foo-1.0" in said, said
    assert not list(packages.glob("foo-*")), said  # uploaded, then removed by the last line


def test_readme_is_short_and_links_to_the_docs() -> None:
    """A README that fits on a page; the rest is in docs/, and every page it links exists."""
    text = README.read_text()
    assert len(text.encode()) < 12 * 1024, len(text.encode())
    linked = {link for link in _links(text) if link.startswith("docs/")}
    assert linked, "the README links to no docs page"
    missing = sorted(link for link in linked if not (REPO / link.split("#")[0]).is_file())
    assert not missing, missing
    for needed in ("make run", "make test", ". .venv/bin/activate", "UV_PUBLISH_PASSWORD",
                   "Ctrl-C", "nginx", "openssl"):  # fmt: skip
        assert needed in text, needed
    ignored = (REPO / ".gitignore").read_text().split()
    assert "/htpasswd" in ignored  # the README's own example writes ./htpasswd


def _links(text: str) -> list[str]:
    import re

    return re.findall(r"\]\(([^)\s]+)\)", text)
