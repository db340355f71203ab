"""The readiness endpoint: its JSON shape and its configurable path."""

from __future__ import annotations

import json
from pathlib import Path

from support.fakedist import make_wheel
from support.inproc import AppFactory


def test_ready_endpoint_shape(server_factory: AppFactory, tmp_path: Path) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    make_wheel(packages, "lib", "1.0")
    make_wheel(packages, "lib", "2.0")
    make_wheel(packages, "app", "1.0")
    server = server_factory(packages)
    r = server.get("/ready")
    assert r.status_code == 200, server.explain(r)
    assert r.headers["Content-Type"].startswith("application/json")
    state = json.loads(r.content)
    assert state["status"] == "ready"
    assert state["index_loaded"] is True
    assert state["problems"] == []
    assert state["writable"] == {str(packages): True}
    assert (state["projects"], state["files"]) == (2, 3)


def test_ready_endpoint_path_is_configurable(server_factory: AppFactory, tmp_path: Path) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    server = server_factory(packages, "--ready-endpoint", "/readyz")
    r = server.get("/readyz")
    assert r.status_code == 200, server.explain(r)
    assert r.json()["status"] == "ready"
    assert server.get("/ready").status_code == 404
