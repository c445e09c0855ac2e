"""Read queries of the technical backfill: assets, price history, stored indicator rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, func, select, union

from coinfill.db.reads import read_frame
from coinfill.db.schema import (
    TECHNICAL_COLUMNS,
    crypto_assets,
    price_data_real,
    technical_indicators,
)

P = price_data_real
T = technical_indicators


def active_symbols(engine: Engine, limit: int) -> list[str]:
    """Active assets of the registry; with an empty registry, every symbol that has prices."""
    with engine.connect() as conn:
        registered = conn.execute(select(func.count()).select_from(crypto_assets)).scalar_one()
        if registered:
            query = (
                select(crypto_assets.c.symbol)
                .where(crypto_assets.c.is_active.is_(True))
                .order_by(crypto_assets.c.symbol)
            )
        else:
            query = select(P.c.symbol).distinct().order_by(P.c.symbol)
        return [row[0] for row in conn.execute(query.limit(limit))]


def known_symbols(engine: Engine, symbols: Sequence[str]) -> set[str]:
    """Those of ``symbols`` that are in the registry or have price rows."""
    query = union(
        select(crypto_assets.c.symbol).where(crypto_assets.c.symbol.in_(symbols)),
        select(P.c.symbol).where(P.c.symbol.in_(symbols)).distinct(),
    )
    with engine.connect() as conn:
        return {row[0] for row in conn.execute(query)}


def price_rows(
    engine: Engine,
    symbols: Sequence[str],
    since_ms: int | None,
    end_ms: int | None,
    extra: Sequence[str] = (),
) -> pd.DataFrame:
    """``id, symbol, timestamp, timestamp_iso, current_price`` and ``extra`` columns for
    ``[since, end)``."""
    columns = [P.c.id, P.c.symbol, P.c.timestamp, P.c.timestamp_iso, P.c.current_price]
    query = select(*columns, *(P.c[c] for c in extra)).where(P.c.symbol.in_(symbols))
    if since_ms is not None:
        query = query.where(P.c.timestamp >= since_ms)
    if end_ms is not None:
        query = query.where(P.c.timestamp < end_ms)
    frame = read_frame(engine, query)
    return with_timestamp_iso(frame)


def with_timestamp_iso(frame: pd.DataFrame) -> pd.DataFrame:
    """Price rows with ``timestamp_iso`` as datetime64[us]; old rows without one get it
    derived from the unix milliseconds."""
    missing_iso = frame["timestamp_iso"].isna()
    if missing_iso.any():
        derived = pd.to_datetime(frame.loc[missing_iso, "timestamp"] // 1000, unit="s")
        frame.loc[missing_iso, "timestamp_iso"] = derived
    frame["timestamp_iso"] = pd.to_datetime(frame["timestamp_iso"]).astype("datetime64[us]")
    return frame


def stored_technical(
    engine: Engine, symbols: Sequence[str], start: datetime | None, end: datetime | None
) -> pd.DataFrame:
    columns = [
        T.c.symbol,
        T.c.timestamp_iso,
        T.c.current_price,
        *(T.c[c] for c in TECHNICAL_COLUMNS),
    ]
    query = select(*columns).where(T.c.symbol.in_(symbols))
    if start is not None:
        query = query.where(T.c.timestamp_iso >= start)
    if end is not None:
        query = query.where(T.c.timestamp_iso < end)
    frame = read_frame(engine, query)
    frame["timestamp_iso"] = pd.to_datetime(frame["timestamp_iso"]).astype("datetime64[us]")
    return frame


def analyze(engine: Engine, table_name: str) -> None:
    """Refresh optimizer statistics after a bulk load (stale ones made MariaDB pick a full
    scan per row for a 330k-row merge, DESIGN §9)."""
    statement = (
        f"ANALYZE TABLE {table_name}"
        if engine.dialect.name in ("mysql", "mariadb")
        else f"ANALYZE {table_name}"
    )
    with engine.begin() as conn:
        conn.exec_driver_sql(statement)
