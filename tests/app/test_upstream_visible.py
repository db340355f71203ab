"""What the upstream hides is said where people look (issue 20 #2, #3): the cooldown's
held-back files in a header, the PEP 691 page's ``meta`` and ``dynopypi upstream held``;
the files a private name shadows in one log line per name and one ``upstream shadowed``
line per name, versions sorted as versions."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.fakedist import make_sdist, make_wheel
from support.helpers import poll_until
from support.inproc import AppFactory, AppServer
from support.upstream import FakeUpstream

from dynopypi.cli.main import main

DAY = 86400
JSON_V1 = "application/vnd.pypi.simple.v1+json"


def ago(days: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - days * DAY))


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


@pytest.fixture
def cooled(app_factory: AppFactory, upstream: FakeUpstream, tmp_path: Path) -> AppServer:
    """``cool`` 1.0 is 30 days old, 2.0 (two files) and 2.1 a day old; ``fresh`` is all
    a day old; the index's cooldown is 7 days."""
    made = tmp_path / "made"
    made.mkdir()
    old, new = ago(30), ago(1)
    upstream.publish("cool", [
        (make_wheel(made, "cool", "1.0"), None, old),
        (make_wheel(made, "cool", "2.0"), None, new),
        (make_sdist(made, "cool", "2.0"), None, new),
        (make_wheel(made, "cool", "2.1"), None, new),
    ])  # fmt: skip
    upstream.publish("fresh", [(make_wheel(made, "fresh", "0.1"), None, new)])
    (tmp_path / "local").mkdir()
    return app_factory(tmp_path / "local", "--upstream", upstream.index_url, "--min-age", "7d")


def test_a_page_says_what_the_cooldown_holds_back(
    cooled: AppServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="dynopypi.web.simple_api")  # as with -v
    page = cooled.get("/simple/cool/")
    assert page.status_code == 200 and set(cooled.listed_files("cool") or {}) == {
        "cool-1.0-py3-none-any.whl"
    }
    held = page.headers["X-Dynopypi-Held"]
    assert held.startswith("3 files of 2.1, 2.0 inside the cooldown (--min-age 7d); "), held
    assert "the first is served from 20" in held
    assert f"cool: {held}" in caplog.messages
    doc = cooled.get("/simple/cool/", headers={"Accept": JSON_V1}).json()
    listed = {entry["filename"]: entry for entry in doc["meta"]["_dynopypi-held"]}
    assert set(listed) == {"cool-2.0-py3-none-any.whl", "cool-2.0.tar.gz",
                           "cool-2.1-py3-none-any.whl"}  # fmt: skip
    assert listed["cool-2.1-py3-none-any.whl"]["version"] == "2.1"
    assert listed["cool-2.1-py3-none-any.whl"]["served-from"].endswith("Z")
    assert [f["filename"] for f in doc["files"]] == ["cool-1.0-py3-none-any.whl"]
    download = cooled.get("/packages/.upstream/cool/cool-2.1-py3-none-any.whl")
    assert download.status_code == 404
    assert "1 file of 2.1 inside the cooldown (--min-age 7d)" in download.text, download.text


def test_a_project_held_back_whole_is_a_404_that_says_why(cooled: AppServer) -> None:
    page = cooled.get("/simple/fresh/")
    assert page.status_code == 404
    assert "1 file of 0.1 inside the cooldown (--min-age 7d)" in page.text, page.text
    assert page.headers["X-Dynopypi-Held"].startswith("1 file of 0.1 inside the cooldown")
    assert cooled.get("/simple/never-heard-of/").headers.get("X-Dynopypi-Held") is None
    document = cooled.get("/pypi/fresh/json")
    assert document.status_code == 404 and "1 file of 0.1 inside the cooldown" in document.text


def test_upstream_held_lists_the_files_and_when_they_are_served(
    cooled: AppServer, upstream: FakeUpstream, capsys: pytest.CaptureFixture[str]
) -> None:
    cooled.get("/simple/cool/")  # the page is fetched and cached
    cache = str(cooled.work_dir / "cache")
    common = ["--cache-dir", cache, "--upstream", upstream.index_url, "-d", str(cooled.package_dir)]
    assert main(["upstream", "held", "cool", "--min-age", "7d", *common]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("cool 2.1 cool-2.1-py3-none-any.whl served from 20"), lines
    assert " (in 5d 23h" in lines[0], lines  # a day old, 7 days of cooldown
    assert [ln.split()[1] for ln in lines[:3]] == ["2.1", "2.0", "2.0"]
    assert lines[3].startswith(
        "cool: 3 of 4 upstream files held back by the cooldown (--min-age 7d)"
    )
    assert main(["upstream", "held", "cool", *common]) == 0  # no --min-age: nothing held
    assert "there is no cooldown" in capsys.readouterr().out
    assert main(["upstream", "held", "never-fetched", "--min-age", "7d", *common]) == 2
    assert "no cached upstream page of 'never-fetched'" in capsys.readouterr().err


def test_a_shadowed_name_is_one_log_line_and_one_summary_line(
    app_factory: AppFactory, upstream: FakeUpstream, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    made, local = tmp_path / "made", tmp_path / "local"
    made.mkdir()
    local.mkdir()
    versions = ["1.2", "1.10", "1.9", "2.0rc1", "2.0", "1.11", "0.9"]
    upstream.publish("inhouse", [(make_wheel(made, "inhouse", v), None, ago(30)) for v in versions])
    make_wheel(local, "inhouse", "1.0")  # the public name is private here now
    index = app_factory(local, "--upstream", upstream.index_url, "--private-check")
    assert set(index.listed_files("inhouse") or {}) == {"inhouse-1.0-py3-none-any.whl"}
    poll_until(lambda: "upstream publishes" in index.logs(), timeout=20, message=index.logs)
    warned = [ln for ln in index.logs().splitlines() if "upstream publishes" in ln]
    assert len(warned) == 1, warned
    assert "7 files of inhouse (newest 2.0), hidden here (private-first)" in warned[0]
    assert "--merge inhouse" in warned[0]

    common = ["--cache-dir", str(index.work_dir / "cache"), "--upstream", upstream.index_url]
    assert main(["upstream", "shadowed", *common, "-d", str(local)]) == 0
    out, err = capsys.readouterr()
    (line,) = out.splitlines()
    assert line.startswith("inhouse: 7 upstream files hidden (private-first), newest 2.0, "
                           "versions 0.9 ... 1.11 2.0rc1 2.0, first seen 20"), line  # fmt: skip
    assert "--merge NAME" in err
    assert main(["upstream", "shadowed", "--files", *common, "-d", str(local)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 7


def test_the_upstream_commands_read_the_servers_settings(
    cooled: AppServer, upstream: FakeUpstream, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """#6: the config file ``run`` reads (or ``DYNOPYPI_*``) is enough: no -d, --cache-dir,
    --upstream or --min-age repeated."""
    cooled.get("/simple/cool/")
    config = tmp_path / "dynopypi.toml"
    config.write_text(
        f'[dynopypi]\nroots = ["{cooled.package_dir}"]\ncache-dir = "{cooled.work_dir / "cache"}"\n'
        f'upstream = ["{upstream.index_url}"]\nmin-age = "7d"\n'
    )
    assert main(["upstream", "held", "cool", "--config", str(config)]) == 0
    assert "cool: 3 of 4 upstream files held back" in capsys.readouterr().out
    monkeypatch.setenv("DYNOPYPI_CONFIG", str(config))
    assert main(["upstream", "held", "cool"]) == 0
    assert "cool: 3 of 4 upstream files held back" in capsys.readouterr().out
    monkeypatch.delenv("DYNOPYPI_CONFIG")
    monkeypatch.setenv("DYNOPYPI_UPSTREAM", upstream.index_url)
    monkeypatch.setenv("DYNOPYPI_CACHE_DIR", str(cooled.work_dir / "cache"))
    monkeypatch.setenv("DYNOPYPI_MIN_AGE", "7d")
    assert main(["upstream", "held", "cool", "-d", str(cooled.package_dir)]) == 0
    assert "cool: 3 of 4 upstream files held back" in capsys.readouterr().out
    assert main(["upstream", "purge", "cool", "-d", str(cooled.package_dir)]) == 0
    assert "removed " in capsys.readouterr().out


def test_as_of_a_duration_holds_back_upstream_files_only(
    app_factory: AppFactory, upstream: FakeUpstream, tmp_path: Path
) -> None:
    """#11: ``/as-of/P4D/`` is the consumer's cooldown: the fresh public release waits, the
    team's upload of a minute ago does not (as with --min-age); an instant is a frozen
    view, where that upload did not exist yet."""
    made, local = tmp_path / "made", tmp_path / "local"
    made.mkdir()
    local.mkdir()
    upstream.publish("cool", [(make_wheel(made, "cool", "1.0"), None, ago(30)),
                              (make_wheel(made, "cool", "2.1"), None, ago(1))])  # fmt: skip
    make_wheel(local, "ours", "1.0")  # just now
    index = app_factory(local, "--upstream", upstream.index_url)
    assert set(index.listed_files("cool") or {}) == {"cool-1.0-py3-none-any.whl",
                                                     "cool-2.1-py3-none-any.whl"}  # fmt: skip
    cooled = index.get("/as-of/P4D/simple/cool/")
    assert "cool-2.1" not in cooled.text and "cool-1.0-py3-none-any.whl" in cooled.text
    ours = index.get("/as-of/P4D/simple/ours/")
    assert ours.status_code == 200 and "ours-1.0-py3-none-any.whl" in ours.text
    assert "ours/" in index.get("/as-of/P4D/simple/").text
    got = index.get("/as-of/P4D/packages/ours-1.0-py3-none-any.whl")
    assert got.status_code == 200
    hour_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    assert index.get(f"/as-of/{hour_ago}/simple/ours/").status_code == 404
