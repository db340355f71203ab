"""A real OpenLDAP directory for the tests: Debian's ``slapd`` as a process under a temp dir.

The LDAP sign-in is tested against a real server, never a mock: bind results, referrals,
escaping and the ``memberOf`` overlay are what a fake would get wrong. ``Slapd`` writes a
``slapd.conf`` (mdb database, the memberof overlay, a test CA's certificate for StartTLS
and LDAPS), starts ``slapd -d 0`` (in the foreground, so the test owns the process) on two
free loopback ports, one ``ldap://`` and one ``ldaps://``, and fills the directory over LDAP
as its root DN (``slapadd`` would bypass the overlay, and ``memberOf`` would stay empty).

The directory (``dc=example,dc=org``):

- ``ou=people``: ``alice`` (in ``py-publishers`` and ``readers``), ``bob`` (in
  ``readers``), ``carol`` (in no group), ``svc-search`` (the search mode's service account);
  every password is ``<uid>-pw`` (``password_of``).
- ``ou=groups``: ``groupOfNames`` ``py-publishers`` and ``readers`` (``member``), and a
  ``posixGroup`` ``posix-publishers`` (``memberUid: alice``).

Start-up takes well under a second; one instance serves a test module, and tests that stop
it (``stop``/``start`` again on the same ports) restore it before they end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ldap3

from support.net import free_port, wait_ready
from support.nginx import make_signed_certificate
from support.processes import forbidden_in_unit_run, stop_process

SLAPD = "/usr/sbin/slapd"
MODULES = "/usr/lib/ldap"
SCHEMAS = "/etc/ldap/schema"
SUFFIX = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PW = "root-secret"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
START_TIMEOUT = 30.0
USERS = ("alice", "bob", "carol", "svc-search")
MEMBERS = {"py-publishers": ("alice",), "readers": ("alice", "bob")}


def password_of(uid: str) -> str:
    return f"{uid}-pw"


def user_dn(uid: str) -> str:
    return f"uid={uid},{PEOPLE}"


_CONF = """\
include {schemas}/core.schema
include {schemas}/cosine.schema
include {schemas}/inetorgperson.schema
include {schemas}/nis.schema
modulepath {modules}
moduleload back_mdb
moduleload memberof
pidfile {root}/slapd.pid
argsfile {root}/slapd.args
TLSCACertificateFile {ca}
TLSCertificateFile {cert}
TLSCertificateKeyFile {key}
database mdb
suffix "{suffix}"
rootdn "{root_dn}"
rootpw {root_pw}
directory {root}/db
maxsize 16777216
overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint true
access to attrs=userPassword by anonymous auth by self write by * none
access to * by users read by * none
"""


@dataclass
class Slapd:
    """One slapd under ``root``; ``url``/``ldaps_url`` once started, ``ca`` to trust."""

    root: Path
    port: int = 0
    tls_port: int = 0
    ca: Path = field(default_factory=Path)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.tls_port}"

    @property
    def log_path(self) -> Path:
        return self.root / "slapd.log"

    def configure(self) -> None:
        forbidden_in_unit_run("slapd (an LDAP directory)")
        if not Path(SLAPD).exists():
            raise RuntimeError(
                f"{SLAPD} is missing: install Debian's slapd and ldap-utils (.ci/run does)"
            )
        (self.root / "db").mkdir(parents=True, exist_ok=True)
        self.ca, cert, key = make_signed_certificate(self.root / "tls")
        conf = _CONF.format(
            schemas=SCHEMAS, modules=MODULES, root=self.root, ca=self.ca, cert=cert, key=key,
            suffix=SUFFIX, root_dn=ROOT_DN, root_pw=ROOT_PW,
        )  # fmt: skip
        (self.root / "slapd.conf").write_text(conf)
        self.port, self.tls_port = free_port(), free_port()

    def start(self) -> None:
        """Start (again, on the same ports and data after ``stop``)."""
        forbidden_in_unit_run("slapd (an LDAP directory)")
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [SLAPD, "-d", "0", "-f", str(self.root / "slapd.conf"),
             "-h", f"{self.url}/ {self.ldaps_url}/"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        log.close()
        problem = wait_ready(self._probe, timeout=START_TIMEOUT, process=self.proc)
        if problem:
            self.stop()
            raise RuntimeError(f"slapd did not start: {problem}\n{self.logs()}")

    def _probe(self) -> str:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1):
            return ""

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def pause(self) -> None:
        """SIGSTOP: connections are still accepted (by the kernel), nothing is answered."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def logs(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except FileNotFoundError:
            return ""

    # ---- the directory's content, as its root DN

    @contextlib.contextmanager
    def admin(self) -> Iterator[ldap3.Connection]:
        """A connection bound as the root DN, closed afterwards."""
        server = ldap3.Server(self.url, connect_timeout=5)
        conn = ldap3.Connection(
            server, ROOT_DN, ROOT_PW, auto_bind=True, receive_timeout=5, raise_exceptions=True
        )
        try:
            yield conn
        finally:
            conn.unbind()

    def populate(self) -> None:
        with self.admin() as conn:
            conn.add(SUFFIX, ["dcObject", "organization"], {"o": "Example", "dc": "example"})
            for ou in ("people", "groups"):
                conn.add(f"ou={ou},{SUFFIX}", ["organizationalUnit"], {"ou": ou})
            for uid in USERS:
                self.add_user(conn, uid)
            for name, members in MEMBERS.items():
                conn.add(
                    f"cn={name},{GROUPS}", ["groupOfNames"],
                    {"cn": name, "member": [user_dn(m) for m in members]},
                )  # fmt: skip
            conn.add(
                f"cn=posix-publishers,{GROUPS}", ["posixGroup"],
                {"cn": "posix-publishers", "gidNumber": "5000", "memberUid": ["alice"]},
            )  # fmt: skip

    @staticmethod
    def add_user(conn: ldap3.Connection, uid: str, password: str | None = None) -> None:
        conn.add(
            user_dn(uid), ["inetOrgPerson"],
            {"uid": uid, "cn": uid, "sn": uid, "userPassword": password or password_of(uid)},
        )  # fmt: skip

    def set_password(self, uid: str, password: str) -> None:
        with self.admin() as conn:
            conn.modify(user_dn(uid), {"userPassword": [(ldap3.MODIFY_REPLACE, [password])]})


def start_slapd(root: Path) -> Slapd:
    """A configured, started and populated slapd under ``root``."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    slapd = Slapd(root)
    slapd.configure()
    slapd.start()
    slapd.populate()
    return slapd
