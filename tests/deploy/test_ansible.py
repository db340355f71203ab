"""deploy/ansible applied for real: over SSH to a throwaway Debian container that runs
systemd and sshd (tests/deploy/target.Containerfile), like a small VM.

The playbook installs dynopypi from a wheel built from this checkout, with a generated
account and a generated self-signed certificate (TLS site); then a client on this host
uploads and pip installs through the container's nginx, a second run changes nothing, and
ansible-lint's production profile is clean. The target runs ``--privileged``: systemd's
sandboxing of the unit (mount and IPC namespaces) needs what a VM would have.
"""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import clients
from support.ansible import (
    ANSIBLE_DIR,
    Run,
    ansible_env,
    build_wheel,
    localhost_certificate,
    playbook,
    run,
    ssh_key,
    tool,
    wait_for_ssh,
    write_config,
)
from support.podman import REPO, Container, build, leftovers

TARGET_IMAGE = "localhost/dynopypi-ansible-target:test"


@dataclass
class Target:
    container: Container
    work: Path
    user: str
    password: str
    first: Run
    second: Run

    def playbook(self) -> Run:
        return playbook(self.work)

    def sh(self, command: str) -> str:
        result = self.container.exec("sh", "-c", command)
        assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
        return result.stdout

    def url(self, port: int, path: str = "/", auth: bool = False) -> str:
        who = f"{self.user}:{self.password}@" if auth else ""
        return f"https://{who}localhost:{self.container.port(port)}{path}"


def write_inventory(work: Path, ssh_port: int, key: Path) -> None:
    write_config(work)
    (work / "inventory.ini").write_text(
        "[dynopypi]\n"
        f"target ansible_host=127.0.0.1 ansible_port={ssh_port} ansible_user=root "
        f"ansible_ssh_private_key_file={key} ansible_python_interpreter=/usr/bin/python3\n"
    )


def generate_secrets(work: Path) -> tuple[Path, Path, Path]:
    """An SSH key, a self-signed certificate for localhost, and dynopypi's wheel."""
    key = ssh_key(work)
    cert, tls_key = localhost_certificate(work)
    build_wheel(work)
    return key, cert, tls_key


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    build(
        REPO / "tests" / "deploy" / "target.Containerfile", TARGET_IMAGE, REPO / "tests" / "deploy"
    )
    work = tmp_path_factory.mktemp("ansible")
    key, cert, tls_key = generate_secrets(work)
    user, password = "alice", secrets.token_urlsafe(18)
    (wheel,) = (work / "dist").glob("*.whl")
    variables = {
        "dynopypi_source": "wheel",
        "dynopypi_wheel_src": str(wheel),
        "dynopypi_accounts": [{"name": user, "password": password}],
        "dynopypi_server_name": "localhost",
        "dynopypi_tls_certificate_src": str(cert),
        "dynopypi_tls_certificate_key_src": str(tls_key),
    }
    (work / "vars.json").write_text(json.dumps(variables))
    (work / "vars.json").chmod(0o600)
    ports = ("-p", "127.0.0.1::22", "-p", "127.0.0.1::80", "-p", "127.0.0.1::443")
    mount = ("-v", f"{key}.pub:/root/.ssh/authorized_keys:ro")
    with Container(TARGET_IMAGE, "--privileged", "--systemd=always", *ports, *mount) as box:
        write_inventory(work, box.port(22), key)
        wait_for_ssh(work, box)
        first = playbook(work)
        second = playbook(work) if first.result.returncode == 0 else first
        yield Target(box, work, user, password, first, second)
    assert leftovers() == [], "a test left a container behind"


def test_first_run_installs_everything(target: Target) -> None:
    recap = target.first.recap()
    assert target.first.result.returncode == 0, target.first.output[-8000:]
    assert recap["failed"] == 0 and recap["unreachable"] == 0 and recap["changed"] > 0
    assert target.sh("systemctl is-active dynopypi nginx").split() == ["active", "active"]
    assert target.sh("systemctl is-enabled dynopypi nginx").split() == ["enabled", "enabled"]


def test_second_run_changes_nothing(target: Target) -> None:
    assert target.second.result.returncode == 0, target.second.output[-8000:]
    assert target.second.recap()["changed"] == 0, target.second.output[-8000:]


def test_passwords_are_never_logged_or_stored_in_clear(target: Target) -> None:
    for run_ in (target.first, target.second):
        assert target.password not in run_.output
    htpasswd = target.sh("cat /etc/dynopypi/htpasswd")
    assert htpasswd.startswith(f"{target.user}:$2") and target.password not in htpasswd


def test_owners_and_modes_as_the_runbook(target: Target) -> None:
    listing = target.sh(
        "stat -c '%n %U:%G %a' /etc/dynopypi /etc/dynopypi/dynopypi.toml /etc/dynopypi/htpasswd"
        " /var/lib/dynopypi/packages /var/cache/dynopypi /usr/share/venv/dynopypi"
        " /etc/systemd/system/dynopypi.service /etc/dynopypi/tls/localhost.key"
    )
    assert listing.split("\n")[:-1] == [
        "/etc/dynopypi root:root 755",
        "/etc/dynopypi/dynopypi.toml root:dynopypi 640",
        "/etc/dynopypi/htpasswd root:dynopypi 640",
        "/var/lib/dynopypi/packages dynopypi:dynopypi 755",
        "/var/cache/dynopypi dynopypi:dynopypi 711",
        "/usr/share/venv/dynopypi root:root 755",
        "/etc/systemd/system/dynopypi.service root:root 644",
        "/etc/dynopypi/tls/localhost.key root:root 600",
    ]
    assert target.sh("getent passwd dynopypi").rstrip().endswith(":/usr/sbin/nologin")
    unit = target.sh("cat /etc/systemd/system/dynopypi.service")
    assert (REPO / "systemd" / "dynopypi.service").read_text().rstrip() in unit


def test_upload_and_pip_install_through_nginx_tls(target: Target) -> None:
    cert = target.work / "localhost.crt"
    env = clients.client_env({"REQUESTS_CA_BUNDLE": str(cert), "SSL_CERT_FILE": str(cert)})
    (wheel,) = (target.work / "dist").glob("*.whl")
    uploaded = clients.run_client(
        [sys.executable, "-m", "twine", "upload", "--disable-progress-bar", "--non-interactive",
         "--repository-url", target.url(443), "-u", target.user, "-p", target.password, wheel],
        env=env,
    )  # fmt: skip
    clients.check_ok(uploaded)
    assert target.sh("ls /var/lib/dynopypi/packages").split() == [wheel.name]
    site = target.work / "site"
    installed = clients.run_client(
        [*clients.PIP, "install", "--no-cache-dir", "--no-deps", "--cert", cert, "--target", site,
         "--index-url", target.url(443, "/simple/", auth=True), "dynopypi"],
        env=env,
    )  # fmt: skip
    clients.check_ok(installed)
    assert (site / "dynopypi" / "server.py").is_file()
    # the file itself came from nginx (auth_request), not through the app
    assert f"GET /packages/{wheel.name}" in target.sh("cat /var/log/nginx/access.log")
    plain = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                 f"http://127.0.0.1:{target.container.port(80)}/simple/"])  # fmt: skip
    assert plain.stdout == "301"  # plain HTTP redirects to HTTPS


def test_ansible_lint_production_profile_is_clean(tmp_path: Path) -> None:
    result = run(
        [tool("ansible-lint"), "--offline", "--profile", "production", "--nocolor"],
        cwd=ANSIBLE_DIR, env=ansible_env(tmp_path), timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Profile 'production' was required, and it passed" in result.stdout + result.stderr


def test_changed_password_reloads_and_tls_off_serves_http(target: Target) -> None:
    """Runs last (it reconfigures the target): a new password is a reload (same process),
    and without a certificate the site is plain HTTP."""
    pid = target.sh("systemctl show --property MainPID --value dynopypi").strip()
    old_password, new_password = target.password, secrets.token_urlsafe(18)
    variables = json.loads((target.work / "vars.json").read_text())
    variables["dynopypi_accounts"] = [{"name": target.user, "password": new_password}]
    del variables["dynopypi_tls_certificate_src"], variables["dynopypi_tls_certificate_key_src"]
    (target.work / "vars.json").write_text(json.dumps(variables))
    third = target.playbook()
    assert third.result.returncode == 0, third.output[-8000:]
    assert third.recap()["changed"] > 0 and new_password not in third.output
    assert target.sh("systemctl show --property MainPID --value dynopypi").strip() == pid
    url = f"http://127.0.0.1:{target.container.port(80)}/simple/"
    for password, status in ((new_password, "200"), (old_password, "401")):
        answer = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-u",
                      f"{target.user}:{password}", url])  # fmt: skip
        assert answer.stdout == status, (password == new_password, answer.stdout)


def test_role_templates_find_what_they_replace_in_the_shipped_files() -> None:
    """The role renders the repository's own unit and nginx sites with this host's values
    (roles/dynopypi/templates/*.j2): each string it replaces must still be in those files,
    or a changed site would silently keep the defaults."""
    unit = (REPO / "systemd" / "dynopypi.service").read_text()
    for text in ("/usr/share/venv/dynopypi/bin/dynopypi", "/etc/dynopypi/", "\nUser=", "\nGroup="):
        assert text in unit, text
    http = (REPO / "nginx" / "dynopypi.conf").read_text()
    tls = (REPO / "nginx" / "dynopypi-tls.conf").read_text()
    for site, texts in (
        (http, ["server 127.0.0.1:8180;", "server_name _;", "listen 80;", "listen [::]:80;"]),
        (tls, ["server 127.0.0.1:8180;", "server_name pypi.example.com;", "listen 80;",
               "listen 443 ssl http2;", "    ssl_certificate ", "    ssl_certificate_key "]),
    ):  # fmt: skip
        for text in texts:
            assert text in site, text
