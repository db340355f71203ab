"""Every page of the documentation (docs/*.md) runs as written: one test per page with
``sh`` blocks, each a person following that page from the state the quickstart leaves (a
server on ``./packages`` with ``-P ./htpasswd`` and PyPI as the upstream, the account
alice), in a fresh checkout of their own. What the reader is given and the only
substitutions are in ``support/docs.py``. A new page needs nothing here: its blocks run
once it is in docs/. Blocks that cannot run here (other machines, root, podman, secrets)
are fenced ``console`` and are not run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.docs import (
    PUBLIC_INDEX,
    REPO,
    REQUESTS_DEPENDENCIES,
    Reader,
    make_public_index,
    sh_blocks,
)
from support.server import ServerFactory

DOCS = REPO / "docs"
PAGES = sorted(path.name for path in DOCS.glob("*.md") if list(sh_blocks(path.read_text())))
QUICKSTART_SERVER = f"dynopypi run -P ./htpasswd --upstream {PUBLIC_INDEX} ./packages"


def installs_requests(reader: Reader) -> None:
    wanted = ["requests", *REQUESTS_DEPENDENCIES]
    assert reader.installed(*wanted) == wanted, "\n".join(reader.transcript)


def replicas_served_foo(reader: Reader) -> None:
    said = "\n".join(reader.transcript)
    assert reader.installed("foo") == ["foo"], said
    assert "yanked s3://packages/pypi/foo-1.0" in said, said


# what some pages' commands must have done, beyond each command succeeding
OUTCOMES: dict[str, Callable[[Reader], None]] = {
    "install.md": installs_requests,
    "upstream.md": installs_requests,
    "replicas.md": replicas_served_foo,
}


def after_the_quickstart(reader: Reader) -> None:
    """Where every page begins: alice in ./htpasswd, the quickstart's server running."""
    reader.add_account()
    reader.serve(reader.substitute(QUICKSTART_SERVER))


# pages that begin elsewhere (a page added to docs/ begins after the quickstart; list it
# here once if its commands need more first, e.g. a service of their own)
SETUPS: dict[str, Callable[[Reader], None]] = {
    "install.md": lambda reader: None,  # the quickstart itself
}


@pytest.fixture(scope="module")
def public_index(
    module_server_factory: ServerFactory, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """The index standing for PyPI, shared by every page: ``requests`` and its dependencies."""
    server = module_server_factory(make_public_index(tmp_path_factory.mktemp("public")))
    return f"{server.base}/simple/"


@pytest.fixture
def reader(tmp_path: Path, public_index: str) -> Iterator[Reader]:
    person = Reader(tmp_path, public_index)
    yield person
    person.stop()


@pytest.mark.parametrize("page", PAGES)
def test_page_runs_as_written(page: str, reader: Reader) -> None:
    SETUPS.get(page, after_the_quickstart)(reader)
    for block in sh_blocks((DOCS / page).read_text()):
        reader.follow(block)
    if page in OUTCOMES:
        OUTCOMES[page](reader)


def test_the_pages_that_run_are_found() -> None:
    """The harness sees the pages whose commands matter most (a renamed fence or page
    would otherwise silently run nothing)."""
    assert {"install.md", "usage.md", "upstream.md", "accounts.md"} <= set(PAGES), PAGES


def test_the_docs_name_what_an_operator_needs() -> None:
    text = "\n".join(p.read_text() for p in [REPO / "README.md", *DOCS.glob("*.md")])
    for needed in ("dynopypi reindex", "/etc/dynopypi/dynopypi.env", ". .venv/bin/activate",
                   "UV_PUBLISH_PASSWORD", "nginx", "openssl", "Ctrl-C", "--stdin-name",
                   "make ansible-target"):  # fmt: skip
        assert needed in text, needed
