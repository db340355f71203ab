"""The published trees follow the index: pages and file links appear, change and go with
each snapshot, only for what nginx may send (no link out of a root, nothing in a closed
scope's tree for anyone), and a failure leaves an empty tree, never a stale one."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest
from support.fakedist import make_wheel

from dynopypi.core.describe import Describer
from dynopypi.core.index import Index
from dynopypi.render.renderer import Renderer
from dynopypi.site.entries import Entries
from dynopypi.site.publisher import Publisher
from dynopypi.site.tree import CLOSED, OPEN, SiteTree
from dynopypi.store.directory.digest_cache import DigestCache
from dynopypi.store.directory.reconcile import Reconciler


class Site:
    def __init__(
        self, tmp: Path, where: tuple[str | None, str | None, int] = (OPEN, OPEN, 1)
    ) -> None:
        self.root = tmp / "packages"
        self.root.mkdir(exist_ok=True)
        self.pages = tmp / "pages"
        self.index = Index((self.root,))
        self.reconciler = Reconciler(self.index, DigestCache(None), Describer("sha256"))
        entries = Entries(
            SiteTree(self.pages), Renderer("sha256"), where, self.index.path_of, self.index.roots
        )
        self.publisher = Publisher(entries)

    def start(self) -> Site:
        self.publisher.attach(self.index)
        self.sync()
        return self

    def sync(self) -> None:
        """The directory read again, and what a big change left behind written."""
        self.reconciler.sync()
        self.publisher.flush()

    def page(self, name: str, tree: str = OPEN) -> dict[str, Any] | None:
        path = self.pages / tree / "simple" / name / "index.json"
        return json.loads(path.read_bytes()) if path.exists() else None


def test_pages_and_links_follow_the_index(tmp_path: Path) -> None:
    site = Site(tmp_path)
    wheel = make_wheel(site.root, "Foo.Bar", "1.0", payload=b"x" * 5000)
    site.start()
    page = site.page("foo-bar")
    assert page is not None and [f["filename"] for f in page["files"]] == [wheel.name]
    link = site.pages / OPEN / "packages" / wheel.name
    assert os.path.samefile(link, wheel)
    html = (site.pages / OPEN / "simple" / "index.html").read_text()
    assert "Foo.Bar" in html

    second = make_wheel(site.root, "foo-bar", "2.0")
    site.sync()
    page = site.page("foo-bar")
    assert page is not None and len(page["files"]) == 2
    assert (site.pages / OPEN / "packages" / second.name).exists()

    wheel.unlink()
    second.unlink()
    site.sync()
    assert site.page("foo-bar") is None
    assert not (site.pages / OPEN / "packages" / wheel.name).exists()
    assert not (site.pages / OPEN / "simple" / "foo-bar").exists()
    assert "Foo.Bar" not in (site.pages / OPEN / "simple" / "index.html").read_text()


def test_a_gzip_copy_matches_its_page_and_goes_when_too_small(tmp_path: Path) -> None:
    site = Site(tmp_path)
    for i in range(40):
        make_wheel(site.root, "big", f"1.{i}")
    site.start()
    plain = site.pages / OPEN / "simple" / "big" / "index.json"
    assert gzip.decompress(Path(f"{plain}.gz").read_bytes()) == plain.read_bytes()
    for wheel in site.root.glob("big-1.[1-9]*"):
        wheel.unlink()
    site.sync()
    assert not Path(f"{plain}.gz").exists()
    assert len(json.loads(plain.read_bytes())["files"]) == 1


def test_a_link_out_of_the_root_is_not_published(tmp_path: Path) -> None:
    outside = make_wheel(tmp_path, "outside", "1.0")
    site = Site(tmp_path)
    (site.root / "inside-1.0-py3-none-any.whl").symlink_to(outside)
    site.start()
    assert not (site.pages / OPEN / "packages" / "inside-1.0-py3-none-any.whl").exists()


def test_closed_scope_publishes_nothing_for_anyone(tmp_path: Path) -> None:
    site = Site(tmp_path, (CLOSED, None, 1))
    wheel = make_wheel(site.root, "secret", "1.0")
    site.start()
    assert site.page("secret") is None
    assert site.page("secret", CLOSED) is not None
    assert not list((site.pages / OPEN).iterdir())
    assert not (site.pages / CLOSED / "packages" / wheel.name).exists()


def test_a_new_start_removes_what_the_last_published(tmp_path: Path) -> None:
    site = Site(tmp_path)
    wheel = make_wheel(site.root, "old", "1.0")
    site.start()
    wheel.unlink()  # removed while the server was down
    again = Site(tmp_path).start()
    assert again.page("old") is None
    assert not (again.pages / OPEN / "packages" / wheel.name).exists()


def test_a_failure_leaves_an_empty_tree(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    site = Site(tmp_path)
    make_wheel(site.root, "first", "1.0")
    site.start()
    tree = site.publisher.entries.tree

    def full_disk(relpath: str, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    tree.write = full_disk  # type: ignore[method-assign]
    make_wheel(site.root, "second", "1.0")
    site.sync()
    assert not list((site.pages / OPEN).iterdir())
    assert "cannot publish" in caplog.text
    (site.root / "first-1.0-py3-none-any.whl").unlink()
    site.sync()  # no longer published: nothing comes back
    assert not list((site.pages / OPEN).iterdir())


@pytest.mark.parametrize("relpath", ["../x", "open/../../x", "other/x", "open//x", "open/./x"])
def test_the_tree_refuses_paths_outside_it(tmp_path: Path, relpath: str) -> None:
    tree = SiteTree(tmp_path / "pages")
    tree.reset()
    with pytest.raises(ValueError, match="not a path inside"):
        tree.write(relpath, b"x")


def test_a_big_change_is_written_behind_and_its_removals_at_once(tmp_path: Path) -> None:
    site = Site(tmp_path)
    wheels = [make_wheel(site.root, f"many{i:02d}", "1.0") for i in range(40)]
    site.publisher.attach(site.index)
    site.reconciler.sync()  # 40 projects at once: their pages come behind
    for wheel in wheels[:20]:
        wheel.unlink()
    site.reconciler.sync()  # ... but their removal is done now
    for wheel in wheels[:20]:
        assert not (site.pages / OPEN / "packages" / wheel.name).exists()
    site.publisher.flush()
    assert site.page("many00") is None and site.page("many39") is not None
    assert len(list((site.pages / OPEN / "packages").iterdir())) == 20
    site.publisher.stop()


def test_core_metadata_is_published_and_withdrawn_with_its_wheel(tmp_path: Path) -> None:
    site = Site(tmp_path)
    site.publisher.entries.metadata = lambda dist: f"Name: {dist.project}\n".encode()
    wheel = make_wheel(site.root, "meta", "1.0")
    site.start()
    published = site.pages / OPEN / "packages" / f"{wheel.name}.metadata"
    assert published.read_bytes() == b"Name: meta\n"
    wheel.unlink()
    site.sync()
    assert not published.exists()


def test_the_tree_never_holds_a_symbolic_link(tmp_path: Path) -> None:
    """A file swapped for a link after the index resolved it: hard-linking the name links
    the symlink itself, which is refused before it is placed."""
    tree = SiteTree(tmp_path / "pages")
    tree.reset()
    (tmp_path / "secret").write_bytes(b"secret")
    (tmp_path / "swapped").symlink_to(tmp_path / "secret")
    assert not tree.link("open/packages/x-1.0-py3-none-any.whl", tmp_path / "swapped")
    assert not list((tmp_path / "pages" / OPEN).iterdir())
    assert not list((tmp_path / "pages" / ".tmp").iterdir())
