"""The macro collector's FRED client, built once per run from the settings."""

from __future__ import annotations

from coinfill.secrets import resolve_secret
from coinfill.settings import Settings
from coinfill.sources.fred import FredClient
from coinfill.sources.ratelimit import make_limiter


def make_fred_client(settings: Settings) -> FredClient:
    """FRED with its key (Secret block → credentials block → env) at ≤ 1 request/s, shared
    through Prefect's global limit ``fred`` when the server has one."""
    api_key = resolve_secret(
        "FRED API key",
        block=settings.fred_api_key_block,
        credential=(settings.credentials_block, "fred_api_key"),
        env=settings.fred_api_key,
        env_name="COINFILL_FRED_API_KEY",
    )
    limiter = make_limiter("fred", settings.fred_requests_per_second, settings.rate_limiter)
    return FredClient(
        api_key,
        settings.fred_base_url,
        limiter,
        timeout=settings.fred_timeout_seconds,
        key_block=settings.fred_api_key_block,
    )
