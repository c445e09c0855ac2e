"""Settings, read once from the environment (prefix ``COINFILL_``) or a ``.env`` file.

Call :func:`load_settings` at an entry point (a flow, the CLI) and pass the object down;
nothing below an entry point reads ``os.environ``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from coinfill.errors import ConfigurationError

DEFAULT_DATABASE_URL = "sqlite:///data/coinfill.db"
# Crypto newsrooms' public RSS feeds (name → URL); COINFILL_NEWS_FEEDS replaces the list.
DEFAULT_NEWS_FEEDS = {
    "coindesk": "https://www.coindesk.com/arc/outboundfeeds/rss/",
    "cointelegraph": "https://cointelegraph.com/rss",
    "decrypt": "https://decrypt.co/feed",
    "bitcoinmagazine": "https://bitcoinmagazine.com/.rss/full/",
    "theblock": "https://www.theblock.co/rss.xml",
    "cryptoslate": "https://cryptoslate.com/feed/",
    "blockworks": "https://blockworks.co/feed",
}


class Settings(BaseSettings):
    """Everything coinfill can be told from outside. Each field is ``COINFILL_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="COINFILL_", env_file=".env", extra="ignore", frozen=True
    )

    database_url: SecretStr = Field(
        default=SecretStr(DEFAULT_DATABASE_URL),
        description="SQLAlchemy URL; default is an embedded SQLite file under ./data/.",
    )
    database_block: str = Field(
        default="coinfill-database",
        description="Prefect block (coinfill-database) read before COINFILL_DATABASE_URL.",
    )
    credentials_block: str = Field(
        default="coinfill-credentials",
        description="Prefect block (coinfill-api-credentials) read before the *_API_KEY env.",
    )
    max_assets: int = Field(default=500, ge=1, description="Cap on symbols per run.")
    chunk_symbols: int = Field(
        default=25, ge=1, description="Symbols per chunk for full-history runs (the minimum)."
    )
    chunk_rows: int = Field(
        default=400_000,
        ge=1_000,
        description="Price rows a chunk aims at: short windows put more symbols in a chunk, "
        "so a trailing run is a few tasks, not one per 25 symbols.",
    )
    max_parallel_chunks: int = Field(default=2, ge=1, le=16, description="Chunks in flight.")
    chunk_retries: int = Field(default=2, ge=0, description="Prefect retries per chunk.")
    chunk_retry_delay_seconds: float = Field(default=5.0, ge=0)
    lookback_rows: int = Field(
        default=600,
        ge=60,
        description="Price rows loaded before a window's start so EMA-based indicators "
        "(RSI, MACD) equal a full-history computation (500 rows match to ~1e-12).",
    )
    scheduled_days: int = Field(
        default=2, ge=1, description="Trailing window of the scheduled technical run."
    )
    write_method: Literal["auto", "load_data", "statements"] = Field(
        default="auto",
        description="MySQL bulk writes: LOAD DATA LOCAL INFILE when the server allows it "
        "(auto), always (load_data), or batched multi-row statements (statements).",
    )
    analyze_after_rows: int = Field(
        default=100_000, ge=0, description="ANALYZE TABLE after bulk loads of this many rows."
    )
    coverage_targets: dict[str, float] = Field(
        default_factory=dict,
        description="Coverage targets in percent over the suites' defaults, JSON: "
        '{"technical": 99, "macro.VIX": 90} (a table, or table.column).',
    )
    fred_api_key: SecretStr | None = Field(
        default=None,
        description="FRED API key for local runs; production loads the Prefect Secret block "
        "named by COINFILL_FRED_API_KEY_BLOCK first.",
    )
    fred_api_key_block: str = Field(
        default="fred-api-key", description="Prefect Secret block holding the FRED API key."
    )
    fred_base_url: str = Field(default="https://api.stlouisfed.org")
    fred_requests_per_second: float = Field(default=1.0, gt=0, le=10)
    fred_timeout_seconds: float = Field(default=30.0, gt=0)
    rate_limiter: Literal["auto", "local", "prefect"] = Field(
        default="auto",
        description="auto: a Prefect global concurrency limit per provider when the server "
        "has one, else a local token bucket; prefect: require the global limit; local: never.",
    )
    macro_series: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Macro series added to or overriding the built-in catalogue, JSON keyed by "
        'indicator: {"US_M2": {"series_id": "M2SL", "frequency": "monthly", "lag_days": 30}}.',
    )
    macro_scheduled_days: int = Field(
        default=60, ge=1, description="Window of the scheduled (hourly) macro run."
    )
    macro_revision_days: int = Field(
        default=30,
        ge=0,
        description="Beyond its publication lag, how far back a series is re-read each run "
        "because FRED may still revise it.",
    )
    binance_base_url: str = Field(
        default="https://data-api.binance.vision",
        description="Binance market data; api.binance.com answers 451 in some regions.",
    )
    binance_weight_per_minute: int = Field(
        default=6000,
        ge=10,
        description="Request weight this process may spend per minute (Binance allows 6,000 "
        "per IP; lower it when other programs on the same IP use Binance too).",
    )
    coingecko_base_url: str = Field(default="https://api.coingecko.com")
    coingecko_api_key: SecretStr | None = Field(
        default=None, description="Optional CoinGecko demo key (sent as x-cg-demo-api-key)."
    )
    coingecko_api_key_block: str = Field(
        default="coingecko-api-key", description="Prefect Secret block with the CoinGecko key."
    )
    coingecko_requests_per_minute: float = Field(
        default=10.0,
        gt=0,
        le=10_000,
        description="CoinGecko's keyless tier allows roughly 5-15 calls/min, a demo key 30.",
    )
    price_interval: str = Field(default="1h", description="Bar interval of the price flow.")
    price_timeout_seconds: float = Field(default=30.0, gt=0)
    price_fetch_workers: int = Field(
        default=8, ge=1, le=64, description="Threads fetching symbols within a chunk."
    )
    price_chunk_symbols: int = Field(
        default=50, ge=1, description="Symbols per Prefect task of the price flow."
    )
    price_batch_rows: int = Field(
        default=100_000, ge=1_000, description="Bars per database write of the price flow."
    )
    prices_scheduled_days: int = Field(
        default=2, ge=1, description="Window of the scheduled (15-minute) price run."
    )
    coinmetrics_base_url: str = Field(default="https://community-api.coinmetrics.io")
    coinmetrics_requests_per_6s: int = Field(
        default=10, ge=1, le=1000, description="CoinMetrics community tier: 10 per 6 s per IP."
    )
    coinmetrics_assets_per_request: int = Field(
        default=20, ge=1, le=200, description="Assets asked in one CoinMetrics request."
    )
    coinmetrics_page_size: int = Field(default=10_000, ge=100, le=10_000)
    blockchain_info_base_url: str = Field(default="https://api.blockchain.info")
    blockchain_info_seconds_per_request: float = Field(
        default=10.0, gt=0, description="blockchain.com asks for at most one request per 10 s."
    )
    messari_base_url: str = Field(default="https://data.messari.io")
    messari_api_key: SecretStr | None = Field(
        default=None, description="Messari key; without one Messari is not used (keyless = 401)."
    )
    messari_api_key_block: str = Field(
        default="messari-api-key", description="Prefect Secret block with the Messari key."
    )
    messari_requests_per_minute: float = Field(default=20.0, gt=0, le=1000)
    onchain_timeout_seconds: float = Field(default=60.0, gt=0)
    onchain_scheduled_days: int = Field(
        default=7, ge=1, description="Window of the scheduled (4-hourly) on-chain run."
    )
    unavailable_recheck_days: int = Field(
        default=7,
        ge=0,
        description="Days a series a provider's tier refused (CoinMetrics 403) is not asked "
        "again; then it is re-checked.",
    )
    onchain_fallback_after_days: int = Field(
        default=2,
        ge=1,
        description="Days CoinMetrics gets to publish a day before blockchain.info fills it.",
    )
    gold_symbol: str = Field(
        default="PAXG",
        pattern=r"^[A-Z0-9][A-Z0-9._-]{0,31}$",
        description="Tokenised-gold asset whose price fills the feature table's gold_price.",
    )
    features_chunk_symbols: int = Field(
        default=20, ge=1, description="Symbols per chunk of a full feature rebuild."
    )
    features_chunk_rows: int = Field(
        default=150_000,
        ge=1_000,
        description="Feature rows a chunk aims at (≈ 60 columns each: memory per chunk).",
    )
    news_feeds: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_NEWS_FEEDS),
        description='RSS/Atom feeds, JSON name → URL: {"coindesk": "https://…/rss/"}.',
    )
    news_scheduled_days: int = Field(
        default=2, ge=1, description="Window of the scheduled (15-minute) news run."
    )
    news_timeout_seconds: float = Field(default=30.0, gt=0)
    news_feed_requests_per_second: float = Field(default=2.0, gt=0, le=50)
    newsapi_key: SecretStr | None = Field(
        default=None, description="NewsAPI.org key; without one only the feeds are read."
    )
    newsapi_key_block: str = Field(
        default="newsapi-key", description="Prefect Secret block with the NewsAPI.org key."
    )
    newsapi_base_url: str = Field(default="https://newsapi.org")
    newsapi_query: str = Field(
        default="bitcoin OR ethereum OR crypto OR cryptocurrency OR blockchain",
        description="NewsAPI.org search (q) for the articles to collect.",
    )
    newsapi_max_pages: int = Field(
        default=1, ge=1, le=100, description="Pages of 100 per day (developer plan: 1)."
    )
    newsapi_history_days: int = Field(
        default=30, ge=1, description="How far back the NewsAPI.org plan serves (developer: 30)."
    )
    newsapi_requests_per_second: float = Field(default=1.0, gt=0, le=50)
    sentiment_scorer: Literal["auto", "lexicon", "transformer"] = Field(
        default="auto",
        description="auto: the transformer when a model is configured and installed, else the "
        "offline lexicon scorer.",
    )
    sentiment_model_path: str | None = Field(
        default=None, description="Folder of a FinBERT/CryptoBERT model (never downloaded)."
    )
    sentiment_model_name: str | None = Field(
        default=None,
        description="A model already in the Hugging Face cache, e.g. ProsusAI/finbert.",
    )
    sentiment_model_languages: list[str] = Field(
        default_factory=lambda: ["en"], description="Languages the transformer model reads."
    )
    sentiment_batch_size: int = Field(default=32, ge=1, le=1024)
    local_api_url: str = Field(
        default="http://127.0.0.1:4200/api",
        description="A Prefect server the CLI reports to when PREFECT_API_URL is not set and "
        "one answers here (the `make up` stack); empty: never look, start a temporary one.",
    )
    api_startup_timeout: float = Field(
        default=90.0,
        gt=0,
        description="Seconds the CLI's temporary Prefect server gets to answer (idle ~5 s; "
        "Prefect's own 20 s is missed on a loaded 2-core machine).",
    )
    demo_data_dir: Path | None = Field(
        default=None, description="Override the bundled demo price files (tests)."
    )


def load_settings(**overrides: object) -> Settings:
    """Read settings once; turn pydantic's validation errors into one clear message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"COINFILL_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigurationError(f"invalid coinfill settings: {problems}") from None
