""" "As of" views: ``/as-of/<INSTANT>/simple/...`` and ``/as-of/<INSTANT>/packages/...``.

The whole index (local and upstream files) as it stood at INSTANT, by upload time: a
reproducible ``--index-url`` for a frozen build. A duration back from now (``P4D``) is a
cooldown chosen by the consumer instead: it holds back upstream files younger than that
and, like ``--min-age``, never the team's own (``core.visibility``).
Pages link relatively (``../../packages/``), so their files are fetched under the same
prefix and a file newer than the instant is not found there either.
"""

from __future__ import annotations

import time

import bottle

from dynopypi.auth.identity import LIST
from dynopypi.core.model import Rendered
from dynopypi.core.visibility import AsOf, parse_as_of
from dynopypi.render.simple import render_index
from dynopypi.web.files import FileRoutes
from dynopypi.web.shell import Routes
from dynopypi.web.simple_api import SimpleRoutes


class AsOfRoutes(Routes):
    def install(self, app: bottle.Bottle) -> None:
        app.route("/as-of/<instant>/simple", "GET", self.no_slash)
        app.route("/as-of/<instant>/simple/", "GET", self.index)
        app.route("/as-of/<instant>/simple/<name>", "GET", self.project_no_slash)
        app.route("/as-of/<instant>/simple/<name>/", "GET", self.project)
        app.route("/as-of/<instant>/packages/<path:path>", ["GET", "HEAD"], self.download)
        self._simple = SimpleRoutes(self.shell)
        self._files = FileRoutes(self.shell)

    @staticmethod
    def _instant(text: str) -> AsOf:
        return parse_as_of(text, time.time_ns())

    def no_slash(self, instant: str) -> bottle.HTTPResponse:
        self._instant(instant)
        return self.shell.redirect("simple/")

    def index(self, instant: str) -> bottle.HTTPResponse:
        self.shell.require(LIST)
        as_of = self._instant(instant)
        snapshot = self.services.index.snapshot
        projects = self.services.catalog.listed(snapshot, as_of)
        page: Rendered = render_index(projects, self.shell.negotiated())
        return self.shell.send(page)

    def project_no_slash(self, instant: str, name: str) -> bottle.HTTPResponse:
        self._instant(instant)
        return self.shell.redirect(f"{self.shell.valid_name(name)}/")

    def project(self, instant: str, name: str) -> bottle.HTTPResponse:
        self.shell.require(LIST)
        as_of = self._instant(instant)
        canonical = self.shell.valid_name(name)
        if canonical != name:
            return self.shell.redirect(f"../{canonical}/")
        return self._simple.project_page(canonical, as_of)

    def download(self, instant: str, path: str) -> bottle.HTTPResponse:
        return self._files.download(path, self._instant(instant))
