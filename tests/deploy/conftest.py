"""The deployment tests build images and start containers (minutes on a cold machine, and
they need podman), so they run from their own make targets, which name them in
``DYNOPYPI_DEPLOY_TESTS``: ``make container-test`` (test_container.py, test_kubernetes.py)
and ``make ansible-test`` (test_ansible.py, test_ansible_replicas.py). A plain ``pytest`` or
``make test`` does not collect them: they are neither run nor reported as skipped, and CI
(.ci/run) runs both targets explicitly after ``make test``. Once requested, a missing tool is
a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SUITES = {
    "container": {"test_container.py", "test_kubernetes.py"},
    "ansible": {"test_ansible.py", "test_ansible_replicas.py"},
}


def requested() -> set[str]:
    names = os.environ.get("DYNOPYPI_DEPLOY_TESTS", "").replace(",", " ").split()
    unknown = set(names) - set(SUITES)
    if unknown:
        raise pytest.UsageError(f"DYNOPYPI_DEPLOY_TESTS: unknown suite(s) {sorted(unknown)}")
    return {module for name in names for module in SUITES[name]}


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.suffix != ".py" or not collection_path.name.startswith("test_"):
        return None
    return True if collection_path.name not in requested() else None
