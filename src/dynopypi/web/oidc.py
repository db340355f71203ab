"""Trusted publishing over HTTP, at the host root as uv and PEP 807 expect them:
``GET /_/oidc/audience``, ``POST /_/oidc/mint-token`` and the (draft, experimental)
PEP 807 discovery ``GET /.well-known/pytp/<sha256 of the upload path>``.

Refusals are in PyPI's error shape, ``{"message": ..., "errors": [{"code": ...,
"description": ...}]}``, which uv prints; the status is 422 as on PyPI (503 when the
storage cannot record the token's use).
"""

from __future__ import annotations

import hashlib
import json

import bottle

from dynopypi.edge.gatekeeper import MAX_MINT_BODY, MINT_PATH
from dynopypi.store.base import StoreUnavailable
from dynopypi.trust.mint import MintRefused
from dynopypi.web.shell import Routes

AUDIENCE_PATH = "/_/oidc/audience"


def _json(value: object, status: int = 200) -> bottle.HTTPResponse:
    body = json.dumps(value) + "\n"
    return bottle.HTTPResponse(
        body=body, status=status, Content_Type="application/json", Cache_Control="no-store"
    )


def pypi_error(code: str, description: str, status: int) -> bottle.HTTPResponse:
    return _json(
        {"message": "Token request failed", "errors": [{"code": code, "description": description}]},
        status,
    )


class OidcRoutes(Routes):
    def install(self, app: bottle.Bottle) -> None:
        app.route(AUDIENCE_PATH, "GET", self.audience)
        app.route(MINT_PATH, "POST", self.mint)
        app.route("/.well-known/pytp/<key>", "GET", self.discover)

    def audience(self) -> bottle.HTTPResponse:
        trust = self.services.trust
        if trust is None:
            return pypi_error("not-enabled", "trusted publishing is not enabled here", 422)
        return _json({"audience": trust.minter.audience})

    def mint(self) -> bottle.HTTPResponse:
        trust = self.services.trust
        if trust is None:
            return pypi_error("not-enabled", "trusted publishing is not enabled here", 422)
        environ = self.shell.request.environ
        length = str(environ.get("CONTENT_LENGTH") or "")
        if not length.isdigit() or int(length) > MAX_MINT_BODY:
            return pypi_error(
                "invalid-payload", f"send a JSON body of at most {MAX_MINT_BODY} bytes", 413
            )
        body = environ["wsgi.input"].read(int(length))
        try:
            return _json(trust.minter.mint(body))
        except MintRefused as exc:
            return pypi_error(exc.code, exc.description, exc.status)
        except StoreUnavailable as exc:
            return pypi_error("store-unavailable", exc.message, 503)

    def discover(self, key: str) -> bottle.HTTPResponse:
        """PEP 807 (draft): the endpoints for an upload URL whose path hashes to ``key``
        (this index's upload path is its root, under whatever prefix it is mounted)."""
        if self.services.trust is None:
            return bottle.HTTPResponse(status=404)
        prefix = self.shell.request.script_name.rstrip("/")
        paths = {prefix + "/", prefix}
        if key not in {hashlib.sha256(p.encode()).hexdigest() for p in paths}:
            return bottle.HTTPResponse(status=404)
        parts = self.shell.request.urlparts
        root = f"{parts.scheme}://{parts.netloc}"
        return _json({
            "audience-endpoint": root + AUDIENCE_PATH,
            "mint-token-endpoint": root + MINT_PATH,
        })  # fmt: skip
