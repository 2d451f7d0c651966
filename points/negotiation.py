"""Pick a stream's format (`?format=` or Accept) and content coding (Accept-Encoding, RFC 9110 §12.5.3)."""

from __future__ import annotations

from points.arrow import CONTENT_TYPE as ARROW_TYPE
from points.batches import Coding, Format, StreamForm

#: codings offered, best first (zstd: smaller and several times faster to decode than gzip)
CODINGS = (Coding.ZSTD, Coding.GZIP)
_ALIASES = {"x-gzip": "gzip"}
#: the media types that ask for each format (Accept), in the order that breaks ties
_FORMAT_TYPES = (
    (Format.NDJSON, ("application/x-ndjson", "application/ndjson")),
    (Format.ARROW, (ARROW_TYPE,)),
    (Format.CSV, ("text/csv",)),
    (Format.GEOJSON, ("application/geo+json",)),
)
# The weight of identity when the client does not name it (acceptable, never preferred).
_LAST_RESORT = 1e-6


class NotAcceptable(Exception):
    """The request excludes every representation the server has (HTTP 406)."""


class UnknownFormat(ValueError):
    """`?format=` names no format (HTTP 400)."""


def _weights(header: str) -> dict[str, float]:
    """Return {token: q} of a comma-separated header with q parameters (last one wins)."""
    weights: dict[str, float] = {}
    for item in header.split(","):
        token, *params = (part.strip() for part in item.split(";"))
        if not token:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0  # an unreadable weight accepts nothing
        token = token.lower()
        weights[_ALIASES.get(token, token)] = q
    return weights


def choose_coding(accept_encoding: str | None) -> Coding:
    """Return the coding to send for an Accept-Encoding header (None: the header is absent).

    The highest q wins, ties go to zstd, then gzip, then identity. Identity is acceptable unless
    it is given q=0, or `*;q=0` without identity named; when not named at all it is the last
    resort, below any coding the client lists. Raise NotAcceptable when nothing is acceptable.
    """
    if accept_encoding is None:
        return Coding.IDENTITY
    weights = _weights(accept_encoding)
    star = weights.get("*")
    scores: list[tuple[float, Coding]] = []
    for coding in CODINGS:
        scores.append((weights.get(coding.value, star or 0.0), coding))
    identity = weights.get("identity", _LAST_RESORT if star is None else star)
    scores.append((identity, Coding.IDENTITY))
    q, best = max(scores, key=lambda s: s[0])  # max keeps the first of equal scores
    if q <= 0:
        offered = ", ".join([c.value for c in CODINGS] + ["identity"])
        raise NotAcceptable(f"Accept-Encoding excludes every coding this stream has ({offered})")
    return best


def choose_format(query: str | None, accept: str | None) -> Format:
    """Return the format asked for by `?format=` (first) or the Accept header; NDJSON by default.

    Of the types Accept names (application/x-ndjson or application/ndjson, the Arrow stream type,
    text/csv, application/geo+json), the one of highest q wins, ties in that order; when it names
    none of them with q > 0 (`*/*` alone, say), NDJSON.
    """
    if query is not None:
        try:
            return Format(query.strip().lower())
        except ValueError:
            known = ", ".join(f.value for f in Format)
            raise UnknownFormat(f"unknown format {query[:40]!r}; use one of: {known}") from None
    if not accept:
        return Format.NDJSON
    weights = _weights(accept)
    scores = [(max(weights.get(t, 0.0) for t in types), form) for form, types in _FORMAT_TYPES]
    q, best = max(scores, key=lambda s: s[0])  # max keeps the first of equal scores
    return best if q > 0 else Format.NDJSON


def choose_form(*, query_format: str | None, accept: str | None, accept_encoding: str | None) -> StreamForm:
    """Return the stream form for a request's parameters (raise UnknownFormat or NotAcceptable)."""
    return StreamForm(choose_format(query_format, accept), choose_coding(accept_encoding))
