"""A tiny upstream index that says exactly what a test tells it to, lies included.

A real dynopypi serves as the honest upstream in most tests; this one is for what an
honest index never does: files whose bytes do not match the page's sha256, pages
without upload times, answers that are slow, broken or 5xx. Every request is counted
by path, so a test can assert how often dynopypi asked.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

JSON_V1 = "application/vnd.pypi.simple.v1+json"


@dataclass
class Answer:
    body: bytes
    content_type: str = "application/octet-stream"
    status: int = 200
    delay: float = 0.0  # seconds before the headers
    trickle: float = 0.0  # seconds between 64 KiB chunks of the body
    headers: dict[str, str] = field(default_factory=dict)
    drip: float = 0.0  # seconds between single bytes of the body (a drip, not a stall)
    head_drip: float = 0.0  # seconds between single bytes of the status line and headers
    length: bool = True  # send Content-Length (False: the body ends when the socket closes)
    stall_after: int | None = None  # send this many body bytes, then nothing (socket open)


@dataclass
class FakeUpstream:
    answers: dict[str, Answer] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    auth: dict[str, str | None] = field(default_factory=dict)  # path -> last Authorization
    port: int = 0
    file_host: FakeUpstream | None = None  # serve files from there (like files.pythonhosted.org)
    _server: ThreadingHTTPServer | None = None

    @property
    def index_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/simple/"

    def start(self) -> FakeUpstream:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                fake.hits[path] += 1
                fake.auth[path] = self.headers.get("Authorization")
                answer = fake.answers.get(path, Answer(b"not here\n", "text/plain", 404))
                time.sleep(answer.delay)
                with contextlib.suppress(OSError):  # dynopypi gave up on us: some tests want it
                    self._answer(answer)

            def _answer(self, answer: Answer) -> None:
                head = [f"HTTP/1.1 {answer.status} Answer", f"Content-Type: {answer.content_type}"]
                if answer.length:
                    head.append(f"Content-Length: {len(answer.body)}")
                head += [f"{key}: {value}" for key, value in answer.headers.items()]
                head.append("Connection: close")
                raw = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
                self.close_connection = True
                if answer.head_drip:
                    for byte in raw:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(answer.head_drip)
                else:
                    self.wfile.write(raw)
                body = answer.body
                if answer.stall_after is not None:
                    self.wfile.write(body[: answer.stall_after])
                    self.wfile.flush()
                    time.sleep(3600)  # the socket stays open, silent (a daemon thread)
                if answer.drip:
                    for byte in body:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(answer.drip)
                    return
                for start in range(0, len(body), 65536):
                    self.wfile.write(body[start : start + 65536])
                    time.sleep(answer.trickle)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        """Answer ``path`` with a redirect to ``location`` (any URL, any host)."""
        self.answers[path] = Answer(b"", "text/plain", status, headers={"Location": location})

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # ---- building pages ----------------------------------------------------------------
    def publish(
        self,
        project: str,
        files: list[tuple[Path, bytes | None, str | None]],
        *,
        html: bool = False,
        trickle: float = 0.0,
        delay: float = 0.0,
        metadata: dict[str, bytes] | None = None,
    ) -> None:
        """Serve ``project``'s page listing ``files``: (real file, bytes actually sent or
        None for the real ones, upload-time or None). The page carries the real sha256.
        ``metadata``: file name -> core metadata served as ``<file>.metadata`` (PEP 658)."""
        entries = []
        for path, served, upload_time in files:
            data = path.read_bytes()
            url = f"/files/{path.name}"
            self.answers[url] = Answer(served if served is not None else data, trickle=trickle)
            if self.file_host is not None:  # the files live on another host
                self.file_host.answers[url] = self.answers.pop(url)
                url = f"http://127.0.0.1:{self.file_host.port}{url}"
            entry: dict[str, Any] = {
                "filename": path.name,
                "url": url,
                "hashes": {"sha256": hashlib.sha256(data).hexdigest()},
                "size": len(data),
            }
            if upload_time is not None:
                entry["upload-time"] = upload_time
            if metadata and path.name in metadata:
                meta = metadata[path.name]
                self.answers[f"/files/{path.name}.metadata"] = Answer(meta, "text/plain")
                entry["core-metadata"] = {"sha256": hashlib.sha256(meta).hexdigest()}
            entries.append(entry)
        page = f"/simple/{project}/"
        if html:
            links = "".join(
                f'<a href="{e["url"]}#sha256={e["hashes"]["sha256"]}">{e["filename"]}</a><br>\n'
                for e in entries
            )
            body = f"<!DOCTYPE html><html><body>\n{links}</body></html>\n".encode()
            self.answers[page] = Answer(body, "text/html", delay=delay)
        else:
            doc = {"meta": {"api-version": "1.1"}, "name": project, "files": entries}
            self.answers[page] = Answer(json.dumps(doc).encode(), JSON_V1, delay=delay)
