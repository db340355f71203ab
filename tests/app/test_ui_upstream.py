"""The web UI with an upstream (in process, against ``FakeUpstream``): upstream projects are
marked as cached from upstream, the cooldown's held files are never shown, and the home page
does not link the listing of every upstream file ever seen."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.fakedist import core_metadata, make_wheel
from support.inproc import AppFactory, AppServer
from support.upstream import FakeUpstream

OLD = "2020-01-01T00:00:00Z"


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


def index_with(app_factory: AppFactory, upstream: FakeUpstream, tmp_path: Path) -> AppServer:
    made = tmp_path / "made"
    made.mkdir()
    old = make_wheel(made, "public-thing", "1.0")
    new = make_wheel(made, "public-thing", "2.0")
    fresh = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    metadata = {
        old.name: core_metadata(
            "public-thing",
            "1.0",
            headers=["Description-Content-Type: text/markdown"],
            description="Public **thing**.\n\n<script>window.pwned = 1</script>\n",
        ).encode()
    }
    upstream.publish("public-thing", [(old, None, OLD), (new, None, fresh)], metadata=metadata)
    local = tmp_path / "local"
    local.mkdir()
    make_wheel(local, "private-thing", "1.0")
    return app_factory(local, "--upstream", upstream.index_url, "--min-age", "7d")


def test_upstream_project_page(
    app_factory: AppFactory, upstream: FakeUpstream, tmp_path: Path
) -> None:
    index = index_with(app_factory, upstream, tmp_path)
    page = index.get("/project/public-thing/")
    assert page.status_code == 200, index.explain(page)
    assert "cached from upstream" in page.text and "from upstream" in page.text
    assert "<strong>thing</strong>" in page.text and "<script>window" not in page.text
    # 2.0 is brand new: the cooldown holds it back, so no page lists or links its files,
    # and the project page says why it is missing
    assert "public_thing-2.0" not in page.text and 'href="../2.0/"' not in page.text
    assert "Held back by the cooldown" in page.text and "2.0 (until" in page.text
    held = index.get("/project/public-thing/2.0/")
    assert held.status_code == 404 and "held back by the cooldown" in held.text
    assert "public_thing-2.0" not in index.get("/search?q=public").text
    private = index.get("/project/private-thing/")
    assert private.status_code == 200 and "private" in private.text
    assert "from upstream" not in private.text


def test_home_page_does_not_link_every_upstream_file(
    app_factory: AppFactory, upstream: FakeUpstream, tmp_path: Path
) -> None:
    index = index_with(app_factory, upstream, tmp_path)
    index.get("/project/public-thing/")  # upstream's page is now in the snapshot
    home = index.get("/")
    assert home.status_code == 200
    assert 'href="packages/"' not in home.text
    assert 'href="project/private-thing/1.0/"' in home.text  # recent: local releases only
    assert "public-thing" not in home.text
