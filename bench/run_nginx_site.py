"""nginx for the nginx mode: the shipped site templated, the static reference, its log.

The site is nginx/dynopypi.conf itself with only its addresses and package path rewritten (the
run stops if those lines are gone), so the bench measures what is shipped. The reference is a
plain static nginx serving the same files and the app's own pages written out once.
"""

from __future__ import annotations

import http.client
import os
import re
from pathlib import Path

from run_common import HOST, NGINX_SITE, _hrefs

NGINX_MODES = ("nginx", "direct", "static")
NGINX_MODE_LABELS = {"nginx": "nginx->app", "direct": "app direct", "static": "static nginx"}
# What pip and requests send; the shipped config compresses pages for them.
GZIP_HEADERS = (("Accept-Encoding", "gzip, deflate"),)


def nginx_site_conf(shipped: str, port: int, app_port: int, pkgdir: Path, work: Path) -> str:
    """The shipped site config with only its addresses and paths changed (the app's
    pages directory: ``work/pages``; nginx's cache of account checks: ``work/auth-cache``)."""
    text, dropped = re.subn(r"(?m)^[ \t]*listen \[::\]:80;[ \t]*\n", "", shipped)
    subs = (
        ("listen 80;", f"listen {HOST}:{port};"),
        ("127.0.0.1:8180", f"{HOST}:{app_port}"),
        ("/var/lib/dynopypi/packages/", f"{pkgdir}/"),
        ("/var/lib/dynopypi/pages", f"{work}/pages"),
        ("/run/nginx-dynopypi-auth", f"{work}/auth-cache"),
    )
    missing = [old for old, _ in subs if old not in text]
    if dropped != 1 or missing:
        raise RuntimeError(
            f"{NGINX_SITE} no longer has the lines this bench rewrites "
            f"(listen [::]:80 found {dropped}x; missing {missing})"
        )
    for old, new in subs:
        text = text.replace(old, new)
    return "# nginx/dynopypi.conf, templated by bench/run.py\n" + text


def nginx_static_conf(port: int, static_dir: Path, pkgdir: Path) -> str:
    return f"""\
# The reference: plain static nginx, the same package files and the app's pages as files.
server {{
    listen {HOST}:{port};
    server_name _;
    root {static_dir};
    sendfile on;
    tcp_nopush on;

    location /packages/ {{
        alias {pkgdir}/;
    }}
}}
"""


def nginx_main_conf(prefix: Path) -> str:
    user = ""
    if os.geteuid() == 0:  # workers read the package files as whoever runs the bench
        import grp
        import pwd

        user = f"user {pwd.getpwuid(0).pw_name} {grp.getgrgid(os.getegid()).gr_name};\n"
    temp = "\n".join(
        f"    {kind}_temp_path {prefix}/tmp/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""\
# Written by bench/run.py: a minimal nginx around the shipped site config.
daemon off;
master_process on;
worker_processes 2;
{user}pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;

events {{
    worker_connections 1024;
}}

http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
{temp}

    include site.conf;
    include static.conf;
}}
"""


class KeepAlive:
    """One persistent HTTP/1.1 connection (reopened when the server closes it)."""

    def __init__(self, port: int, timeout: float = 60.0) -> None:
        self.port = port
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None

    def get(self, path: str) -> tuple[int, bytes]:
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
            try:
                self.conn.request("GET", path)
                resp = self.conn.getresponse()
                body = resp.read()
                if resp.will_close:
                    self.close()
                return resp.status, body
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def render_static_pages(app_port: int, static_dir: Path) -> int:
    """Write /simple/ and every project page, as the app answers them, as index.html files."""
    conn = KeepAlive(app_port)
    try:
        status, index_body = conn.get("/simple/")
        if status != 200:
            raise RuntimeError(f"app /simple/ answered {status} while rendering static pages")
        (static_dir / "simple").mkdir(parents=True, exist_ok=True)
        (static_dir / "simple" / "index.html").write_bytes(index_body)
        count = 1
        for href in _hrefs(index_body):
            name = href.strip("/")
            if not name or "/" in name or name.startswith("."):
                continue
            status, body = conn.get(f"/simple/{name}/")
            if status != 200:
                raise RuntimeError(f"app /simple/{name}/ answered {status}")
            page = static_dir / "simple" / name
            page.mkdir(exist_ok=True)
            (page / "index.html").write_bytes(body)
            count += 1
        return count
    finally:
        conn.close()


def nginx_log_summary(path: Path) -> dict[str, int]:
    """Count nginx's warnings and errors by message (paths and numbers blanked out)."""
    counts: dict[str, int] = {}
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return counts
    for line in text.splitlines():
        m = re.search(r"\[(warn|error|crit|alert|emerg)\] \d+#\d+: (?:\*\d+ )?(.*)", line)
        if not m:
            continue
        message = m.group(2).split(", client:")[0]
        message = re.sub(r"/\S+", "<path>", message)
        message = re.sub(r"\d+", "N", message)
        key = f"[{m.group(1)}] {message[:140]}"
        counts[key] = counts.get(key, 0) + 1
    return counts
