"""An OIDC identity token (a JWT from CI) checked: signed by a key of an issuer some
publisher names, with RS256 or ES256 only, for our audience, within its times.

The algorithm is read from the token's header only to refuse what is not allowed before
any key is looked up: ``none``, and HS256 (whose "secret" an attacker would pick as our
RSA public key) never reach PyJWT, which is then given the one algorithm the key's type
means. ``iss`` must equal a configured issuer exactly; ``aud``, ``exp``, ``nbf`` and
``iat`` are checked with ``LEEWAY`` seconds for clocks apart; ``jti`` must be there (it is
what makes a token single-use, ``replay``).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # imported where a token is checked: PyJWT and cryptography cost 9 MB
    import jwt  # of memory from the start, in every server, most of which never see one

from dynopypi.trust.oidc_keys import KeysUnavailable

ALGORITHMS = ("RS256", "ES256")
LEEWAY = 30  # seconds
MAX_TOKEN = 16 * 1024  # a JWT from CI is 1-2 KiB


class InvalidIdentity(Exception):
    """The identity token is refused; ``str`` says why, for the CI log."""


class KeySource(Protocol):
    def key(self, issuer: str, kid: str | None) -> jwt.PyJWK: ...


def verify(token: str, audience: str, issuers: Collection[str], keys: KeySource) -> dict[str, Any]:
    """The token's claims once every check passed; ``InvalidIdentity`` otherwise."""
    import jwt  # here, not at the top: see the import there

    if len(token) > MAX_TOKEN:
        raise InvalidIdentity(f"the identity token is over {MAX_TOKEN} bytes")
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise InvalidIdentity(f"the identity token cannot be read: {exc}") from None
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:
        raise InvalidIdentity(
            f"the identity token is signed with {str(algorithm)[:20]!r}; "
            f"only {' and '.join(ALGORITHMS)} are accepted"
        )
    issuer = unverified.get("iss")
    if not isinstance(issuer, str) or issuer not in issuers:
        raise InvalidIdentity(
            f"no trusted publisher on this index has the issuer {str(issuer)[:200]!r}"
        )
    kid = header.get("kid")
    try:
        key = keys.key(issuer, kid if isinstance(kid, str) else None)
    except KeysUnavailable as exc:
        raise InvalidIdentity(f"the issuer's signing key is not available: {exc}") from None
    if key.algorithm_name != algorithm:
        raise InvalidIdentity(
            f"the token says {algorithm} but the issuer's key {kid!r} is for {key.algorithm_name}"
        )
    try:
        return jwt.decode(
            token,
            key.key,
            algorithms=[algorithm],
            audience=audience,
            issuer=issuer,
            leeway=LEEWAY,
            options={"require": ["exp", "iat", "iss", "aud", "jti"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidIdentity("the identity token has expired; ask the CI for a new one") from None
    except jwt.ImmatureSignatureError:
        raise InvalidIdentity(
            "the identity token is not valid yet (nbf/iat in the future)"
        ) from None
    except jwt.InvalidAudienceError:
        raise InvalidIdentity(
            f"the identity token is for another audience; this index expects {audience!r} "
            "(GET /_/oidc/audience)"
        ) from None
    except jwt.PyJWTError as exc:
        raise InvalidIdentity(f"the identity token is not valid: {exc}") from None
