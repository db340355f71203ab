"""Credentials that are not passwords, kept in the package storage: API tokens and
trusted publishing (OIDC identity tokens from CI exchanged for short-lived API tokens).

``tokens`` (token records under ``.dynopypi/tokens/``, re-read so a revocation shows on
every replica within a second), ``publishers`` (the trusted publishers under
``.dynopypi/publishers/``), ``oidc_keys`` (an issuer's discovery document and keys,
fetched within bounds and cached), ``oidc_verify`` (a JWT checked against them),
``replay`` (each JWT's ``jti`` used once across every replica, by put-if-absent) and
``mint`` (the exchange that ``uv publish --trusted-publishing`` calls).

May import: the layers below the stores (``auth`` for the records and identities,
``store.base`` for where they live) and ``upstream`` (its bounded HTTP GET).
"""
