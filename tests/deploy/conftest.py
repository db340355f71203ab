"""The deployment tests. Two kinds live here:

- The shipped files as they are installed (test_shipped_files.py: ``make install`` into a
  staging directory, the systemd unit through systemd-analyze, the nginx sites through
  ``nginx -t``; test_install.py: a DESTDIR install moved into place). They need make,
  systemd-analyze and nginx, no podman, and run with the rest of ``make test``.
- The podman suites, which build images and start containers (minutes on a cold machine):
  they run from their own make targets, which name them in ``DYNOPYPI_DEPLOY_TESTS``:
  ``make container-test`` (test_container.py, test_container_accounts.py,
  test_kubernetes.py) and ``make ansible-test`` (test_ansible.py, test_ansible_replicas.py),
  and then only those. A plain ``pytest`` or
  ``make test`` does not collect them: they are neither run nor reported as skipped, and CI
  (.ci/run) runs both targets explicitly after ``make test``. Once requested, a missing tool
  is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SUITES = {
    "container": {"test_container.py", "test_container_accounts.py", "test_kubernetes.py"},
    "ansible": {"test_ansible.py", "test_ansible_replicas.py"},
}


def requested() -> set[str]:
    names = os.environ.get("DYNOPYPI_DEPLOY_TESTS", "").replace(",", " ").split()
    unknown = set(names) - set(SUITES)
    if unknown:
        raise pytest.UsageError(f"DYNOPYPI_DEPLOY_TESTS: unknown suite(s) {sorted(unknown)}")
    return {module for name in names for module in SUITES[name]}


PODMAN_SUITES = {module for modules in SUITES.values() for module in modules}


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.suffix != ".py" or not collection_path.name.startswith("test_"):
        return None
    wanted = requested()
    if wanted:  # a podman target: its suites only
        return True if collection_path.name not in wanted else None
    return True if collection_path.name in PODMAN_SUITES else None  # make test: the rest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The podman suites are marked ``podman`` and ``slow`` (images, containers);
    tests/conftest.py marks all of tests/deploy ``process``."""
    here = Path(__file__).parent
    for item in items:
        if item.path.parent == here and item.path.name in PODMAN_SUITES:
            item.add_marker(pytest.mark.podman)
            item.add_marker(pytest.mark.slow)
