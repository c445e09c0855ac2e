"""API credentials as one Prefect Block (each key encrypted); every key is optional."""

from __future__ import annotations

from typing import ClassVar

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

CREDENTIALS_DOCUMENT = "coinfill-credentials"
# Block field → the COINFILL_* setting it stands in for.
FIELDS = {
    "fred_api_key": "fred_api_key",
    "coingecko_api_key": "coingecko_api_key",
    "messari_api_key": "messari_api_key",
    "newsapi_key": "newsapi_key",
}


class CoinfillApiCredentials(Block):
    """Keys of the data providers. FRED needs one; the others only raise limits or add sources."""

    _block_type_name: ClassVar[str] = "coinfill api credentials"
    _block_type_slug: ClassVar[str] = "coinfill-api-credentials"
    _description: ClassVar[str] = (
        "API keys for FRED, CoinGecko, Messari and NewsAPI.org, stored encrypted."
    )

    fred_api_key: SecretStr | None = Field(default=None, description="FRED (macro-indicators)")
    coingecko_api_key: SecretStr | None = Field(default=None, description="CoinGecko demo key")
    messari_api_key: SecretStr | None = Field(default=None, description="Messari (on-chain)")
    newsapi_key: SecretStr | None = Field(default=None, description="NewsAPI.org (news)")

    def key(self, name: str) -> str | None:
        value = getattr(self, name, None)
        return value.get_secret_value() if isinstance(value, SecretStr) and value else None
