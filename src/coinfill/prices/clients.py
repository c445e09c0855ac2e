"""The price collector's clients, built once per run from the settings."""

from __future__ import annotations

from coinfill.prices.collect import Clients
from coinfill.secrets import optional_secret
from coinfill.settings import Settings
from coinfill.sources.binance import BinanceClient
from coinfill.sources.binance_weight import WeightBudget
from coinfill.sources.coingecko import CoinGeckoClient
from coinfill.sources.ratelimit import global_limit, make_limiter


def make_clients(settings: Settings) -> Clients:
    """Binance (paced by its weight budget, shared through Prefect's global limit when the
    server has one) and CoinGecko (with a key when one is configured)."""
    mode = settings.rate_limiter
    weight = settings.binance_weight_per_minute
    shared = global_limit("binance", weight / 60.0, mode, burst=weight)
    budget = WeightBudget(weight, base=shared)
    key = optional_secret(
        block=settings.coingecko_api_key_block,
        credential=(settings.credentials_block, "coingecko_api_key"),
        env=settings.coingecko_api_key,
    )
    limiter = make_limiter("coingecko", settings.coingecko_requests_per_minute / 60.0, mode)
    timeout = settings.price_timeout_seconds
    return Clients(
        BinanceClient(settings.binance_base_url, budget, timeout=timeout),
        CoinGeckoClient(settings.coingecko_base_url, limiter, api_key=key, timeout=timeout),
    )
