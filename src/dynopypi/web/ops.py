"""What people and operators ask of the server itself: the welcome page, liveness,
readiness, and the authorization check nginx calls before sending a file itself."""

from __future__ import annotations

import json
import os
from typing import Any

import bottle

from ..errors import Denied, NotFound, Throttled
from ..identity import DOWNLOAD, LIST
from ..index import Index
from ..pages import render_welcome
from .shell import Routes, text


def readiness(index: Index) -> dict[str, Any]:
    """Ready = index loaded and verified, every package directory writable (uploads work)."""
    writable = {str(root): os.access(root, os.W_OK | os.X_OK) for root in index.roots}
    problems = [] if index.loaded else ["the package index is still loading"]
    if index.loaded and not index.verified.is_set():
        problems.append("checking the package directories against the cache")
    problems += [f"{root} is not writable" for root, ok in writable.items() if not ok]
    snapshot = index.snapshot
    return {
        "status": "ready" if not problems else "not ready",
        "problems": problems,
        "index_loaded": index.loaded,
        "index_verified": index.verified.is_set(),
        "projects": len(snapshot.projects),
        "files": snapshot.file_count,
        "writable": writable,
    }


class OpsRoutes(Routes):
    def install(self, app: bottle.Bottle) -> None:
        settings = self.services.settings
        app.route("/", "GET", self.welcome)
        app.route(settings.health_endpoint, "GET", self.health)
        app.route(settings.ready_endpoint, "GET", self.ready)
        app.route("/_authorize/<action>", "GET", self.authorize)

    def welcome(self) -> bottle.HTTPResponse:
        snapshot = self.services.index.snapshot
        listable = not self.services.gate.needs_account(LIST)
        counts = (len(snapshot.projects), snapshot.file_count) if listable else None
        body = render_welcome(self.shell.base_url(), counts, self.services.settings.welcome)
        return bottle.HTTPResponse(body=body, Content_Type="text/html; charset=utf-8")

    def health(self) -> bottle.HTTPResponse:
        if not self.services.index.loaded:
            return text(503, "loading: the package index is not built yet")
        return text(200, "ok")

    def ready(self) -> bottle.HTTPResponse:
        state = readiness(self.services.index)
        upstream = self.services.catalog.state()
        if upstream is not None:  # reported, never a reason to be not ready
            state["upstream"] = upstream
        body = json.dumps(state, indent=1) + "\n"
        status = 200 if state["status"] == "ready" else 503
        return bottle.HTTPResponse(body=body, status=status, Content_Type="application/json")

    def authorize(self, action: str) -> bottle.HTTPResponse:
        """For nginx's auth_request: may this client list or download? (200, 401 or 403)

        nginx caches a yes briefly per Authorization header and then sends package files
        itself; auth_request cannot pass a 429 on, so a throttled client gets 403 here.
        """
        if action not in (LIST, DOWNLOAD):
            raise NotFound(f"no authorization check for {action!r}")
        try:
            self.shell.require(action)
        except Throttled as exc:
            raise Denied(exc.message) from None
        return bottle.HTTPResponse(status=200)
