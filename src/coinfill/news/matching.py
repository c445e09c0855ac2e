"""Which registered assets an article mentions: names, tickers and cashtags, carefully.

Tickers and names of the registry collide with English: ``ONE``, ``GAS``, ``NEAR``, ``S``,
"Flow", "Maker", "Optimism". The rules, in order of strength:

- a cashtag (``$SOL``, ``$sol``) always counts;
- a ticker counts in capitals only, on word boundaries, from three characters up, and not when
  it is a word or acronym news writes in capitals (``NOT``, ``ONE``, ``ATH``: ``COMMON_TICKERS``);
- a name counts on word boundaries, case-insensitively ("bitcoin's rally"), unless it is an
  ordinary word ("Flow", "Optimism": ``COMMON_NAMES``), which title-case headlines would match;
- the longest name wins where names overlap: "Bitcoin Cash" is BCH, not BTC as well.

A few well-known aliases ("Ether" for ETH) complete the registry's names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Tickers that are words or acronyms news writes in capitals: matched only as cashtags.
COMMON_TICKERS = frozenset({
    "ACE", "ACT", "ALT", "AMP", "ARC", "ATH", "BAR", "BAT", "BEAM", "BONE", "CAT", "CITY",
    "CORE", "COW", "DATA", "DEEP", "DOGS", "EDU", "ELON", "GAS", "GODS", "GOAT", "HIGH",
    "HOOK", "HOT", "JOE", "LIT", "MASK", "MEME", "MOVE", "NFT", "NOT", "ONE", "PEOPLE",
    "RARE", "RED", "SAFE", "SKI", "SUN", "SUPER", "SYS", "TEL", "THE", "USUAL", "WEN",
    "WIN", "WING",
})  # fmt: skip
# Names that are ordinary words ("the flow of funds", "Gas Fee Cut" in a title-case headline):
# such an asset is matched by its ticker or cashtag only.
COMMON_NAMES = frozenset({
    "amp", "beam", "blur", "celo", "compound", "core", "dash", "flow", "gala", "gas",
    "harmony", "helium", "holo", "immutable", "jupiter", "maker", "movement", "oasis",
    "optimism", "pixels", "portal", "quant", "render", "ronin", "safe", "saga", "sonic",
    "stacks", "story", "turbo", "usual", "omni", "memecoin", "mask network", "dogs", "iota",
})  # fmt: skip
ALIASES: Mapping[str, tuple[str, ...]] = {
    "BTC": ("比特币",),
    "ETH": ("Ether", "以太坊"),
    "XRP": ("Ripple",),
    "BNB": ("Binance Coin",),
    "AVAX": ("Avalanche",),
    "DOGE": ("Dogecoin",),
    "USDT": ("Tether",),
    "USDC": ("USD Coin", "Circle's USDC"),
}
MIN_TICKER = 3
# Word boundaries are ASCII: "ETH净流出" mentions ETH (CJK letters count as \w in Python).
_ALNUM = "A-Za-z0-9_"
_NAME_NOISE = re.compile(r"\s*\(.*?\)\s*")  # "POL (ex-MATIC)" → "POL"


@dataclass(frozen=True)
class _Term:
    text: str
    symbol: str
    folded: bool  # matched in any case (names), else exactly (tickers)


class AssetMatcher:
    """Built once per run from ``crypto_assets`` (symbol → name); ``match`` is pure."""

    def __init__(self, assets: Mapping[str, str | None]) -> None:
        terms: list[_Term] = []
        for symbol, name in assets.items():
            if len(symbol) >= MIN_TICKER and symbol not in COMMON_TICKERS:
                terms.append(_Term(symbol, symbol, folded=False))
            names = [_NAME_NOISE.sub(" ", name or "").strip(), *ALIASES.get(symbol, ())]
            for text in dict.fromkeys(n for n in names if n and n != symbol):
                if len(text) < MIN_TICKER or text.lower() in COMMON_NAMES:
                    continue
                # "TRON" is written "Tron"; a three-letter name in capitals ("OKB") is a ticker.
                terms.append(_Term(text, symbol, folded=not (text.isupper() and len(text) <= 3)))
        self._symbols = {s.upper(): s for s in assets}
        self._exact = {t.text: t.symbol for t in terms if not t.folded}
        self._folded = {t.text.lower(): t.symbol for t in terms if t.folded}
        self._pattern = _pattern(terms)
        tag = r"\$([A-Za-z][A-Za-z0-9]{0,11})"
        self._cashtag = re.compile(rf"(?<![{_ALNUM}$]){tag}(?![{_ALNUM}])")

    def match(self, *texts: str | None) -> list[str]:
        """Symbols mentioned anywhere in ``texts``, sorted."""
        found: set[str] = set()
        for text in texts:
            if not text:
                continue
            found |= {
                self._symbols[m.upper()]
                for m in self._cashtag.findall(text)
                if m.upper() in self._symbols
            }
            if self._pattern is None:
                continue
            for hit in self._pattern.finditer(text):
                word = hit.group(0)
                symbol = self._exact.get(word) or self._folded.get(word.lower())
                if symbol is not None:
                    found.add(symbol)
        return sorted(found)


def _pattern(terms: Iterable[_Term]) -> re.Pattern[str] | None:
    """One alternation, longest first, so the longest term at a position wins whatever its
    kind ("Coinbase Wrapped BTC" is not BTC too); folded terms match in any case."""
    ordered = sorted(terms, key=lambda t: (-len(t.text), t.folded))
    if not ordered:
        return None
    parts = [f"(?i:{re.escape(t.text)})" if t.folded else re.escape(t.text) for t in ordered]
    return re.compile(rf"(?<![{_ALNUM}$])(?:{'|'.join(dict.fromkeys(parts))})(?![{_ALNUM}])")
