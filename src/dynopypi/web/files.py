"""Package files' routes: /packages/ (every file served), downloads, PEP 658 .metadata.

Which file is asked for, and may the asker have it; ``Catalog.serve`` decides where its
bytes come from and ``sending`` turns that into the response.
"""

from __future__ import annotations

import bottle

from dynopypi.auth.identity import DOWNLOAD, LIST
from dynopypi.core.model import Rendered
from dynopypi.core.visibility import AsOf, held_summary
from dynopypi.errors import NotFound
from dynopypi.render.human import render_listing
from dynopypi.web.sending import Sender
from dynopypi.web.shell import Routes, Shell


class FileRoutes(Routes):
    def __init__(self, shell: Shell) -> None:
        super().__init__(shell)
        self.sender = Sender(shell)

    def install(self, app: bottle.Bottle) -> None:
        app.route("/packages/", "GET", self.listing)
        app.route("/packages/<path:path>", ["GET", "HEAD"], self.download)

    def listing(self) -> bottle.HTTPResponse:
        self.shell.require(LIST)
        snapshot = self.services.index.snapshot
        served = self.services.catalog.listing(snapshot)
        if served is None:  # every file: the page of this snapshot, rendered once
            return self.shell.send(self.services.renderer.listing_page(snapshot))
        return self.shell.send(render_listing(served))  # the cooldown's: for this moment

    def download(self, path: str, as_of: AsOf | None = None) -> bottle.HTTPResponse:
        self.shell.require(DOWNLOAD)
        request = self.shell.request
        sent = self.services.catalog.serve(
            path,
            as_of,
            self.sender.send,
            head=request.method == "HEAD",
            ranged=bool(request.headers.get("Range")),
        )
        if sent is not None:
            return sent
        if path.endswith(".metadata"):
            return self.core_metadata(path.removesuffix(".metadata"), as_of)
        held = self.services.catalog.held_file(path)
        if held is not None:
            raise NotFound(
                f"file {path!r}: {held_summary((held,), self.services.catalog.cooldown)}"
            )
        raise NotFound(f"no file {path!r} in this index")

    def core_metadata(self, path: str, as_of: AsOf | None = None) -> bottle.HTTPResponse:
        catalog = self.services.catalog
        dist = catalog.file_at(path, as_of)
        raw = catalog.metadata(dist) if dist is not None and dist.metadata_sha256 else None
        if dist is None or raw is None:
            raise NotFound(f"no core metadata for {path!r}: only wheels in this index have it")
        return self.shell.send(
            Rendered(raw, f'"{dist.metadata_sha256}"', "text/plain; charset=utf-8")
        )
