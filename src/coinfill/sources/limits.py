"""The global concurrency limit of each provider: one place for the rates of DESIGN §8.

Terraform creates the same limits in production (``infra/terraform/concurrency.tf``; a test
holds the two equal); ``make up`` creates them on the local stack. A limit of ``slots`` with
``slot_decay_per_second`` = rate lets a burst of ``slots`` through, then ``rate`` per second.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProviderLimit:
    slots: int
    slot_decay_per_second: float
    why: str


PROVIDER_LIMITS: dict[str, ProviderLimit] = {
    "fred": ProviderLimit(1, 1.0, "FRED: at most ~1 request per second"),
    "binance": ProviderLimit(6000, 100.0, "Binance: 6,000 request weight per minute per IP"),
    "coingecko": ProviderLimit(1, 10 / 60, "CoinGecko keyless: ~10 calls per minute"),
    "coinmetrics": ProviderLimit(10, 10 / 6, "CoinMetrics community: 10 requests per 6 s"),
    "blockchain-info": ProviderLimit(1, 0.1, "blockchain.com: one request per 10 s"),
    "messari": ProviderLimit(1, 20 / 60, "Messari free key: ~20 requests per minute"),
    "news-feeds": ProviderLimit(1, 2.0, "publishers' feeds: 2 requests per second in all"),
    "newsapi": ProviderLimit(1, 1.0, "NewsAPI.org: 1 request per second (100 a day on free)"),
}
