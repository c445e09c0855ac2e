"""Reads the feature builder needs, the stored feature rows, and the removal of orphans.

Everything large goes through ``read_frame`` (connectorx on MySQL/PostgreSQL). The price read
takes the window plus a look-back in *time* (7-day returns need the row 168 hours earlier).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, and_, delete, select, tuple_

from coinfill.backfill import to_ms
from coinfill.db.queries import price_rows
from coinfill.db.reads import read_frame
from coinfill.db.schema import (
    ONCHAIN_SOURCE_COLUMNS,
    crypto_onchain_data,
    macro_indicators,
    ml_features_materialized,
    news_articles,
)

F = ml_features_materialized
KEYS = ("symbol", "timestamp_iso")
PRICE_COLUMNS = ("current_price", "high_24h", "low_24h", "volume_usd_24h")
ONCHAIN_VALUE_COLUMNS = (
    "active_addresses_24h",
    "transaction_count_24h",
    "exchange_net_flow_24h",
    "price_volatility_7d",
)
DELETE_BATCH = 1_000


def prices(
    engine: Engine, symbols: Sequence[str], since: datetime | None, end: datetime | None
) -> pd.DataFrame:
    """``id, symbol, timestamp, timestamp_iso`` and the price columns of ``[since, end)``."""
    frame = price_rows(
        engine,
        list(symbols),
        None if since is None else to_ms(since),
        None if end is None else to_ms(end),
        extra=PRICE_COLUMNS[1:],
    )
    return frame.astype(dict.fromkeys(PRICE_COLUMNS, "float64"))


def macro_rows(engine: Engine, names: Sequence[str]) -> pd.DataFrame:
    """Every stored observation of ``names`` with its point-in-time columns."""
    m = macro_indicators
    query = select(
        m.c.indicator_name, m.c.indicator_date, m.c.value, m.c.first_value,
        m.c.published_at, m.c.value_known_at,
    ).where(m.c.indicator_name.in_(list(names)))  # fmt: skip
    frame = read_frame(engine, query)
    frame["observed"] = pd.to_datetime(frame["indicator_date"]).astype("datetime64[us]")
    for col in ("published_at", "value_known_at"):
        frame[col] = pd.to_datetime(frame[col]).astype("datetime64[us]")
    return frame.astype({"value": "float64", "first_value": "float64"})


def onchain_rows(
    engine: Engine, symbols: Sequence[str], since: datetime | None, end: datetime | None
) -> pd.DataFrame:
    """On-chain days of ``symbols`` that can be read in ``[since, end)`` (by day)."""
    o = crypto_onchain_data
    query = select(o.c.symbol, o.c.metric_date, *(o.c[c] for c in ONCHAIN_VALUE_COLUMNS),
                   *(o.c[c] for c in ONCHAIN_SOURCE_COLUMNS), o.c.data_source,
                   ).where(o.c.symbol.in_(list(symbols)))  # fmt: skip
    if since is not None:
        query = query.where(o.c.metric_date >= since.date())
    if end is not None:
        query = query.where(o.c.metric_date <= end.date())
    frame = read_frame(engine, query)
    frame["observed"] = pd.to_datetime(frame["metric_date"]).astype("datetime64[us]")
    return frame.astype({c: "float64" for c in ONCHAIN_VALUE_COLUMNS})


def articles(engine: Engine, since: datetime | None, end: datetime | None) -> pd.DataFrame:
    """Articles published in ``[since, end)``: time, mentioned symbols and their score."""
    n = news_articles
    query = select(n.c.published_at, n.c.symbols, n.c.sentiment_score, n.c.sentiment_label,
                   n.c.sentiment_confidence, n.c.sentiment_skipped,
                   ).where(n.c.published_at.is_not(None))  # fmt: skip
    if since is not None:
        query = query.where(n.c.published_at >= since)
    if end is not None:
        query = query.where(n.c.published_at < end)
    frame = read_frame(engine, query)
    frame["published_at"] = pd.to_datetime(frame["published_at"]).astype("datetime64[us]")
    return frame.astype({"sentiment_score": "float64", "sentiment_confidence": "float64"})


def stored(
    engine: Engine,
    symbols: Sequence[str],
    start: datetime | None,
    end: datetime | None,
    columns: Sequence[str],
) -> pd.DataFrame:
    """Stored feature rows of ``symbols`` in ``[start, end)``: ``columns`` (keys first)."""
    query = select(*(F.c[c] for c in columns)).where(F.c.symbol.in_(list(symbols)))
    if start is not None:
        query = query.where(F.c.timestamp_iso >= start)
    if end is not None:
        query = query.where(F.c.timestamp_iso < end)
    frame = read_frame(engine, query)
    frame["timestamp_iso"] = pd.to_datetime(frame["timestamp_iso"]).astype("datetime64[us]")
    return frame


def delete_rows(engine: Engine, keys: pd.DataFrame) -> int:
    """Delete feature rows by ``(symbol, timestamp_iso)``; returns how many were removed."""
    removed = 0
    pairs = [(str(s), pd.Timestamp(t).to_pydatetime()) for s, t in keys[list(KEYS)].itertuples(
        index=False)]  # fmt: skip
    with engine.begin() as conn:
        for i in range(0, len(pairs), DELETE_BATCH):
            part = pairs[i : i + DELETE_BATCH]
            result = conn.execute(
                delete(F).where(and_(tuple_(F.c.symbol, F.c.timestamp_iso).in_(part)))
            )
            removed += int(result.rowcount or 0)
    return removed
