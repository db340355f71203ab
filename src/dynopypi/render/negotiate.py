"""Content negotiation: which media type (Accept) and whether gzip (Accept-Encoding).

Both headers share one grammar (RFC 9110 §12.4.2): comma-separated items, each a token
with optional ``;name=value`` parameters, one of which may be the weight ``q``. Both are
parsed here, by one splitter, so the two cannot disagree on spacing, case or garbage.
Pure: no request objects, only header strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from dynopypi.errors import NoAcceptableFormat

JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
JSON_LATEST = "application/vnd.pypi.simple.latest+json"
HTML_LATEST = "application/vnd.pypi.simple.latest+html"
TEXT_HTML = "text/html"

# media type a client may ask for -> the one we answer with
_ALIASES = {
    JSON_V1: JSON_V1,
    JSON_LATEST: JSON_V1,
    HTML_V1: HTML_V1,
    HTML_LATEST: HTML_V1,
    TEXT_HTML: TEXT_HTML,
}
_DEFAULT = TEXT_HTML  # what */* and a missing Accept get: every client understands it
_WILDCARDS = {
    "*/*": (TEXT_HTML, HTML_V1, JSON_V1),
    "text/*": (TEXT_HTML,),
    "application/*": (JSON_V1, HTML_V1),
}
# when q-values tie, prefer the richer, versioned formats
_PREFERENCE = {JSON_V1: 0, JSON_LATEST: 0, HTML_V1: 1, HTML_LATEST: 1, TEXT_HTML: 2}

_GZIP = ("gzip", "x-gzip")  # RFC 9110 §8.4.1.3: x-gzip is the same coding
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?")


def _weighted(header: str, weight: Callable[[str], float]) -> list[tuple[str, float]]:
    """(lower-cased token, q) per non-empty item, in header order; unknown parameters
    are ignored, parameter names are case-insensitive, and the last ``q`` counts."""
    items = []
    for part in header.split(","):
        token, *params = (piece.strip() for piece in part.split(";"))
        token = token.lower()
        if not token:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                q = weight(value)
        items.append((token, q))
    return items


def _lenient_q(value: str) -> float:
    """Accept's weights: anything ``float`` reads, clamped to 0..1; the rest refuses."""
    try:
        return max(0.0, min(1.0, float(value)))
    except ValueError:
        return 0.0


def _strict_q(value: str) -> float:
    """Accept-Encoding's weights: a plain decimal from 0 to 1 (RFC 9110 §12.4.2, extra
    digits tolerated); anything else (``x``, ``2``, ``-1``, ``nan``, ``1e0``, quoted)
    makes the item not acceptable, because sending gzip to a client that may not
    want it is worse than sending the page uncompressed."""
    value = value.strip()
    if not _DECIMAL.fullmatch(value):
        return 0.0
    q = float(value)
    return q if q <= 1.0 else 0.0


def _parse_accept(header: str) -> list[tuple[float, int, int, str]]:
    """(q, specificity rank, position, media type), best first."""
    ranked = [
        (q, _PREFERENCE.get(media, 3), position, media)
        for position, (media, q) in enumerate(_weighted(header, _lenient_q))
    ]
    ranked.sort(key=lambda item: (-item[0], item[1], item[2]))
    return ranked


def choose_content_type(accept: str | None, format_param: str | None = None) -> str:
    """The media type to answer with; ``NoAcceptableFormat`` when none we serve is acceptable."""
    if format_param:
        chosen = _ALIASES.get(format_param.strip().lower())
        if chosen is None:
            raise NoAcceptableFormat(
                f"format={format_param!r} is not served; use one of {', '.join(_ALIASES)}"
            )
        return chosen
    if not accept or not accept.strip():
        return _DEFAULT
    ranked = _parse_accept(accept)
    # a type refused with q=0 stays refused even when a wildcard would admit it
    refused = {_ALIASES[media] for q, _r, _p, media in ranked if q <= 0 and media in _ALIASES}
    for q, _rank, _pos, media in ranked:
        if q <= 0:
            continue
        if media in _ALIASES and _ALIASES[media] not in refused:
            return _ALIASES[media]
        wildcard = _WILDCARDS.get(media)
        if wildcard is not None:
            for candidate in wildcard:
                if candidate not in refused:
                    return candidate
    raise NoAcceptableFormat(
        f"none of the media types in Accept: {accept!r} is served; use one of {', '.join(_ALIASES)}"
    )


def accepts_gzip(header: str | None) -> bool:
    """Whether to send a page gzipped (RFC 9110 §12.5.3).

    gzip (or x-gzip) named with q > 0 accepts it, and so does ``*`` with q > 0 when gzip
    is not named: the exact coding beats the wildcard. Any refusal (q=0, or an invalid
    q) of a name wins over an acceptance of the same name, as for Accept. No header, or
    an empty one, means no gzip: the page then goes out as is (identity is always sent
    when gzip is not, so ``identity;q=0`` changes nothing here). The weights only say
    yes or no: gzip is the one coding we have, and a client that accepts it gets it.
    """
    if not header:
        return False
    named: list[float] = []
    wildcard: list[float] = []
    for coding, q in _weighted(header, _strict_q):
        if coding in _GZIP:
            named.append(q)
        elif coding == "*":
            wildcard.append(q)
    weights = named or wildcard
    return bool(weights) and min(weights) > 0
