"""A real nginx built from the repository's own site files, for tests.

The shipped files (``nginx/dynopypi.conf``, ``nginx/dynopypi-tls.conf``,
``nginx/dynopypi-replicas.conf``) are templated by plain text substitution: the listen ports
become free loopback ports, the upstream becomes the app (or the replicas) under test, the
package directory and certificate paths become temporary ones.
Everything else (proxy headers, gzip, X-Accel-Redirect location, HSTS) is used as shipped,
so the tests check the files an operator installs. A substitution that no longer matches
the shipped text fails loudly instead of silently testing something else.

Used by ``tests/e2e/test_nginx.py`` and ``tests/e2e/test_replicas.py`` (nginx running) and
``tests/deploy/test_shipped_files.py`` (``nginx -t``).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from support.net import accepting, free_port, wait_ready
from support.processes import forbidden_in_unit_run, port_was_taken, stop_process

if TYPE_CHECKING:
    from support.server import DynoServer

REPO = Path(__file__).resolve().parents[2]
HTTP_SITE = REPO / "nginx" / "dynopypi.conf"
TLS_SITE = REPO / "nginx" / "dynopypi-tls.conf"
REPLICAS_SITE = REPO / "nginx" / "dynopypi-replicas.conf"

SHIPPED_UPSTREAM = "server 127.0.0.1:8180;"
SHIPPED_PACKAGES = "/var/lib/dynopypi/packages/"
SHIPPED_CACHE = "alias /var/cache/dynopypi/$1/files/$2;"
SHIPPED_PAGES = "root /var/lib/dynopypi/pages;"  # the app's pages_dir
SHIPPED_AUTH_CACHE = "proxy_cache_path /run/nginx-dynopypi-auth "
SHIPPED_REPLICAS = ("10.0.0.11:8180", "10.0.0.12:8180")  # each a primary and a backup
STARTUP_TIMEOUT = 20.0


def nginx_binary() -> str:
    """nginx is a hard requirement of the suite (CI installs it): no skipping. Every run of
    nginx (``-t``, ``-V``, a server) finds it here, so a unit run refuses them all here."""
    forbidden_in_unit_run("nginx")
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(found, os.X_OK):
        raise RuntimeError("nginx is required for these tests (apt-get install nginx)")
    return found


def mime_types() -> str:
    """The distribution's mime.types (Debian: /etc/nginx/mime.types)."""
    default = Path("/etc/nginx/mime.types")
    if default.is_file():
        return str(default)
    out = subprocess.run(
        [nginx_binary(), "-V"], capture_output=True, text=True, check=False, timeout=30
    ).stderr
    match = re.search(r"--conf-path=(\S+)", out)
    if match and (Path(match.group(1)).parent / "mime.types").is_file():
        return str(Path(match.group(1)).parent / "mime.types")
    raise RuntimeError(f"no mime.types next to nginx's configuration: {out}")


# --------------------------------------------------------------------------- certificate


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: (cert.pem, key.pem).

    It is its own CA, so clients trust it with ``--cert cert.pem`` / ``verify=cert.pem``.
    """
    forbidden_in_unit_run("openssl (a TLS certificate)")
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    openssl = shutil.which("openssl")
    if openssl:
        result = subprocess.run(
            [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", "3", "-keyout", str(key), "-out", str(cert),
             "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,digitalSignature,keyCertSign"],
            capture_output=True, text=True, check=False, timeout=60, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"openssl failed: {result.stderr}")
        return cert, key
    return _certificate_with_cryptography(cert, key)


def make_signed_certificate(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate it signed for 127.0.0.1: (ca.pem, cert.pem, key.pem).

    For clients on rustls (uv), which refuse a CA certificate as the server's own, so the
    self-signed one of ``make_certificate`` will not do; nginx gets cert and key, clients
    trust ca.pem.
    """
    forbidden_in_unit_run("openssl (a CA and a certificate)")
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / "ca.pem", directory / "ca-key.pem"
    cert, key, request = directory / "cert.pem", directory / "key.pem", directory / "cert.csr"
    extensions = directory / "server.ext"
    extensions.write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for args in (
        ["req", "-x509", *ec, "-days", "3", "-keyout", ca_key, "-out", ca,
         "-subj", "/CN=dynopypi test CA", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign"],
        ["req", *ec, "-keyout", key, "-out", request, "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-days", "3", "-out", cert, "-extfile", extensions],
    ):  # fmt: skip
        result = subprocess.run(
            [shutil.which("openssl") or "openssl", *map(str, args)],
            capture_output=True, text=True, check=False, timeout=60, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"openssl {args[0]} failed: {result.stderr}")
    return ca, cert, key


def _certificate_with_cryptography(cert: Path, key: Path) -> tuple[Path, Path]:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=3))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(private.public_key()), critical=False
        )
        .sign(private, hashes.SHA256())
    )
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert, key


# --------------------------------------------------------------------------- templating


def _replace(text: str, old: str, new: str, *, count: int | None = None) -> str:
    found = text.count(old)
    if found == 0 or (count is not None and found != count):
        raise AssertionError(
            f"the shipped nginx site no longer contains {old!r} "
            f"({found} times, expected {count or 'some'}): update the test templating"
        )
    return text.replace(old, new)


def _sub(pattern: str, repl: str, text: str, *, count: int) -> str:
    new, found = re.subn(pattern, repl, text, flags=re.MULTILINE)
    if found != count:
        raise AssertionError(
            f"the shipped nginx site matched {pattern!r} {found} times, expected {count}: "
            "update the test templating"
        )
    return new


def sub_path_site(site: str, prefix: str) -> str:
    """Serve under ``prefix`` as the comment in dynopypi.conf describes.

    ``location / { proxy_pass http://dynopypi_app; ... }`` becomes
    ``location PREFIX/ { proxy_pass http://dynopypi_app/; proxy_set_header
    X-Forwarded-Prefix PREFIX; ...the same proxy_* lines... }``.
    """
    prefix = "/" + prefix.strip("/")
    return _sub(
        r"^(\s*)location / \{\n(\s*)proxy_pass http://dynopypi_app;\n",
        rf"\1location {prefix}/ {{\n\2proxy_pass http://dynopypi_app/;\n"
        rf"\2proxy_set_header X-Forwarded-Prefix {prefix};\n",
        site,
        count=1,
    )


def template_site(
    source: Path,
    *,
    http_port: int,
    app_port: int,
    alias_dir: Path,
    https_port: int | None = None,
    cert: tuple[Path, Path] | None = None,
    sub_path: str | None = None,
    cache_dir: Path | None = None,
    pages_dir: Path | None = None,
    auth_cache: Path | None = None,
) -> str:
    """The shipped site file with loopback ports, the app's port and test paths
    (``cache_dir``: the app's ``--cache-dir``, for cached upstream files; ``pages_dir``:
    the app's ``--pages-dir``; by default directories next to ``alias_dir`` that nothing
    creates; ``auth_cache``: where nginx keeps the app's answers to account checks)."""
    site = re.sub(r"^[ \t]*#.*\n", "", source.read_text(), flags=re.MULTILINE)  # comments
    site = _sub(r"^\s*listen \[::\]:\d+[^;\n]*;\n", "", site, count=site.count("listen [::]"))
    site = _replace(site, "listen 80;", f"listen 127.0.0.1:{http_port};")
    if "listen 443 " in site:
        if https_port is None or cert is None:
            raise ValueError(f"{source.name} has a TLS server: give https_port and cert")
        site = _replace(site, "listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl", count=1)
        site = _sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {cert[0]};", site, count=1)
        site = _sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {cert[1]};", site, count=1)
    site = _replace(site, SHIPPED_UPSTREAM, f"server 127.0.0.1:{app_port};", count=1)
    site = _replace(site, SHIPPED_PACKAGES, f"{str(alias_dir).rstrip('/')}/", count=1)
    cache = str(cache_dir or alias_dir.parent / "no-upstream-cache").rstrip("/")
    site = _replace(site, SHIPPED_CACHE, f"alias {cache}/$1/files/$2;", count=1)
    pages = str(pages_dir or alias_dir.parent / "no-pages").rstrip("/")
    site = _replace(site, SHIPPED_PAGES, f"root {pages};", count=2)
    checks = auth_cache or alias_dir.parent / "nginx-auth-cache"
    site = _replace(site, SHIPPED_AUTH_CACHE, f"proxy_cache_path {checks} ", count=1)
    if sub_path is not None:
        site = sub_path_site(site, sub_path)
    leftovers = ("8180", "/var/lib/dynopypi", "/var/cache", "/etc/letsencrypt", "listen 80")
    for leftover in (*leftovers, "/run/", "listen 443"):
        if leftover in site:
            raise AssertionError(f"templated site still has {leftover!r}:\n{site}")
    return site


def template_replicas_site(source: Path, *, http_port: int, app_ports: tuple[int, int]) -> str:
    """The shipped replicas site with a loopback port and the replicas under test in place
    of the shipped addresses (their parameters, max_fails and backup, kept as shipped)."""
    site = re.sub(r"^[ \t]*#.*\n", "", source.read_text(), flags=re.MULTILINE)  # comments
    site = _sub(r"^\s*listen \[::\]:\d+[^;\n]*;\n", "", site, count=1)
    site = _replace(site, "listen 80;", f"listen 127.0.0.1:{http_port};", count=1)
    for shipped, port in zip(SHIPPED_REPLICAS, app_ports, strict=True):
        site = _replace(site, f"server {shipped} ", f"server 127.0.0.1:{port} ", count=2)
    for leftover in ("8180", "10.0.0.", "/var/lib/dynopypi", "_dynopypi_files", "alias "):
        if leftover in site:
            raise AssertionError(f"templated site still has {leftover!r}:\n{site}")
    return site


def main_conf(prefix: Path) -> str:
    """A minimal top-level nginx.conf: everything nginx writes stays under ``prefix``."""
    user = "user root root;\n" if os.geteuid() == 0 else ""  # tmp dirs are 0700
    tmp = prefix / "tmp"
    return (
        f"{user}"
        "daemon off;\n"
        "worker_processes 1;\n"
        f"pid {prefix}/nginx.pid;\n"
        f"error_log {prefix}/error.log notice;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"    include {mime_types()};\n"
        "    default_type application/octet-stream;\n"
        "    types_hash_max_size 2048;\n"
        f"    access_log {prefix}/access.log;\n"
        f"    client_body_temp_path {tmp}/body;\n"
        f"    proxy_temp_path {tmp}/proxy;\n"
        f"    fastcgi_temp_path {tmp}/fastcgi;\n"
        f"    uwsgi_temp_path {tmp}/uwsgi;\n"
        f"    scgi_temp_path {tmp}/scgi;\n"
        f"    include {prefix}/site.conf;\n"
        "}\n"
    )


def write_config(prefix: Path, site: str) -> Path:
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / "tmp").mkdir(exist_ok=True)
    (prefix / "site.conf").write_text(site)
    conf = prefix / "nginx.conf"
    conf.write_text(main_conf(prefix))
    return conf


def nginx_test(prefix: Path, site: str) -> subprocess.CompletedProcess[str]:
    """``nginx -t`` on a site file placed in a minimal main configuration."""
    conf = write_config(prefix, site)
    return subprocess.run(
        [nginx_binary(), "-t", "-c", str(conf), "-p", f"{prefix}/",
         "-e", str(prefix / "error.log")],
        capture_output=True, text=True, check=False, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip


# --------------------------------------------------------------------------- running


@dataclass
class Nginx:
    """A foreground nginx (``daemon off``) over one templated site."""

    prefix: Path
    render: Callable[[int, int], str]  # (http_port, https_port) -> site text
    tls: bool = False
    http_port: int = 0
    https_port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    _logs: list[BinaryIO] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def https_base(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def error_log(self) -> Path:
        return self.prefix / "error.log"

    def start(self) -> None:
        problem = ""
        for _attempt in range(3):  # a free port can be taken between bind and nginx's bind
            self.http_port = free_port()
            self.https_port = free_port() if self.tls else 0
            conf = write_config(self.prefix, self.render(self.http_port, self.https_port))
            start_of_log = self.error_log.stat().st_size if self.error_log.exists() else 0
            out = (self.prefix / "nginx.stdout").open("ab")
            self._logs = [out]
            self.proc = subprocess.Popen(
                [nginx_binary(), "-c", str(conf), "-p", f"{self.prefix}/",
                 "-e", str(self.error_log)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
            ports = [self.http_port] + ([self.https_port] if self.tls else [])
            problem = wait_ready(accepting(*ports), timeout=STARTUP_TIMEOUT, process=self.proc)
            if not problem:
                return
            self.stop()
            if not port_was_taken(self.error_log, start_of_log):
                break
        raise RuntimeError(f"nginx did not start: {problem}\n{self.logs()}")

    def stop(self) -> None:
        if self.proc is not None:
            # SIGQUIT to the master is graceful: the workers finish, then exit
            stop_process(self.proc, signal.SIGQUIT, whole_group=False)
        for fh in self._logs:
            fh.close()
        self._logs = []

    def logs(self, limit: int = 4000) -> str:
        parts = []
        for name in ("error.log", "access.log", "nginx.stdout", "site.conf"):
            path = self.prefix / name
            text = path.read_text(errors="replace") if path.exists() else ""
            if len(text) > limit:
                text = "...\n" + text[-limit:]
            parts.append(f"----- nginx {name} -----\n{text}")
        return "\n".join(parts)


def site_nginx(
    prefix: Path,
    source: Path,
    *,
    app_port: int,
    alias_dir: Path,
    cert: tuple[Path, Path] | None = None,
    sub_path: str | None = None,
    cache_dir: Path | None = None,
    pages_dir: Path | None = None,
) -> Nginx:
    """An nginx (not started yet) over ``source`` templated for the app on ``app_port``
    (``pages_dir``: the app's ``--pages-dir``, which nginx then serves from)."""
    tls = source == TLS_SITE

    def render(http_port: int, https_port: int) -> str:
        return template_site(
            source,
            http_port=http_port,
            https_port=https_port if tls else None,
            app_port=app_port,
            alias_dir=alias_dir,
            cert=cert,
            sub_path=sub_path,
            cache_dir=cache_dir,
            pages_dir=pages_dir,
            auth_cache=prefix / "auth-cache",
        )

    return Nginx(prefix=prefix, render=render, tls=tls)


def replicas_nginx(prefix: Path, app_ports: tuple[int, int]) -> Nginx:
    """An nginx (not started yet) over the shipped replicas site, for the replicas
    listening on ``app_ports`` (restart them on the same ports: the site names them)."""

    def render(http_port: int, _https_port: int) -> str:
        return template_replicas_site(REPLICAS_SITE, http_port=http_port, app_ports=app_ports)

    return Nginx(prefix=prefix, render=render)


@contextmanager
def nginx_in_front(
    prefix: Path, app_port: int, alias_dir: Path, pages_dir: Path | None = None
) -> Iterator[Nginx]:
    """The shipped ``nginx/dynopypi.conf`` in front of the app on ``app_port`` (serving
    ``pages_dir``, the app's ``--pages-dir``, when given)."""
    server = site_nginx(
        prefix, HTTP_SITE, app_port=app_port, alias_dir=alias_dir, pages_dir=pages_dir
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Stack:
    """The app behind the shipped site: what the nginx security tests attack."""

    root: Path  # the app's package directory
    app: DynoServer
    nginx: Nginx

    def url(self, path: str) -> str:
        return f"{self.nginx.base}{path}"
