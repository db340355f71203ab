"""The directory down behind the shipped nginx site: nginx's ``auth_request`` passes on only
401 and 403, so a check's 503 would become nginx's 500. It travels like a refusal
(``edge.auth_request``): the client reads the app's 503, its reason and ``Retry-After``,
for reads (pages, files) and uploads alike, and once slapd is back the same logins work.
"""

from __future__ import annotations

import time
from pathlib import Path

import requests
from support import nginx as nh
from support.fakedist import make_wheel
from support.server import ServerFactory
from support.slapd import PEOPLE, Slapd, password_of

ACCEL = ("--trusted-proxies", "127.0.0.1", "--x-accel-redirect", "/_dynopypi_files/")


def test_directory_down_is_503_through_nginx(
    server_factory: ServerFactory, slapd: Slapd, tmp_path: Path
) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    (tmp_path / "rights").write_text("* list,download\n@py-publishers update acme-*\n")
    app = server_factory(
        packages, "-P", ".", "--rights", str(tmp_path / "rights"), "-a", "update,list,download",
        "--ldap-url", slapd.url, "--ldap-user-dn", f"uid={{user}},{PEOPLE}",
        "--ldap-timeout", "1", "--ldap-cache-ttl", "0", *ACCEL,
    )  # fmt: skip
    site = nh.site_nginx(tmp_path / "nginx", nh.HTTP_SITE, app_port=app.port, alias_dir=packages)
    site.start()
    alice = ("alice", password_of("alice"))
    wheel = make_wheel(tmp_path, "acme-nginx", "1.0")

    def upload() -> requests.Response:
        with wheel.open("rb") as fh:
            return requests.post(
                f"{site.base}/", auth=alice, timeout=60, files={"content": (wheel.name, fh)},
                data={":action": "file_upload", "name": "acme-nginx", "version": "1.0"},
            )  # fmt: skip

    try:
        slapd.stop()
        try:
            for response in (
                requests.get(f"{site.base}/simple/", auth=alice, timeout=60),
                upload(),
            ):
                assert response.status_code == 503, (response.text, site.logs(), app.logs())
                assert response.headers.get("Retry-After") == "1"
                assert "directory" in response.reason and "try again" in response.text
        finally:
            slapd.start()
        time.sleep(1.2)
        assert requests.get(f"{site.base}/simple/", auth=alice, timeout=60).status_code == 200
        assert upload().status_code == 200
    finally:
        site.stop()
