"""Tests of the app over HTTP, run in this process (``support.inproc``).

Here the usual fixture names give an in-process server instead of a subprocess, so a test
reads the same in ``tests/app`` and ``tests/e2e``: ``server`` (the standard corpus, per
module), ``server_factory`` (per test) and ``module_server_factory`` (per module), each
taking the same ``dynopypi run`` flags. What only a real server shows (real clients,
signals, restarts, nginx, the CLI, raw sockets and byte-exact paths) stays in tests/e2e.
"""

from __future__ import annotations

import pytest
from support.inproc import AppFactory, AppServer


@pytest.fixture(scope="module")
def server(app_server: AppServer) -> AppServer:
    return app_server


@pytest.fixture
def server_factory(app_factory: AppFactory) -> AppFactory:
    return app_factory


@pytest.fixture(scope="module")
def module_server_factory(module_app_factory: AppFactory) -> AppFactory:
    return module_app_factory
