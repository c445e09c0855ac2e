"""The on-chain sources' clients, each behind its provider's rate limit, and what they can serve.

Rate limits (shared by every run through Prefect global concurrency limits named after the
provider when the server has them, else local to this process):
CoinMetrics 10 requests per 6 s (a sliding window locally), blockchain.info one request per
10 s, Messari 20 a minute (only with a key).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from coinfill.onchain.availability import AssetIds, Availability, blockchain_info, from_catalog
from coinfill.onchain.metrics import MESSARI, METRICS
from coinfill.secrets import optional_secret
from coinfill.settings import Settings
from coinfill.sources.blockchain_info import BlockchainInfoClient
from coinfill.sources.coinmetrics import Catalog, CoinMetricsClient
from coinfill.sources.messari import MessariClient
from coinfill.sources.ratelimit import RateLimiter, global_limit, local_window, make_limiter

ASSUMED = "assumed until Messari is asked"


@dataclass
class OnchainClients:
    coinmetrics: CoinMetricsClient
    blockchain_info: BlockchainInfoClient
    messari: MessariClient | None  # None without a key
    limits: dict[str, str]

    def close(self) -> None:
        self.coinmetrics.http.close()
        self.blockchain_info.http.close()
        if self.messari is not None:
            self.messari.http.close()


def make_clients(settings: Settings) -> OnchainClients:
    mode, timeout = settings.rate_limiter, settings.onchain_timeout_seconds
    per_6s = settings.coinmetrics_requests_per_6s
    cm: RateLimiter | None = global_limit(
        "coinmetrics", per_6s / 6.0, mode, burst=per_6s, fallback="a local sliding window"
    )
    cm = cm or local_window("coinmetrics", per_6s, 6.0)
    every = settings.blockchain_info_seconds_per_request
    bi: RateLimiter | None = global_limit(
        "blockchain-info", 1.0 / every, mode, fallback="a local sliding window"
    )
    bi = bi or local_window("blockchain-info", 1, every)  # with a margin: arrivals jitter
    key = optional_secret(
        block=settings.messari_api_key_block,
        credential=(settings.credentials_block, "messari_api_key"),
        env=settings.messari_api_key,
    )
    messari = None
    if key:
        limiter = make_limiter("messari", settings.messari_requests_per_minute / 60.0, mode)
        messari = MessariClient(key, settings.messari_base_url, limiter, timeout=timeout)
    return OnchainClients(
        CoinMetricsClient(
            settings.coinmetrics_base_url, cm, timeout=timeout,
            page_size=settings.coinmetrics_page_size,
        ),
        BlockchainInfoClient(settings.blockchain_info_base_url, bi, timeout=timeout),
        messari,
        {
            "coinmetrics": cm.describe(),
            "blockchain.info": bi.describe(),
            "messari": messari.http.limiter.describe() if messari else "not used (no key)",
        },
    )  # fmt: skip


def availability(
    clients: OnchainClients, assets: Sequence[AssetIds], today: date
) -> tuple[list[Availability], Catalog]:
    """Ask CoinMetrics' catalogue for the assets with an id; add blockchain.info's fixed span and,
    with a Messari key, Messari for the series no free source serves (assumed until asked)."""
    ids = sorted({(a.coinmetrics_id or "").lower() for a in assets} - {""})
    catalog = clients.coinmetrics.catalog(ids) if ids else Catalog()
    entries = from_catalog(assets, catalog) + blockchain_info(assets, today)
    if clients.messari is not None:
        entries += messari_assumed(entries, assets, today)
    return entries, catalog


def messari_assumed(
    entries: Sequence[Availability], assets: Sequence[AssetIds], today: date
) -> list[Availability]:
    free = {(e.symbol, e.metric) for e in entries if e.first is not None}
    since = today - timedelta(days=5000)  # Messari's point cap: it cannot have more in one go
    return [
        Availability(a.symbol, m.column, MESSARI, since, today - timedelta(days=1), detail=ASSUMED)
        for a in assets
        for m in METRICS
        if m.messari and (a.symbol, m.column) not in free
    ]
