"""deploy/ansible with several replicas over one bucket, applied for real: one playbook run
sets up two throwaway systemd targets (tests/deploy/target.Containerfile) as replicas of a
SeaweedFS bucket, each with nginx in front of both.

The store is SeaweedFS in a third container on podman's network (the base image with the
``weed`` binary of the test tools mounted in; no registry is needed), with an admin key that
creates the bucket from this host and a key for the replicas that the role writes into a
root-only environment file. Then a client on this host uploads through one replica's nginx,
the other replica serves the file within seconds, pip installs it through each, a second
run changes nothing, and the bucket's secret is in no output, setting or log. Everything
is published on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from support import clients
from support.ansible import (
    Run,
    build_wheel,
    localhost_certificate,
    playbook,
    run,
    ssh_key,
    wait_for_ssh,
    write_config,
)
from support.podman import BASE_IMAGE, REPO, Container, build, leftovers, podman
from support.seaweed import weed_binary

TARGET_IMAGE = "localhost/dynopypi-ansible-target:test"
HOSTS = ("replica-a", "replica-b")
BUCKET = "packages"
PREFIX = "pypi"
REGION = "us-east-1"


@dataclass
class Store:
    container: Container
    admin_key: tuple[str, str]
    replica_key: tuple[str, str]

    def client(self) -> object:
        return boto3.session.Session().client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{self.container.port(8333)}",
            aws_access_key_id=self.admin_key[0],
            aws_secret_access_key=self.admin_key[1],
            region_name=REGION,
            config=Config(s3={"addressing_style": "path"}, connect_timeout=2, read_timeout=10),
        )


@dataclass
class Replicas:
    boxes: dict[str, Container]
    store: Store
    work: Path
    user: str
    password: str
    first: Run
    second: Run

    def sh(self, host: str, command: str) -> str:
        result = self.boxes[host].exec("sh", "-c", command)
        assert result.returncode == 0, f"{host}: {command}: {result.stdout}{result.stderr}"
        return result.stdout

    def nginx(self, host: str, path: str = "/", auth: bool = False) -> str:
        who = f"{self.user}:{self.password}@" if auth else ""
        return f"http://{who}127.0.0.1:{self.boxes[host].port(80)}{path}"

    def fetch(self, host: str, path: str) -> tuple[int, str]:
        """GET the replica's own app (not its nginx) from inside its container."""
        script = (
            "import base64, sys, urllib.error, urllib.request\n"
            "request = urllib.request.Request('http://127.0.0.1:8180' + sys.argv[1])\n"
            "login = base64.b64encode(sys.argv[2].encode()).decode()\n"
            "request.add_header('Authorization', 'Basic ' + login)\n"
            "try:\n"
            "    answer = urllib.request.urlopen(request, timeout=5)\n"
            "    print(answer.status, answer.read().decode())\n"
            "except urllib.error.HTTPError as error:\n"
            "    print(error.code)\n"
        )
        login = f"{self.user}:{self.password}"
        out = self.sh(host, f"python3 -c {quote(script)} {quote(path)} {quote(login)}")
        status, _, body = out.partition(" ")
        return int(status), body


def quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def start_store(work: Path) -> Store:
    """SeaweedFS (``weed mini``) in a container of the local base image: S3 on port 8333,
    an admin key for this test and a read/write/list key for the replicas."""
    admin = ("admin", secrets.token_hex(16))
    replica = ("dynopypi", secrets.token_hex(20))
    config = work / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {"name": "admin", "actions": ["Admin"],
                     "credentials": [{"accessKey": admin[0], "secretKey": admin[1]}]},
                    {"name": "dynopypi", "actions": ["Read", "Write", "List"],
                     "credentials": [{"accessKey": replica[0], "secretKey": replica[1]}]},
                ]
            }
        )
    )  # fmt: skip
    config.chmod(0o644)  # read by the container's root, which podman maps to no one else
    command = [
        "/usr/local/bin/weed", "-logtostderr", "mini", "-dir=/var/tmp",
        "-s3.config=/etc/seaweedfs/s3.json", "-webdav=false", "-admin.ui=false",
        "-master.telemetry=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
    ]  # fmt: skip
    mounts = (
        "-v", f"{weed_binary()}:/usr/local/bin/weed:ro",
        "-v", f"{config}:/etc/seaweedfs/s3.json:ro",
    )  # fmt: skip
    box = Container(BASE_IMAGE, *mounts, "-p", "127.0.0.1::8333", command=command)
    return Store(box, admin, replica)


def create_bucket(store: Store) -> None:
    """Once S3 answers (SeaweedFS starts in a few seconds)."""
    deadline = time.monotonic() + 90
    while True:
        client = store.client()
        try:
            client.create_bucket(Bucket=BUCKET)  # type: ignore[attr-defined]
            return
        except Exception as exc:  # not up yet: any failure means "again"
            assert time.monotonic() < deadline, f"{exc}\n{store.container.logs()}"
            time.sleep(1)
        finally:
            client.close()  # type: ignore[attr-defined]


def gateway() -> str:
    """Where connections from this host to a published port seem to come from."""
    template = "{{range .Subnets}}{{.Gateway}} {{end}}"
    return podman("network", "inspect", "podman", "--format", template).stdout.split()[0]


def connects(box: Container | None, address: str, port: int) -> bool:
    """Whether a TCP connection from ``box`` (None: a new container, at an address no
    one allowed) to address:port is accepted within 3 s."""
    probe = ("timeout", "3", "bash", "-c", f"echo > /dev/tcp/{address}/{port}")
    if box is not None:
        return box.exec(*probe).returncode == 0
    return podman("run", "--rm", BASE_IMAGE, *probe, check=False).returncode == 0


def write_inventory(work: Path, key: Path, boxes: dict[str, Container]) -> None:
    write_config(work)
    lines = ["[dynopypi]"]
    for host, box in boxes.items():
        lines.append(
            f"{host} ansible_host=127.0.0.1 ansible_port={box.port(22)} ansible_user=root "
            f"ansible_ssh_private_key_file={key} ansible_python_interpreter=/usr/bin/python3 "
            f"dynopypi_address={box.address()}"
        )
    (work / "inventory.ini").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    build(
        REPO / "tests" / "deploy" / "target.Containerfile", TARGET_IMAGE, REPO / "tests" / "deploy"
    )
    work = tmp_path_factory.mktemp("ansible-replicas")
    key = ssh_key(work)
    wheel = build_wheel(work)
    user, password = "alice", secrets.token_urlsafe(18)
    store = start_store(work)
    ports = [arg for port in (22, 80, 443, 8180) for arg in ("-p", f"127.0.0.1::{port}")]
    mount = ("-v", f"{key}.pub:/root/.ssh/authorized_keys:ro")
    with (
        store.container,
        Container(TARGET_IMAGE, "--privileged", "--systemd=always", *ports, *mount) as a,
        Container(TARGET_IMAGE, "--privileged", "--systemd=always", *ports, *mount) as b,
    ):
        boxes = dict(zip(HOSTS, (a, b), strict=True))
        create_bucket(store)
        variables = {
            "dynopypi_source": "wheel",
            "dynopypi_wheel_src": str(wheel),
            "dynopypi_accounts": [{"name": user, "password": password}],
            "dynopypi_storage": f"s3://{BUCKET}/{PREFIX}",
            "dynopypi_s3_endpoint": f"http://{store.container.address()}:8333",
            "dynopypi_s3_access_key_id": store.replica_key[0],
            "dynopypi_s3_secret_access_key": store.replica_key[1],
            "dynopypi_s3_region": REGION,
            # this host's connections to the replicas' own ports (from podman's gateway)
            "dynopypi_allowed_addresses": [gateway()],
        }
        (work / "vars.json").write_text(json.dumps(variables))
        (work / "vars.json").chmod(0o600)
        write_inventory(work, key, boxes)
        wait_for_ssh(work, a, b)
        # --diff: every changed file's lines are shown, unless the task hides them (no_log)
        first = playbook(work, "--diff")
        second = playbook(work, "--diff") if first.result.returncode == 0 else first
        print(
            f"\nplaybook, two replicas: first run {first.seconds:.0f} s, "
            f"second {second.seconds:.0f} s"
        )
        yield Replicas(boxes, store, work, user, password, first, second)
    assert leftovers() == [], "a test left a container behind"


def test_one_run_sets_up_both_replicas(replicas: Replicas) -> None:
    assert replicas.first.result.returncode == 0, replicas.first.output[-8000:]
    for host in HOSTS:
        recap = replicas.first.recap(host)
        assert recap["failed"] == 0 and recap["unreachable"] == 0 and recap["changed"] > 0
        assert replicas.sh(host, "systemctl is-active dynopypi nginx").split() == ["active"] * 2
        settings = replicas.sh(host, "cat /etc/dynopypi/dynopypi.toml")
        assert f'storage = "s3://{BUCKET}/{PREFIX}"' in settings and "roots" not in settings
        assert "x_accel_redirect" not in settings  # nginx may be another host's
        # the venv got the s3 extra
        replicas.sh(host, "/usr/share/venv/dynopypi/bin/python -c 'import boto3'")


def test_each_nginx_lists_every_replica(replicas: Replicas) -> None:
    addresses = [box.address() for box in replicas.boxes.values()]
    for host in HOSTS:
        site = replicas.sh(host, "cat /etc/nginx/conf.d/dynopypi.conf")
        servers = [s.strip() for s in site.splitlines() if s.strip().startswith("server 1")]
        assert servers == [
            *(f"server {a}:8180 max_fails=2 fail_timeout=10s;" for a in addresses),
            *(f"server {a}:8180 backup max_fails=0;" for a in addresses),
        ]
        assert "proxy_next_upstream_tries 2;" in site
        assert "10.0.0.11" not in site


def test_the_unit_lets_in_only_the_replicas_and_the_allowed(replicas: Replicas) -> None:
    """The unit allows loopback only; its drop-in adds the store, the replicas and
    dynopypi_allowed_addresses: the other replica's nginx gets in, a stranger does not."""
    a, b = replicas.boxes["replica-a"], replicas.boxes["replica-b"]
    dropin = replicas.sh("replica-a", "cat /etc/systemd/system/dynopypi.service.d/network.conf")
    store = replicas.store.container.address()
    assert f"IPAddressAllow={store} {a.address()} {b.address()} {gateway()}\n" in dropin
    assert connects(a, b.address(), 8180) and connects(b, a.address(), 8180)
    assert not connects(None, b.address(), 8180)


def test_second_run_changes_nothing(replicas: Replicas) -> None:
    assert replicas.second.result.returncode == 0, replicas.second.output[-8000:]
    for host in HOSTS:
        assert replicas.second.recap(host)["changed"] == 0, replicas.second.output[-8000:]


def test_the_bucket_secret_is_root_only_and_never_shown(replicas: Replicas) -> None:
    secret = replicas.store.replica_key[1]
    for run_ in (replicas.first, replicas.second):
        assert secret not in run_.output
        assert replicas.password not in run_.output
    for host in HOSTS:
        assert (
            replicas.sh(host, "stat -c '%U:%G %a' /etc/dynopypi/dynopypi.env") == "root:root 600\n"
        )
        assert f"AWS_SECRET_ACCESS_KEY='{secret}'" in replicas.sh(
            host, "cat /etc/dynopypi/dynopypi.env"
        )
        places = "/etc/dynopypi/dynopypi.toml /etc/systemd/system/dynopypi.service.d /var/log/nginx"
        assert replicas.boxes[host].exec("grep", "-rqF", secret, *places.split()).returncode == 1
        journal = replicas.sh(host, "journalctl --no-pager -o cat")
        assert "dynopypi" in journal and secret not in journal


def test_an_upload_through_one_replica_installs_through_the_other(replicas: Replicas) -> None:
    wheel = next((replicas.work / "dist").glob("*.whl"))
    began = time.monotonic()
    uploaded = clients.run_client(
        [sys.executable, "-m", "twine", "upload", "--disable-progress-bar", "--non-interactive",
         "--repository-url", replicas.nginx("replica-a"), "-u", replicas.user,
         "-p", replicas.password, wheel],
        env=clients.client_env({}),
    )  # fmt: skip
    clients.check_ok(uploaded)
    uploaded_at = time.monotonic()
    # the replica that took the upload (nginx may pick either) logged it; the other must
    # serve the file from the bucket's journal within seconds
    journals = {
        host: replicas.sh(host, "journalctl --no-pager -o cat -u dynopypi") for host in HOSTS
    }
    (took,) = [host for host, text in journals.items() if "POST / 200 " in text]
    (other,) = set(HOSTS) - {took}
    while True:
        status, page = replicas.fetch(other, "/simple/dynopypi/")
        if status == 200 and wheel.name in page:
            break
        assert time.monotonic() - uploaded_at < 3, (status, page[:500])
        time.sleep(0.1)
    print(f"\nupload {uploaded_at - began:.1f} s; on the other replica after "
          f"{time.monotonic() - uploaded_at:.2f} s (polled through podman exec)")  # fmt: skip
    keys = replicas.store.client().list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/")  # type: ignore[attr-defined]
    assert f"{PREFIX}/{wheel.name}" in [item["Key"] for item in keys.get("Contents", ())]
    # pip through the other replica's own port, then through its nginx
    site = replicas.work / "site"
    direct = f"http://{replicas.user}:{replicas.password}@127.0.0.1:{replicas.boxes[other].port(8180)}/simple/"
    installed = clients.run_client(
        [*clients.PIP, "install", "--no-cache-dir", "--no-deps", "--target", site,
         "--index-url", direct, "dynopypi"],
        env=clients.client_env({}),
    )  # fmt: skip
    clients.check_ok(installed)
    site = replicas.work / "site"
    installed = clients.run_client(
        [*clients.PIP, "install", "--no-cache-dir", "--no-deps", "--target", site,
         "--index-url", replicas.nginx(other, "/simple/", auth=True), "dynopypi"],
        env=clients.client_env({}),
    )  # fmt: skip
    clients.check_ok(installed)
    assert (site / "dynopypi" / "server.py").is_file()
    assert replicas.sh(took, "ls /var/lib/dynopypi/packages") == ""  # the bucket holds it


def test_role_templates_find_the_replicas_in_the_shipped_site() -> None:
    """The replicas site is rendered from nginx/dynopypi-replicas.conf
    (roles/dynopypi/templates/nginx-site.conf.j2): what it replaces must still be there."""
    site = (REPO / "nginx" / "dynopypi-replicas.conf").read_text()
    upstream = (
        "    server 10.0.0.11:8180 max_fails=2 fail_timeout=10s;\n"
        "    server 10.0.0.12:8180 max_fails=2 fail_timeout=10s;\n"
        "    server 10.0.0.11:8180 backup max_fails=0;\n"
        "    server 10.0.0.12:8180 backup max_fails=0;\n"
    )
    for text in (upstream, "proxy_next_upstream_tries 2;", "server_name _;", "listen 80;",
                 "listen [::]:80;"):  # fmt: skip
        assert text in site, text
    # TLS: the replicas site's first server head is replaced by dynopypi-tls.conf's port 80
    # server and its 443 server's head, down to the HSTS line
    assert "server {\n    listen 80;\n    listen [::]:80;\n    server_name _;\n" in site
    tls = (REPO / "nginx" / "dynopypi-tls.conf").read_text()
    assert tls.startswith("#") and "\nserver {\n    listen 80;\n" in tls
    assert "\n    add_header Strict-Transport-Security " in tls
    template = (REPO / "deploy/ansible/roles/dynopypi/templates/nginx-site.conf.j2").read_text()
    assert upstream.replace("\n", "\\n") in template.replace("'\n                 ~ '", "")


def test_tls_on_every_replica_with_a_certificate_of_ours(replicas: Replicas) -> None:
    """Runs last (it reconfigures both replicas): with certificate files, each replica's
    nginx serves the replicas site over TLS and redirects plain HTTP; a run after that
    changes nothing."""
    cert, key = localhost_certificate(replicas.work)
    variables = json.loads((replicas.work / "vars.json").read_text())
    variables.update(
        dynopypi_server_name="localhost",
        dynopypi_tls_certificate_src=str(cert),
        dynopypi_tls_certificate_key_src=str(key),
    )
    (replicas.work / "vars.json").write_text(json.dumps(variables))
    third = playbook(replicas.work, "--diff")
    assert third.result.returncode == 0, third.output[-8000:]
    fourth = playbook(replicas.work, "--diff")
    for host in HOSTS:
        assert fourth.recap(host)["changed"] == 0, fourth.output[-8000:]
    for host in HOSTS:
        box = replicas.boxes[host]
        secure = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", cert,
                      "-u", f"{replicas.user}:{replicas.password}",
                      f"https://localhost:{box.port(443)}/simple/dynopypi/"])  # fmt: skip
        assert secure.stdout == "200", (host, secure.stdout, secure.stderr)
        plain = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                     f"http://127.0.0.1:{box.port(80)}/simple/"])  # fmt: skip
        assert plain.stdout == "301", (host, plain.stdout)
        site = replicas.sh(host, "cat /etc/nginx/conf.d/dynopypi.conf")
        assert site.count("max_fails=2 fail_timeout=10s;") == 2
        assert "ssl_certificate_key /etc/dynopypi/tls/localhost.key;" in site
