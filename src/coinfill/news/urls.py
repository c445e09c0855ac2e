"""Canonical article URLs: one article, one row, however a feed decorated its link.

Publishers append campaign parameters per channel (CoinDesk's RSS links carry
``utm_source=rss``, the same story shared on social media carries ``fbclid``), so the stored
key is the URL with those removed, the scheme and host lower-cased, default ports, fragments
and trailing slashes dropped and the remaining query parameters sorted.
"""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Parameters that say how a reader arrived, never which article it is.
TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "hsa_", "_hs", "oly_")
TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "igshid",
    "mkt_tok", "_ga", "_gl", "ref", "ref_src", "cmpid", "ocid", "ncid", "sr_share", "s_cid",
    "taid", "guccounter", "guce_referrer", "guce_referrer_sig",
})  # fmt: skip
DEFAULT_PORTS = {"http": 80, "https": 443}


class BadUrlError(ValueError):
    """Not an absolute http(s) URL."""


def canonical_url(url: str) -> str:
    """The article's key URL; raises :class:`BadUrlError` for anything but absolute http(s)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise BadUrlError(f"not an absolute http(s) URL: {url[:200]!r}")
    host = parts.hostname.lower().rstrip(".")
    if parts.port is not None and parts.port != DEFAULT_PORTS[scheme]:
        host = f"{host}:{parts.port}"
    path = parts.path or "/"
    if len(path) > 1:
        path = path.rstrip("/")
    kept = sorted(
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if not _tracking(key)
    )
    # http and https of one page are one article; publishers moved to https years ago.
    return urlunsplit(("https", host, path, urlencode(kept), ""))


def url_hash(canonical: str) -> str:
    """The stored key: ``www.`` and the bare domain serve one article."""
    scheme, host, path, query, _ = urlsplit(canonical)
    host = host.removeprefix("www.")
    key = urlunsplit((scheme, host, path, query, ""))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _tracking(key: str) -> bool:
    lowered = key.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)
