"""The whole schema of DESIGN §3 as SQLAlchemy Core tables.

Names and columns are those of the system coinfill replaces, so its databases, dashboards and
runbook queries keep working. Timestamps are naive UTC. Every table has a surrogate ``id``
(the old tables had one) and a unique natural key that the upsert path relies on.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# BigInteger autoincrement ids must stay INTEGER on SQLite to alias the rowid.
Id = BigInteger().with_variant(Integer(), "sqlite")


def _id() -> Column[int]:
    return Column("id", Id, primary_key=True, autoincrement=True)


def _audit() -> list[Column[Any]]:
    # Set explicitly by the upsert path: MySQL's upsert ignores Python-side onupdate.
    return [Column("created_at", DateTime()), Column("updated_at", DateTime())]


def _changes_index(table: str) -> Index:
    # The feature table's refresh reads "rows changed since" each source table it joins.
    return Index(f"ix_{table}_updated_at", "updated_at")


def _values(*names: str) -> list[Column[Any]]:
    return [Column(name, Double) for name in names]


crypto_assets = Table(
    "crypto_assets",
    metadata,
    _id(),
    Column("symbol", String(32), nullable=False),
    Column("name", String(128)),
    Column("is_active", Boolean, nullable=False, default=True),
    Column("coingecko_id", String(128)),
    Column("binance_symbol", String(32)),
    Column("coinmetrics_id", String(32)),
    Column("messari_id", String(64), comment="Messari asset key (used only with a key)"),
    # Learned by the price collector: a gap before it is not missing, the source has nothing.
    Column("price_history_start", DateTime, comment="earliest bar the price source has"),
    *_audit(),
    UniqueConstraint("symbol", name="uq_crypto_assets_symbol"),
)

price_data_real = Table(
    "price_data_real",
    metadata,
    _id(),
    Column("symbol", String(32), nullable=False),
    Column("timestamp", BigInteger, nullable=False, comment="unix milliseconds, UTC"),
    Column("timestamp_iso", DateTime),
    *_values("current_price", "high_24h", "low_24h", "volume_usd_24h"),
    Column("data_source", String(32)),
    *_audit(),
    UniqueConstraint("symbol", "timestamp", name="uq_price_data_real_symbol_timestamp"),
    _changes_index("price_data_real"),
)

TECHNICAL_COLUMNS = (
    "sma_20",
    "sma_50",
    "rsi_14",
    "macd",
    "macd_signal",
    "macd_histogram",
    "bollinger_upper",
    "bollinger_middle",
    "bollinger_lower",
)

technical_indicators = Table(
    "technical_indicators",
    metadata,
    _id(),
    Column("symbol", String(32), nullable=False),
    Column("timestamp_iso", DateTime, nullable=False),
    *_values("current_price", *TECHNICAL_COLUMNS),
    *_audit(),
    UniqueConstraint("symbol", "timestamp_iso", name="uq_technical_indicators_symbol_ts"),
    _changes_index("technical_indicators"),
)

macro_indicators = Table(
    "macro_indicators",
    metadata,
    _id(),
    Column("indicator_name", String(64), nullable=False),
    Column("indicator_date", Date, nullable=False, comment="observation date"),
    Column("value", Double, comment="latest value FRED has for the date"),
    Column("first_value", Double, comment="the value as first released"),
    Column("series_id", String(64)),
    Column("units", String(32)),
    Column("frequency", String(16)),
    Column("data_source", String(32)),
    # Point-in-time (coinfill.macro.rows): first release known at, latest value known at.
    Column("published_at", DateTime),
    Column("value_known_at", DateTime),
    Column("missing_at_source", Boolean, comment="FRED lists the date as '.' (a holiday)"),
    *_audit(),
    UniqueConstraint("indicator_name", "indicator_date", name="uq_macro_indicators_name_date"),
    _changes_index("macro_indicators"),
)

# Where each on-chain value came from ("coinmetrics", "blockchain.info", "messari"): a series may
# use a fallback source on some days, and a reader must see which definition a value follows.
ONCHAIN_SOURCE_COLUMNS = (
    "active_addresses_source",
    "transaction_count_source",
    "exchange_net_flow_source",
)

crypto_onchain_data = Table(
    "crypto_onchain_data",
    metadata,
    _id(),
    Column("symbol", String(32), nullable=False),
    Column("metric_date", Date, nullable=False, comment="UTC day the metrics describe"),
    Column("timestamp_iso", DateTime),
    *_values(
        "active_addresses_24h",
        "transaction_count_24h",
        "exchange_net_flow_24h",
        "price_volatility_7d",
    ),
    # Row summary kept for old readers; the per-metric columns below are authoritative.
    Column("data_source", String(32)),
    Column("available_at", DateTime, comment="when the day's values could first be read"),
    *(Column(name, String(32)) for name in ONCHAIN_SOURCE_COLUMNS),
    *_audit(),
    UniqueConstraint("symbol", "metric_date", name="uq_crypto_onchain_data_symbol_date"),
    _changes_index("crypto_onchain_data"),
)

# What each free source can serve, per asset and metric, as its catalogue said when last asked:
# the honest denominator of on-chain coverage (an asset-day no free source has is not missing).
onchain_availability = Table(
    "onchain_availability",
    metadata,
    _id(),
    Column("symbol", String(32), nullable=False),
    Column("metric", String(64), nullable=False, comment="crypto_onchain_data column"),
    Column("source", String(32), nullable=False),
    Column("first_date", Date),
    Column("last_date", Date),
    Column("status", String(16), nullable=False, comment="available | forbidden | unknown"),
    Column("detail", String(255)),
    Column("checked_at", DateTime),
    UniqueConstraint("symbol", "metric", "source", name="uq_onchain_availability"),
)

ONCHAIN_VIEW = "onchain_metrics"

news_articles = Table(
    "news_articles",
    metadata,
    _id(),
    Column("url_hash", String(64), nullable=False, comment="sha256 of the canonical URL"),
    Column("url", Text, nullable=False),
    Column("source", String(128)),
    Column("title", Text),
    Column("summary", Text),
    Column("language", String(8)),
    Column("published_at", DateTime),
    Column("symbols", String(512), comment="comma-separated symbols the article mentions"),
    Column("sentiment_score", Double),
    Column("sentiment_label", String(16)),
    Column("sentiment_confidence", Double),
    Column("sentiment_model", String(128)),
    Column("sentiment_model_version", String(64)),
    Column("scored_at", DateTime),
    Column(
        "sentiment_skipped",
        String(64),
        comment="why the model named in sentiment_model cannot score it (language, no text); "
        "NULL when it can: a skipped article is not eligible for coverage",
    ),
    Column("feed", String(128), comment="the feed or API the article was collected from"),
    *_audit(),
    UniqueConstraint("url_hash", name="uq_news_articles_url_hash"),
    _changes_index("news_articles"),
    Index("ix_news_articles_published_at", "published_at"),
)

news_feed_state = Table(
    "news_feed_state",
    metadata,
    _id(),
    Column("feed", String(128), nullable=False),
    Column("url", Text, nullable=False),
    Column("etag", String(512), comment="the feed's last ETag: the next GET is conditional"),
    Column("last_modified", String(64)),
    Column("fetched_at", DateTime),
    Column("status", String(32), comment="ok, not modified, malformed or failed"),
    Column("message", Text),
    *_audit(),
    UniqueConstraint("feed", name="uq_news_feed_state_feed"),
)

MACRO_FEATURES = (
    "unemployment_rate",
    "inflation_rate",
    "gdp_growth",
    "fed_funds_rate",
    "treasury_10y",
    "vix",
    "dollar_index",
    "gold_price",
    "oil_price",
)

FEATURE_VALUE_COLUMNS = (
    "current_price",
    "high_24h",
    "low_24h",
    "volume_usd_24h",
    "return_1h",
    "return_4h",
    "return_24h",
    "return_7d",
    "volatility_24h",
    "volatility_7d",
    *TECHNICAL_COLUMNS,
    "price_to_sma_20",
    "price_to_sma_50",
    "sma_20_to_sma_50",
    "bollinger_percent_b",
    "bollinger_width",
    *MACRO_FEATURES,
    *(f"{name}_age_hours" for name in MACRO_FEATURES),
    "active_addresses_24h",
    "transaction_count_24h",
    "exchange_net_flow_24h",
    "price_volatility_7d",
    "sentiment_mean_24h",
    "sentiment_count_24h",
    "sentiment_positive_share_24h",
    "sentiment_confidence_mean_24h",
)

ml_features_materialized = Table(
    "ml_features_materialized",
    metadata,
    _id(),
    Column("symbol", String(32), nullable=False),
    Column("timestamp_iso", DateTime, nullable=False),
    *_values(*FEATURE_VALUE_COLUMNS),
    Column("onchain_data_source", String(32)),
    *(Column(name, String(32)) for name in ONCHAIN_SOURCE_COLUMNS),
    Column("hour_of_day", Integer),
    Column("day_of_week", Integer),
    Column("day_of_month", Integer),
    Column("month", Integer),
    Column("is_weekend", Boolean),
    # Bit i set: coinfill.features.catalog.MEASURED[i] can have a value in this row (coverage).
    Column("eligible_mask", BigInteger),
    *_audit(),
    UniqueConstraint("symbol", "timestamp_iso", name="uq_ml_features_symbol_ts"),
)

# What the feature table's incremental refresh has seen of each source table: the newest
# ``updated_at`` and how many rows carried it (a collector still committing rows stamped with
# that same time is noticed by the count), plus a snapshot for tables without a usable stamp.
feature_refresh_state = Table(
    "feature_refresh_state",
    metadata,
    _id(),
    Column("source_table", String(64), nullable=False),
    Column("watermark", DateTime),
    Column("at_watermark", BigInteger),
    Column("snapshot", Text),
    Column("refreshed_at", DateTime),
    UniqueConstraint("source_table", name="uq_feature_refresh_state_source"),
)

coverage_history = Table(
    "coverage_history",
    metadata,
    _id(),
    Column("run_id", String(64), nullable=False),
    Column("flow_name", String(64), nullable=False),
    Column("table_name", String(64), nullable=False),
    Column("column_name", String(64), nullable=False),
    Column("window_start", DateTime),
    Column("window_end", DateTime),
    Column("phase", String(8), nullable=False, comment="before | after"),
    Column("total", BigInteger, nullable=False),
    Column("eligible", BigInteger, nullable=False),
    Column("non_null", BigInteger, nullable=False),
    Column("percent", Double),
    Column("target", Double),
    Column("passed", Boolean),
    Column("measured_at", DateTime, nullable=False),
    UniqueConstraint(
        "run_id", "table_name", "column_name", "phase", name="uq_coverage_history_run_col"
    ),
)
