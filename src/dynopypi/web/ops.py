"""What people and operators ask of the server itself: the welcome page, liveness,
readiness, the authorization check nginx calls before sending a file or reading an upload,
and the answer nginx sends a refused upload to (``/_refusal``, see ``auth_request``)."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import bottle

from dynopypi.auth.identity import DOWNLOAD, LIST, UPDATE
from dynopypi.core.index import Index
from dynopypi.edge.auth_request import REFUSAL_HEADER, decode
from dynopypi.edge.gatekeeper import xmlrpc_refusal
from dynopypi.edge.metered import METRICS_PATH
from dynopypi.errors import Denied, NeedsAccount, NotFound, Refused
from dynopypi.ops.metrics import CONTENT_TYPE
from dynopypi.render.human import recent_releases, render_welcome
from dynopypi.render.layout import HEADERS
from dynopypi.web.shell import Routes, refusal, text

log = logging.getLogger(__name__)


def readiness(index: Index, store_problem: str | None = None) -> dict[str, Any]:
    """Ready = index loaded and verified, every package directory writable (uploads work),
    and the bucket answering when there is one (else a replica serves stale pages and
    503s its downloads: the load balancer should prefer another)."""
    writable = {str(root): os.access(root, os.W_OK | os.X_OK) for root in index.roots}
    problems = [] if index.loaded else ["the package index is still loading"]
    if store_problem is not None:
        problems.append(store_problem)
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
        app.route("/_refusal", "GET", self.refused)
        app.route(METRICS_PATH, "GET", self.metrics)

    def welcome(self) -> bottle.HTTPResponse:
        """The home page (kept per snapshot and index URL), or the operator's file."""
        snapshot = self.services.index.snapshot
        listable = not self.services.gate.needs_account(LIST)
        counts = (len(snapshot.projects), snapshot.file_count) if listable else None
        welcome = self.services.settings.welcome
        base = self.shell.base_url()
        if welcome is not None:
            try:
                body = render_welcome(base, counts, welcome)
                return bottle.HTTPResponse(body=body, Content_Type="text/html; charset=utf-8")
            except (OSError, UnicodeDecodeError) as exc:  # gone or garbled since the start
                log.error(
                    "cannot read the welcome file %s (%s); showing the built-in page", welcome, exc
                )
        catalog = self.services.catalog

        def home() -> bytes:
            recent = recent_releases(snapshot.files.values(), catalog.is_upstream)
            return render_welcome(
                base, counts, None, recent=recent, upstream=catalog.upstream is not None
            )

        page = self.services.renderer.ui.get(("home", base), snapshot.generation, home)
        assert page is not None
        return self.shell.send(page, HEADERS)

    def health(self) -> bottle.HTTPResponse:
        if not self.services.index.loaded:
            return text(503, "loading: the package index is not built yet")
        return text(200, "ok")

    def ready(self) -> bottle.HTTPResponse:
        """Ready or not for everybody (load balancers); what is in the index, where, and
        what is wrong with the account files only for those who may list it: counts and
        directory paths are nobody else's business."""
        state = readiness(self.services.index, self.services.store.problem())
        status = 200 if state["status"] == "ready" else 503
        if self._may_list():
            upstream = self.services.catalog.state()
            if upstream is not None:  # reported, never a reason to be not ready
                state["upstream"] = upstream
            self.services.gate.reload()  # at most a stat a second; not only on logins
            state["warnings"] = self.services.gate.problems()  # served, but from old files
        else:
            state = {"status": state["status"]}
        body = json.dumps(state, indent=1) + "\n"
        return bottle.HTTPResponse(body=body, status=status, Content_Type="application/json")

    def _may_list(self) -> bool:
        try:
            self.shell.require(LIST)
        except Refused:  # no, wrong or throttled credentials: a stranger
            return False
        return True

    def authorize(self, action: str) -> bottle.HTTPResponse:
        """For nginx's auth_request: may this client list, download or upload? (200, or
        the refusal, which ``auth_request.for_auth_request`` turns into the 401 or 403 that
        nginx passes on). For ``update`` nginx asks before it reads a POST body and names
        the method in X-Original-Method (GET / is the welcome page, open to all)."""
        if action not in (LIST, DOWNLOAD, UPDATE):
            raise NotFound(f"no authorization check for {action!r}")
        headers = self.shell.request.headers
        method = headers.get("X-Original-Method", "POST").upper()
        if action == UPDATE and method in ("GET", "HEAD"):
            return bottle.HTTPResponse(status=200)
        if action == UPDATE:  # pip search posts XML-RPC to the index URL: say what it is
            not_served = xmlrpc_refusal("/", headers.get("X-Original-Content-Type", ""))
            if not_served is not None:
                raise not_served
        self.shell.require(action)
        return bottle.HTTPResponse(status=200)

    def metrics(self) -> bottle.HTTPResponse:
        """The Prometheus metrics, for an account only, even on an open index: counts of
        refusals and logins are no stranger's business (``--metrics-listen`` serves them
        without accounts on an address of their own)."""
        metrics, gate = self.services.metrics, self.services.gate
        if metrics is None:
            raise NotFound("metrics are off on this server (it was started with --no-metrics)")
        if not gate.policy.accounts_configured:
            raise Denied(
                "/metrics needs an account and this server has none (-P .); serve metrics "
                "on an address of their own with --metrics-listen HOST:PORT"
            )
        environ = self.shell.request.environ
        gate.reload()
        identity = gate.identify(environ.get("HTTP_AUTHORIZATION"), environ.get("REMOTE_ADDR", ""))
        if identity.anonymous:
            raise NeedsAccount(
                "/metrics needs an account: give Prometheus basic_auth (any account of "
                "-P/--passwords), or use --metrics-listen"
            )
        return bottle.HTTPResponse(body=metrics.exposition(), Content_Type=CONTENT_TYPE)

    def refused(self) -> bottle.HTTPResponse:
        """The refusal an auth check gave, answered to the client as the app would have
        answered it (status, reason phrase, body, challenge, Retry-After): nginx sends a
        refused upload here with the check's ``X-Dynopypi-Refusal``. Nothing is checked
        again (a failed login counts once) and nothing is granted: whatever the header
        says, the caller only ever gets a 4xx (or 503) describing a refusal, as plain text
        that a browser must not sniff into a page (``X-Content-Type-Options: nosniff``)."""
        passed_on = decode(self.shell.request.headers.get(REFUSAL_HEADER))
        if passed_on is None:
            answer = refusal(
                403,
                "refused, but the proxy in front of this index passed on no reason "
                f"({REFUSAL_HEADER}); ask its operator",
            )
        else:
            answer = refusal(passed_on.status, passed_on.message, passed_on.retry_after)
        answer.set_header("X-Content-Type-Options", "nosniff")  # text echoed from a header
        return answer
