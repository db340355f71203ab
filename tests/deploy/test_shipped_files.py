"""The deployment files: ``make install``, the systemd unit, the default settings, nginx.

No server runs here. ``make install DESTDIR=...`` stages a real installation (a venv with
dynopypi from this checkout) in a temporary directory; systemd-analyze and ``nginx -t``
judge the shipped unit and sites; and the files are checked to agree with each other
(the port, the package directory, the X-Accel-Redirect prefix, the writable paths).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import nginx as nh

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "dynopypi.service"
SETTINGS = REPO / "systemd" / "dynopypi.toml"
APP_VENV = "usr/share/venv/dynopypi"
MAKE_TIMEOUT = 300
MAKE_VARIABLES = {
    "PREFIX", "SYSCONFDIR", "LOCALSTATEDIR", "NGINX_SITE_DIR", "SERVICE_USER", "VENV",
    "MAKEFLAGS", "MFLAGS", "MAKELEVEL",
}  # fmt: skip


def run(
    args: list[str | Path], *, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        env=env,
    )


def explain(result: subprocess.CompletedProcess[str]) -> str:
    return (
        f"{result.args} -> {result.returncode}\n--- stdout ---\n{result.stdout[-4000:]}\n"
        f"--- stderr ---\n{result.stderr[-4000:]}"
    )


def make_install(destdir: Path) -> subprocess.CompletedProcess[str]:
    make = shutil.which("make")
    assert make, "make is required (CI installs it)"
    # the Makefile's variables come from the command line only, not from whoever runs us
    env = {k: v for k, v in os.environ.items() if k not in MAKE_VARIABLES}
    return run(
        [make, "-C", REPO, "install", f"DESTDIR={destdir}"],  # the system python3 (INSTALL_PYTHON)
        timeout=MAKE_TIMEOUT,
        env=env,
    )


def mode(path: Path) -> str:
    return oct(stat.S_IMODE(path.stat().st_mode))


def unit_entries(text: str) -> dict[str, dict[str, list[str]]]:
    """A unit file as {section: {key: [values in order]}} (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


# --------------------------------------------------------------------------- make install


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    destdir = tmp_path_factory.mktemp("destdir")
    result = make_install(destdir)
    assert result.returncode == 0, explain(result)
    yield destdir


EXPECTED_MODES = {
    "etc/dynopypi": "0o755",
    "etc/dynopypi/dynopypi.toml": "0o640",
    "etc/dynopypi/htpasswd": "0o640",
    "var/lib/dynopypi": "0o755",
    "var/lib/dynopypi/packages": "0o755",
    "var/cache/dynopypi": "0o711",
    "etc/systemd/system/dynopypi.service": "0o644",
    "etc/nginx/conf.d/dynopypi.conf": "0o644",
    "usr/share/dynopypi/dynopypi.conf": "0o644",
    "usr/share/dynopypi/dynopypi-tls.conf": "0o644",
    "usr/share/dynopypi/dynopypi-replicas.conf": "0o644",
}


@pytest.mark.slow
def test_make_install_tree_and_modes(installed: Path) -> None:
    got = {rel: mode(installed / rel) for rel in EXPECTED_MODES if (installed / rel).exists()}
    assert got == EXPECTED_MODES
    for rel in ("etc/dynopypi", "var/lib/dynopypi/packages", "var/cache/dynopypi"):
        assert (installed / rel).is_dir(), rel
    assert (installed / "etc/dynopypi/htpasswd").read_bytes() == b""
    binary = installed / APP_VENV / "bin" / "dynopypi"
    assert binary.is_file() and os.access(binary, os.X_OK), binary
    # the shipped files, unchanged for the default prefix
    pairs = {
        "etc/dynopypi/dynopypi.toml": SETTINGS,
        "etc/systemd/system/dynopypi.service": UNIT,
        "etc/nginx/conf.d/dynopypi.conf": nh.HTTP_SITE,
        "usr/share/dynopypi/dynopypi.conf": nh.HTTP_SITE,
        "usr/share/dynopypi/dynopypi-tls.conf": nh.TLS_SITE,
        "usr/share/dynopypi/dynopypi-replicas.conf": nh.REPLICAS_SITE,
    }
    for rel, source in pairs.items():
        assert (installed / rel).read_text() == source.read_text(), rel


def staged(installed: Path) -> list[str | Path]:
    """The staged console script, run by the staged venv's python: its shebang names the
    final path (/usr/share/venv/...), which exists only once the tree is in place."""
    venv_bin = installed / APP_VENV / "bin"
    return [venv_bin / "python", venv_bin / "dynopypi"]


@pytest.mark.slow
def test_installed_binary_validates_the_shipped_settings(installed: Path, tmp_path: Path) -> None:
    binary = staged(installed)
    version = run([*binary, "--version"])
    assert version.returncode == 0 and version.stdout.startswith("dynopypi "), explain(version)
    # the settings name /etc and /var paths; point those at the staged tree
    result = run(
        [*binary, "check-config", "--config", installed / "etc/dynopypi/dynopypi.toml",
         "-P", installed / "etc/dynopypi/htpasswd", "--cache-dir", tmp_path / "cache",
         installed / "var/lib/dynopypi/packages"],
        env={k: v for k, v in os.environ.items() if not k.startswith("DYNOPYPI_")},
    )  # fmt: skip
    assert result.returncode == 0, explain(result)
    printed = tomllib.loads(result.stdout)["dynopypi"]
    assert printed["port"] == 8180
    assert printed["host"] == "127.0.0.1"
    assert printed["x_accel_redirect"] == "/_dynopypi_files/"
    assert printed["pages_dir"] == "/var/lib/dynopypi/pages"
    assert printed["trusted_proxies"] == ["127.0.0.1", "::1"]
    assert printed["overwrite"] is False
    assert "download" in printed["authenticate"] and "update" in printed["authenticate"]
    # and without the overrides the same file names the real paths, refused here
    missing = run([*binary, "check-config", "--config", SETTINGS, "--cache-dir", tmp_path])
    absent = [p for p in ("/var/lib/dynopypi/packages", "/etc/dynopypi/htpasswd")
              if not Path(p).exists()]  # fmt: skip
    if absent:  # the first missing one is named (the package directory is checked first)
        assert missing.returncode == 2, explain(missing)
        assert absent[0] in missing.stderr, explain(missing)


@pytest.mark.slow
def test_second_make_install_keeps_the_operators_files(installed: Path) -> None:
    settings = installed / "etc/dynopypi/dynopypi.toml"
    htpasswd = installed / "etc/dynopypi/htpasswd"
    site = installed / "etc/nginx/conf.d/dynopypi.conf"
    settings.write_text(settings.read_text() + "\n# edited by the operator\nport = 8181\n")
    htpasswd.write_text("alice:an-account-the-operator-made\n")
    site.write_text(site.read_text() + "\n# edited by the operator\n")
    edited = {p: p.read_bytes() for p in (settings, htpasswd, site)}

    result = make_install(installed)
    assert result.returncode == 0, explain(result)
    for path, content in edited.items():
        assert path.read_bytes() == content, f"{path} was overwritten"
    assert mode(settings) == "0o640" and mode(htpasswd) == "0o640"
    # the program files are replaced: the venv works after the reinstall
    assert run([*staged(installed), "--version"]).returncode == 0
    assert (installed / "etc/systemd/system/dynopypi.service").read_text() == UNIT.read_text()


# --------------------------------------------------------------------------- systemd


@pytest.fixture
def unit_copy(tmp_path: Path) -> Path:
    """The shipped unit with ExecStart's binary replaced by one that exists here."""
    shipped = f"/{APP_VENV}/bin/dynopypi"
    binary = Path(sys.executable).parent / "dynopypi"
    assert os.access(binary, os.X_OK), f"{binary}: the project is not installed in this venv"
    text = UNIT.read_text()
    assert f"ExecStart={shipped} " in text
    copy = tmp_path / "dynopypi.service"
    copy.write_text(text.replace(shipped, str(binary)))
    return copy


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
    assert os.access(found, os.X_OK), "systemd-analyze is required"
    return found


def test_systemd_analyze_verify(unit_copy: Path) -> None:
    result = run([systemd_analyze(), "verify", unit_copy])
    assert result.returncode == 0, explain(result)
    complaints = [
        line for line in (result.stdout + result.stderr).splitlines() if "dynopypi" in line
    ]
    assert complaints == [], explain(result)


def test_systemd_analyze_verify_catches_a_bad_unit(tmp_path: Path) -> None:
    """The check above can fail: the shipped unit's binary does not exist on this host."""
    bad = tmp_path / "dynopypi.service"
    bad.write_text(UNIT.read_text().replace("/usr/share/venv/dynopypi", str(tmp_path / "none")))
    result = run([systemd_analyze(), "verify", bad])
    assert result.returncode != 0, explain(result)
    assert "dynopypi.service" in result.stderr


def test_systemd_exposure_level(unit_copy: Path) -> None:
    result = run([systemd_analyze(), "security", "--offline=true", "--no-pager", unit_copy])
    assert result.returncode == 0, explain(result)
    match = re.search(
        r"Overall exposure level for dynopypi\.service: (\d+(?:\.\d+)?)", result.stdout
    )
    assert match, explain(result)
    assert float(match.group(1)) <= 2.0, explain(result)


def test_unit_settings() -> None:
    service = unit_entries(UNIT.read_text())["Service"]

    def one(key: str) -> str:
        values = service.get(key)
        assert values and len(values) == 1, f"{key}: {values}"
        return values[0]

    assert one("Type") == "notify"
    assert one("NoNewPrivileges") == "yes"
    assert one("ProtectSystem") == "strict"
    assert one("ProtectHome") == "yes"
    assert one("PrivateTmp") == "yes"
    assert one("CapabilityBoundingSet") == ""
    assert one("User") not in ("", "root")
    assert re.fullmatch(r"/bin/kill -HUP \$MAINPID", one("ExecReload")), one("ExecReload")
    assert one("ExecStart") == (
        f"/{APP_VENV}/bin/dynopypi run --config /etc/dynopypi/dynopypi.toml"
    )
    assert "/var/lib/dynopypi" in one("ReadWritePaths").split()
    # SIGTERM drains for up to 30 s (server.run): systemd must wait longer than that
    timeout = one("TimeoutStopSec")
    assert timeout.endswith("s") and int(timeout[:-1]) > 30, timeout


def test_settings_agree_with_unit_and_nginx() -> None:
    settings = tomllib.loads(SETTINGS.read_text())["dynopypi"]
    service = unit_entries(UNIT.read_text())["Service"]
    writable = [
        *service["ReadWritePaths"][0].split(),
        *(f"/var/lib/{d}" for d in service.get("StateDirectory", [])),
        *(f"/var/cache/{d}" for d in service.get("CacheDirectory", [])),
    ]

    def is_writable(path: str) -> bool:
        return any(path == w or path.startswith(w.rstrip("/") + "/") for w in writable)

    for root in settings["roots"]:
        assert is_writable(root), f"package directory {root} is read-only under {writable}"
    assert is_writable(settings["cache_dir"]), settings["cache_dir"]
    assert settings["passwords"].startswith("/etc/dynopypi/")
    assert "127.0.0.1" in settings["trusted_proxies"]
    for site in (nh.HTTP_SITE, nh.TLS_SITE):
        text = site.read_text()
        assert f"server {settings['host']}:{settings['port']};" in text, site
        for number, root in enumerate(settings["roots"]):
            location = f"location {settings['x_accel_redirect'].rstrip('/')}/{number}/ {{"
            assert location in text, (site, location)
            block = text[text.index(location) :].split("}", 1)[0]
            assert "internal;" in block and f"alias {root.rstrip('/')}/;" in block, block
        # nginx sends what the app publishes in its pages directory, which it may write
        assert text.count(f"root {settings['pages_dir']};") == 2, site
    assert is_writable(settings["pages_dir"]), settings["pages_dir"]


# --------------------------------------------------------------------------- nginx -t


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return nh.make_certificate(tmp_path_factory.mktemp("tls"))


def templated(kind: str, packages: Path, cert: tuple[Path, Path]) -> str:
    if kind == "replicas":
        return nh.template_replicas_site(nh.REPLICAS_SITE, http_port=8081, app_ports=(8190, 8191))
    if kind == "tls":
        return nh.template_site(
            nh.TLS_SITE, http_port=8081, https_port=8443, app_port=8190, alias_dir=packages,
            cert=cert,
        )  # fmt: skip
    return nh.template_site(
        nh.HTTP_SITE, http_port=8081, app_port=8190, alias_dir=packages,
        sub_path="/pypi" if kind == "sub-path" else None,
    )  # fmt: skip


@pytest.mark.parametrize("kind", ["http", "tls", "sub-path", "replicas"])
def test_nginx_accepts_the_shipped_sites(
    kind: str, tmp_path: Path, cert: tuple[Path, Path]
) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    result = nh.nginx_test(tmp_path / "nginx", templated(kind, packages, cert))
    assert result.returncode == 0, explain(result)
    assert "syntax is ok" in result.stderr and "test is successful" in result.stderr


@pytest.mark.parametrize("kind", ["http", "tls", "replicas"])
def test_nginx_has_no_warnings_for_the_shipped_sites(
    kind: str, tmp_path: Path, cert: tuple[Path, Path]
) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    result = nh.nginx_test(tmp_path / "nginx", templated(kind, packages, cert))
    assert result.returncode == 0, explain(result)
    assert "[warn]" not in result.stderr and "[emerg]" not in result.stderr, result.stderr


def test_nginx_test_rejects_a_broken_site(tmp_path: Path) -> None:
    """``nginx -t`` here really checks: a site missing its certificate is refused."""
    packages = tmp_path / "packages"
    packages.mkdir()
    absent = (tmp_path / "absent.pem", tmp_path / "absent.key")
    site = nh.template_site(
        nh.TLS_SITE, http_port=8081, https_port=8443, app_port=8190, alias_dir=packages,
        cert=absent,
    )  # fmt: skip
    result = nh.nginx_test(tmp_path / "nginx", site)
    assert result.returncode != 0, explain(result)
    assert "absent.pem" in result.stderr


# --------------------------------------------------------------------------- replicas site


def directives(site: Path) -> set[str]:
    """A site's lines without comments and blanks, whitespace normalized."""
    lines = (line.split("#", 1)[0].strip() for line in site.read_text().splitlines())
    return {" ".join(line.split()) for line in lines if line}


def published(site: Path) -> set[str]:
    """The directives between ``# ---- pages_dir: begin`` and ``end``: what nginx sends
    from the app's pages directory, which is on the app's machine."""
    parts = re.findall(
        r"# ---- pages_dir: begin\n(.*?)# ---- pages_dir: end", site.read_text(), re.S
    )
    assert len(parts) == 2, f"{site.name}: the pages_dir markers are gone"
    lines = (line.split("#", 1)[0].strip() for part in parts for line in part.splitlines())
    return {" ".join(line.split()) for line in lines if line}


def test_the_replicas_site_keeps_in_step_with_the_single_one() -> None:
    """Everything of dynopypi.conf but its one upstream server and its local files
    locations is in dynopypi-replicas.conf too: limits, timeouts, headers, the upload check.
    (The pages nginx sends itself are each replica's: its own nginx, the single site.)"""
    files_location = {
        "location /_dynopypi_files/0/ {", "alias /var/lib/dynopypi/packages/;",
        "disable_symlinks on;", "sendfile on;", "tcp_nopush on;",
        # cached upstream files live in each replica's own cache directory
        'location ~ "^/_dynopypi_files/(upstream-[0-9a-f]{16})/(\\.upstream/[^/]+/[^/]+)$" {',
        nh.SHIPPED_CACHE,
    }  # fmt: skip
    missing = directives(nh.HTTP_SITE) - directives(nh.REPLICAS_SITE) - published(nh.HTTP_SITE)
    assert missing <= {nh.SHIPPED_UPSTREAM, *files_location}, missing
    assert not files_location & directives(nh.REPLICAS_SITE), "a bucket has no local files"


def test_the_replicas_site_retries_reads_only_and_keeps_pages_up() -> None:
    text = nh.REPLICAS_SITE.read_text()
    upstream = text[text.index("upstream dynopypi_app {") :].split("}", 1)[0]
    servers = re.findall(r"^\s*server (\S+) ([^;]*);", upstream, flags=re.MULTILINE)
    primaries = [address for address, options in servers if "backup" not in options]
    backups = [address for address, options in servers if "backup" in options]
    assert sorted(primaries) == sorted(backups) == sorted(nh.SHIPPED_REPLICAS), servers
    for address, options in servers:  # passive health on primaries; backups never left out
        assert ("max_fails=0" in options) == ("backup" in options), (address, options)
    assert re.search(r"^\s*keepalive \d+;", upstream, flags=re.MULTILINE), upstream
    site = directives(nh.REPLICAS_SITE)
    assert "proxy_next_upstream error timeout http_502 http_503 http_504;" in site
    assert not any("non_idempotent" in line for line in site), "an upload is never sent twice"
    # one try per replica: the last replica's own answer (a 503 with Retry-After) reaches
    # the client, not nginx's "502 no live upstreams"
    assert f"proxy_next_upstream_tries {len(primaries)};" in site
    assert "proxy_buffering on;" in site and "proxy_max_temp_file_size 0;" in site
