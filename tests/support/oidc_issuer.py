"""A small OIDC issuer for the trusted publishing tests: signing keys made with
``cryptography``, JWTs signed with them, and (``IssuerServer``) a loopback HTTP server
that serves the discovery document, the JWKS and GitHub Actions' ID-token request
endpoint (``ACTIONS_ID_TOKEN_REQUEST_URL``), so a real ``uv publish
--trusted-publishing always`` can run as if in a workflow.

``documents()`` is what the server serves, so unit tests can hand the same documents to
the key fetcher without a socket.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

REPOSITORY = "acme/tools"
WORKFLOW_REF = "acme/tools/.github/workflows/release.yml@refs/tags/v1.0"


@dataclass
class Issuer:
    """Keys and claims of one issuer at ``url`` (set once its server listens)."""

    url: str = "http://127.0.0.1:1"
    rsa_key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    ec_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    request_token: str = field(default_factory=lambda: secrets.token_hex(16))
    audiences: list[str] = field(default_factory=list)  # asked by the CI endpoint
    overrides: dict[str, bytes] = field(default_factory=dict)  # a hostile issuer's answers
    delay: float = 0.0  # seconds before each answer: a slow issuer

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in (("rsa-1", self.rsa_key), ("ec-1", self.ec_key)):
            jwk = json.loads(jwt.algorithms.get_default_algorithms()[
                "RS256" if kid.startswith("rsa") else "ES256"
            ].to_jwk(key.public_key()))  # fmt: skip
            jwk.update(kid=kid, use="sig")
            keys.append(jwk)
        return {"keys": keys}

    def documents(self) -> dict[str, bytes]:
        """Path -> body of what the issuer serves."""
        discovery = {"issuer": self.url, "jwks_uri": self.url + "/jwks"}
        return {
            "/.well-known/openid-configuration": json.dumps(discovery).encode(),
            "/jwks": json.dumps(self.jwks()).encode(),
            **self.overrides,
        }

    def claims(self, audience: str, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "aud": audience,
            "sub": f"repo:{REPOSITORY}:ref:refs/tags/v1.0",
            "repository": REPOSITORY,
            "workflow_ref": WORKFLOW_REF,
            "environment": "release",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "jti": secrets.token_hex(16),
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def sign(self, claims: dict[str, Any], *, alg: str = "RS256", kid: str | None = None) -> str:
        key: Any = self.rsa_key if alg == "RS256" else self.ec_key
        kid = kid or ("rsa-1" if alg == "RS256" else "ec-1")
        return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})

    def token(self, audience: str, **overrides: Any) -> str:
        return self.sign(self.claims(audience, **overrides))


class IssuerServer:
    """The issuer on a loopback port, in a thread; ``stop`` ends it."""

    def __init__(self, issuer: Issuer | None = None) -> None:
        self.issuer = issuer or Issuer()
        self.requests: list[str] = []
        handler = _handler(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.issuer.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def request_url(self) -> str:
        """GitHub's ACTIONS_ID_TOKEN_REQUEST_URL (it comes with a query already)."""
        return self.issuer.url + "/actions-token?api-version=2.0"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(owner: IssuerServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            owner.requests.append(self.path)
            parts = urlsplit(self.path)
            issuer = owner.issuer
            time.sleep(issuer.delay)
            if parts.path == "/actions-token":
                expected = f"bearer {issuer.request_token}"
                if self.headers.get("Authorization", "").lower() != expected.lower():
                    self._send(401, b'{"message": "bad request token"}')
                    return
                audience = parse_qs(parts.query).get("audience", ["?"])[0]
                issuer.audiences.append(audience)
                value = issuer.token(audience)
                self._send(200, json.dumps({"value": value}).encode())
                return
            body = issuer.documents().get(parts.path)
            self._send(200 if body else 404, body or b"{}")

        def _send(self, status: int, body: bytes) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the client gave up (the slow-issuer test): nothing to say
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
