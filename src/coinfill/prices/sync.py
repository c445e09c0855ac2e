"""``coinfill assets sync``: the registry's Binance pairs checked against ``exchangeInfo``.

Three findings: a registered pair Binance no longer trades (status other than ``TRADING``, or
gone), an asset without a pair for which ``<SYMBOL>USDT`` trades (it could use Binance), and
the pairs that are fine. With ``apply`` the first lose their pair (they fall back to CoinGecko
when they have an id) and the second gain one; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

QUOTE = "USDT"


@dataclass
class SyncReport:
    not_trading: dict[str, str] = field(default_factory=dict)  # symbol → "PAIR (status)"
    can_use: dict[str, str] = field(default_factory=dict)  # symbol → pair
    ok: int = 0

    def lines(self) -> list[str]:
        out = [f"{self.ok} registered pairs trade on Binance"]
        out += [f"  {s}: {why} — not trading" for s, why in sorted(self.not_trading.items())]
        out += [
            f"  {s}: {pair} trades — not registered" for s, pair in sorted(self.can_use.items())
        ]
        return out

    def changes(self) -> dict[str, str | None]:
        """Binance pair per symbol when applying (``None`` removes the pair)."""
        return {**dict.fromkeys(self.not_trading), **self.can_use}


def compare(assets: pd.DataFrame, statuses: Mapping[str, str]) -> SyncReport:
    """``assets``: registry rows (symbol, binance_symbol, is_active); ``statuses``: pair →
    status from exchangeInfo."""
    report = SyncReport()
    for row in assets.itertuples(index=False):
        # Empty ids come back from the database as None or NaN.
        symbol = str(row.symbol)
        pair = row.binance_symbol if isinstance(row.binance_symbol, str) else ""
        if pair:
            status = statuses.get(pair)
            if status == "TRADING":
                report.ok += 1
            else:
                report.not_trading[symbol] = f"{pair} ({status or 'not listed'})"
        elif statuses.get(symbol + QUOTE) == "TRADING" and bool(row.is_active):
            report.can_use[symbol] = symbol + QUOTE
    return report
