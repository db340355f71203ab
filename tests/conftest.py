"""Shared fixtures: dynopypi in this process (``tests/app``) or as a real subprocess
(``tests/e2e``), the standard corpus, and helpers for assertions and real clients.

The helpers and server classes live in ``tests/support`` (importable and typed); this file
only wires them into fixtures.

- ``app_factory`` / ``module_app_factory`` / ``app_server``: the real app built from the
  same settings ``dynopypi run`` would use, reached over requests without a socket. For
  tests that only speak HTTP.
- ``server_factory`` / ``module_server_factory`` / ``server``: ``python -m dynopypi run``
  on a free loopback port. For real clients, signals, restarts, nginx, the CLI, and paths
  that must reach waitress byte for byte.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest
from support.corpus import Corpus, build_corpus
from support.helpers import Helpers
from support.inproc import AppFactory, AppServer
from support.server import LIVE, DynoServer, ServerFactory


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return build_corpus(tmp_path_factory.mktemp("corpus"))


# --------------------------------------------------------------------------- in-process


@pytest.fixture
def app_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppFactory]:
    """Per-test in-process servers: ``app_factory(package_dir, *run_flags)``."""
    factory = AppFactory(tmp_path_factory.mktemp("app"))
    yield factory
    factory.close()


@pytest.fixture(scope="module")
def module_app_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppFactory]:
    """In-process servers shared by the tests of one module."""
    factory = AppFactory(tmp_path_factory.mktemp("modapp"))
    yield factory
    factory.close()


@pytest.fixture(scope="module")
def app_server(module_app_factory: AppFactory, corpus: Corpus) -> AppServer:
    """One in-process server per module over the standard corpus (read-only)."""
    return module_app_factory(corpus.pkgdir)


# --------------------------------------------------------------------------- subprocess


@pytest.fixture
def server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    """Per-test servers: ``server_factory(package_dir, *extra_args)``."""
    factory = ServerFactory(tmp_path_factory.mktemp("srv"))
    yield factory
    factory.close()


@pytest.fixture(scope="module")
def module_server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    """Servers shared by the tests of one module (for read-only package directories)."""
    factory = ServerFactory(tmp_path_factory.mktemp("modsrv"))
    yield factory
    factory.close()


@pytest.fixture(scope="module")
def server(module_server_factory: ServerFactory, corpus: Corpus) -> DynoServer:
    """One server per module over the standard corpus (tests must not modify it)."""
    return module_server_factory(corpus.pkgdir)


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="session")
def helpers() -> Helpers:
    """Helper functions for the tests (conftest modules are not imported directly)."""
    return Helpers()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On failure, attach the logs of every server that is alive to the report."""
    report = yield
    if report.failed:
        for server in list(LIVE):
            report.sections.append((server.label, server.logs()))
    return report
