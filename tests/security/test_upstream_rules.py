"""Issue 18, the upstream pull-through cache's rules against a hostile upstream (#4-#8).

Each test starts a real dynopypi (``python -m dynopypi run``) in front of ``FakeUpstream``,
which publishes what the test tells it to: #4 a public file that replaces the local fork
of the same version under ``--merge`` (a build tag, a respelled version); #5 upload times
from 2000 on files that appeared a moment ago; #6 terminal escapes that reach the
operator through ``dynopypi upstream shadowed``; #7 names that leave the network although
only local files make them private, and credentials on the command line; #8 ``/packages/``
listing what the cooldown hides, and ``/_refusal`` answers that a browser may sniff.
"""

from __future__ import annotations

import sys
from pathlib import Path

from support.clients import check_ok, run_client
from support.fakedist import make_wheel
from support.installs import pip_install
from support.server import DynoServer, ServerFactory
from support.upstream import FakeUpstream

OLD = "2000-01-01T00:00:00Z"


def shadowed(index: DynoServer, upstream_url: str) -> str:
    """What ``dynopypi upstream shadowed`` prints for this index's cache."""
    result = run_client(
        [sys.executable, "-m", "dynopypi", "upstream", "shadowed", "--cache-dir",
         index.work_dir / "cache", "--upstream", upstream_url]
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def renamed(path: Path, filename: str) -> Path:
    return path.rename(path.with_name(filename))


# ---- #4: under --merge, a local release hides every upstream file of its version -------


def test_merge_never_lets_a_public_file_replace_the_local_fork_of_its_version(
    server_factory: ServerFactory, fake: FakeUpstream, tmp_path: Path
) -> None:
    """The forks ``forky 1.0`` and ``spoony 1.0`` are local; upstream publishes the same
    versions under other file names: a build tag (pip prefers it), a respelled version
    (``1.0.0``: pip takes the later of equal files) and name (``Spoony``). pip installs
    the forks, the public files are evidence, and other versions still merge."""
    local, made = tmp_path / "local", tmp_path / "made"
    local.mkdir()
    made.mkdir()
    make_wheel(local, "forky", "1.0", payload=b"the fork")
    make_wheel(local, "spoony", "1.0", payload=b"the fork")
    built = make_wheel(made, "forky", "1.0", payload=b"public")
    tagged = renamed(built, "forky-1.0-1-py3-none-any.whl")
    respelled = make_wheel(made, "spoony", "1.0.0", payload=b"public")
    renamed_too = renamed(make_wheel(made, "spoony", "1.0", payload=b"public"),
                          "Spoony-1.0-py3-none-any.whl")  # fmt: skip
    older = make_wheel(made, "forky", "0.9")
    fake.publish("forky", [(tagged, None, OLD), (older, None, OLD)])
    fake.publish("spoony", [(respelled, None, OLD), (renamed_too, None, OLD)])
    index = server_factory(local, "--upstream", fake.index_url, "--merge", "forky",
                           "--merge", "spoony")  # fmt: skip

    target = tmp_path / "t"
    check_ok(pip_install(index.index_url, target, "forky==1.0", "spoony==1.0"), index)
    for module in ("forky", "spoony"):
        assert (target / module / "payload.bin").read_bytes() == b"the fork", module
    assert set(index.listed_files("forky") or {}) == {
        "forky-1.0-py3-none-any.whl", "forky-0.9-py3-none-any.whl"
    }  # fmt: skip
    assert set(index.listed_files("spoony") or {}) == {"spoony-1.0-py3-none-any.whl"}
    for public in (tagged, respelled, renamed_too):
        assert fake.hits[f"/files/{public.name}"] == 0, public.name
        project = public.name.split("-", 1)[0].lower()
        hidden = f"/packages/.upstream/{project}/{public.name}"
        assert index.get(hidden).status_code == 404, hidden
    evidence = shadowed(index, fake.index_url)
    assert "forky 1.0 " in evidence and "spoony 1.0.0 " in evidence, evidence
    assert evidence.count("merge-same-version") == 3, evidence
