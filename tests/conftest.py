"""Shared fixtures: dynopypi in this process (``tests/app``) or as a real subprocess
(``tests/e2e``), the standard corpus, and helpers for assertions and real clients; and the
markers, applied here at collection from what each test uses.

The helpers and server classes live in ``tests/support`` (importable and typed); this file
only wires them into fixtures.

- ``app_factory`` / ``module_app_factory`` / ``app_server``: the real app built from the
  same settings ``dynopypi run`` would use, reached over requests without a socket. For
  tests that only speak HTTP.
- ``server_factory`` / ``module_server_factory`` / ``server``: ``python -m dynopypi run``
  on a free loopback port (``subprocess_server_factory`` and its module-scoped twin under
  them; tests/app gives in-process servers under the same three names). For real clients,
  signals, restarts, nginx, the CLI, and paths that must reach waitress byte for byte.
- ``seaweed`` / ``s3_place`` / ``seaweed_outage``: a real S3 store (SeaweedFS on loopback)
  shared by the session, a fresh place in it per test, and one of a test's own to break.
- ``replicas``: dynopypi servers over one bucket of the session's SeaweedFS.

Markers (registered in pyproject.toml) are never written on a test by hand for what it
starts: ``pytest_collection_modifyitems`` gives ``process``, ``s3`` and ``nginx`` from the
fixtures a test uses (through any other fixture), the folder it is in and what its module
imports (tests/deploy/conftest.py adds ``podman``), so ``make unit`` (``-m "not process and
not slow"``) cannot miss one; and in a unit run every helper that starts a process raises
(``support.processes.forbidden_in_unit_run``). Only ``slow`` is written by hand, on the
few tests that take over 10 s.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from support.bucket_server import BucketServerFactory
from support.corpus import Corpus, build_corpus
from support.helpers import Helpers
from support.inproc import AppFactory, AppServer
from support.seaweed import LIVE_STORES, S3Place, SeaweedFS
from support.server import LIVE, DynoServer, ServerFactory
from support.slapd import Slapd, start_slapd
from support.upstream import FakeUpstream


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
def subprocess_server_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServerFactory]:
    """Per-test servers: ``subprocess_server_factory(package_dir, *extra_args)``."""
    factory = ServerFactory(tmp_path_factory.mktemp("srv"))
    yield factory
    factory.close()


@pytest.fixture(scope="module")
def module_subprocess_server_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServerFactory]:
    """Servers shared by the tests of one module (for read-only package directories)."""
    factory = ServerFactory(tmp_path_factory.mktemp("modsrv"))
    yield factory
    factory.close()


@pytest.fixture
def server_factory(subprocess_server_factory: ServerFactory) -> ServerFactory:
    """Per-test servers: ``server_factory(package_dir, *extra_args)`` (subprocesses here,
    in-process ones in tests/app)."""
    return subprocess_server_factory


@pytest.fixture(scope="module")
def module_server_factory(module_subprocess_server_factory: ServerFactory) -> ServerFactory:
    """Servers shared by the tests of one module (subprocesses here, in-process in tests/app)."""
    return module_subprocess_server_factory


@pytest.fixture(scope="module")
def server(module_server_factory: ServerFactory, corpus: Corpus) -> DynoServer:
    """One server per module over the standard corpus (tests must not modify it)."""
    return module_server_factory(corpus.pkgdir)


# --------------------------------------------------------------------------- S3 (SeaweedFS)


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """One SeaweedFS for the whole session, started on first use (about 1 s). Tests share
    it through ``s3_place`` or ``seaweed.new_bucket()`` and never stop it."""
    store = SeaweedFS(tmp_path_factory.mktemp("seaweed"))
    store.start()
    yield store
    store.stop()


@pytest.fixture(scope="session")
def s3_shared_bucket(seaweed: SeaweedFS) -> str:
    """The bucket the tests' places are in (a new bucket costs about 0.4 s)."""
    return seaweed.new_bucket("shared")


@pytest.fixture
def s3_place(seaweed: SeaweedFS, s3_shared_bucket: str) -> S3Place:
    """A key prefix no other test uses, in the shared bucket of the session's SeaweedFS."""
    return seaweed.place(s3_shared_bucket)


@pytest.fixture
def seaweed_outage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """A SeaweedFS of this test's own, to ``kill``/``stop``, ``pause``/``resume`` and
    ``start`` again (same data, same ports) without disturbing the other tests."""
    store = SeaweedFS(tmp_path_factory.mktemp("seaweed-outage"), label="seaweed (outage)")
    store.start()
    yield store
    store.kill()  # its data is thrown away: no need for the polite 2-4 s stop


@pytest.fixture
def replicas(tmp_path: Path, seaweed: SeaweedFS) -> Iterator[BucketServerFactory]:
    """dynopypi replicas over buckets of the session's SeaweedFS:
    ``replicas.replica("s3://bucket/prefix", *run_flags)``, stopped after the test."""
    factory = BucketServerFactory(tmp_path, seaweed)
    yield factory
    factory.close()


# --------------------------------------------------------------------------- LDAP (slapd)


@pytest.fixture(scope="session")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """One OpenLDAP slapd for the session (``support.slapd``: users, groups, a test CA),
    started on first use in a quarter of a second. A test that stops it starts it again
    (same ports, same data) before it ends; one that changes an entry restores it."""
    directory = start_slapd(tmp_path_factory.mktemp("slapd"))
    yield directory
    directory.stop()


# --------------------------------------------------------------------------- upstream


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    """A small upstream index that says exactly what a test tells it to (``FakeUpstream``,
    a thread of this process on loopback), started for one test."""
    upstream = FakeUpstream().start()
    yield upstream
    upstream.stop()


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="session")
def helpers() -> Helpers:
    """Helper functions for the tests (conftest modules are not imported directly)."""
    return Helpers()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On failure, attach the logs of every server (and S3 store) alive to the report."""
    report = yield
    if report.failed:
        for server in list(LIVE):
            report.sections.append((server.label, server.logs()))
        for store in list(LIVE_STORES):
            report.sections.append((store.label, store.log_tail()))
    return report


# --------------------------------------------------------------------------- markers

# what a test needs, from the fixtures it uses (directly or through other fixtures)
PROCESS_FIXTURES = {
    "subprocess_server_factory",  # python -m dynopypi run (server_factory, server, ...)
    "module_subprocess_server_factory",
    "seaweed",  # SeaweedFS (s3_place, replicas, ...)
    "seaweed_outage",
    "slapd",
}
S3_FIXTURES = {"seaweed", "seaweed_outage"}
PROCESS_FOLDERS = {"e2e", "deploy"}  # real servers, clients, make install, podman: every test
NGINX_MODULES = {"support.nginx"}  # a module that imports from these runs nginx


def runs_nginx(module: ModuleType) -> bool:
    """Whether a test module imports ``support.nginx`` or anything defined there."""
    return any(
        getattr(value, "__module__", None) in NGINX_MODULES
        or getattr(value, "__name__", None) in NGINX_MODULES
        for value in vars(module).values()
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test for what it starts, from what it uses (see the module docstring)."""
    tests = Path(__file__).parent
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        inside = item.path.is_relative_to(tests)
        folder = item.path.relative_to(tests).parts[0] if inside else ""
        module = getattr(item, "module", None)
        nginx = module is not None and runs_nginx(module)
        if nginx:
            item.add_marker(pytest.mark.nginx)
        if used & S3_FIXTURES:
            item.add_marker(pytest.mark.s3)
        if used & PROCESS_FIXTURES or folder in PROCESS_FOLDERS or nginx:
            item.add_marker(pytest.mark.process)
