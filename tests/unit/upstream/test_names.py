"""The private-first merge rule (``--private``, ``--merge``), as a table: which of a
project's local and upstream files are served, and which are hidden."""

from __future__ import annotations

import pytest

from dynopypi.core.snapshot import Layer, hidden
from dynopypi.dists.names import DistFile, NormalizedName, normalize
from dynopypi.upstream.names import upstream_rule
from unit.core.test_visibility import dist


def layer(*files: DistFile) -> Layer:
    return {f.relpath: f for f in files}


@pytest.mark.parametrize(
    ("project", "local", "upstream", "served"),
    [  # a file "<name>-<version>.whl" (the version only: the rule never reads file names)
        ("foo", [], ["u/foo-2.whl"], ["u/foo-2.whl"]),  # public name: upstream's
        ("foo", ["foo-1.whl"], ["u/foo-2.whl"], ["foo-1.whl"]),  # private-first
        ("acme-x", [], ["u/acme-x-2.whl"], []),  # --private acme-*
        ("fork", ["fork-1.whl"], ["u/fork-2.whl"], ["fork-1.whl", "u/fork-2.whl"]),  # --merge
        ("fork", ["x/fork-2.whl"], ["u/fork-2.whl"], ["x/fork-2.whl"]),  # same file: local
        # --merge: a local release hides every upstream file of it, whatever its name
        ("fork", ["fork-1.0.whl"], ["u/fork-1.whl", "u/fork-1.0.0.whl", "u/fork-1+x.whl",
                                    "u/fork-1.post1.whl", "u/fork-1a1.whl"],
         ["fork-1.0.whl", "u/fork-1.post1.whl", "u/fork-1a1.whl"]),
        ("fork", ["fork-1+acme.whl"], ["u/fork-1.whl", "u/fork-1!1.whl"],
         ["fork-1+acme.whl", "u/fork-1!1.whl"]),  # another epoch is another release
    ],
)  # fmt: skip
def test_private_first(
    project: str, local: list[str], upstream: list[str], served: list[str]
) -> None:
    def made(path: str, root: int) -> DistFile:
        return dist(path, root, project, path.removesuffix(".whl").rsplit("-", 1)[1])

    rule = upstream_rule(1, ["Acme_*"], ["fork"])
    layers = [layer(*(made(p, 0) for p in local)), layer(*(made(p, 1) for p in upstream))]
    chosen = rule(layers)
    assert sorted(d.relpath for d in chosen) == sorted(served)
    shadowed = {d.relpath for d in hidden(layers, chosen, 1)}
    assert shadowed == set(upstream) - set(served)
    assert NormalizedName(project) == normalize(project)
