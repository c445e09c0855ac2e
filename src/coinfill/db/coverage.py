"""Coverage computed in the database: per column, records, eligible rows and non-NULL rows.

Technical coverage is measured against the price rows it should exist for: every valid price
row (``current_price > 0``) in the window is a record, LEFT JOINed to its indicator row; a
column is eligible once the symbol's history is past that column's warm-up. Other tables
count their own rows (every row eligible) until their collectors define eligibility.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Column, Double, Engine, Table, and_, case, func, select
from sqlalchemy.sql import ColumnElement

from coinfill.db.schema import metadata, price_data_real, technical_indicators

TIME_COLUMNS = {
    "price_data_real": "timestamp_iso",
    "technical_indicators": "timestamp_iso",
    "macro_indicators": "indicator_date",
    "crypto_onchain_data": "metric_date",
    "news_articles": "published_at",
    "ml_features_materialized": "timestamp_iso",
}


def _sum(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def technical_counts(
    engine: Engine,
    warmup: dict[str, int],
    start: datetime | None,
    end: datetime | None,
    symbols: Sequence[str] | None = None,
) -> list[tuple[str, int, int, int]]:
    """``(column, records, eligible, non_null)`` for each technical column."""
    p, t = price_data_real, technical_indicators
    position = func.row_number().over(partition_by=p.c.symbol, order_by=p.c.timestamp)
    base = select(p.c.symbol, p.c.timestamp_iso, position.label("rn")).where(p.c.current_price > 0)
    if symbols:
        base = base.where(p.c.symbol.in_(symbols))
    b = base.subquery("b")
    joined = b.outerjoin(t, and_(t.c.symbol == b.c.symbol, t.c.timestamp_iso == b.c.timestamp_iso))
    measures: list[ColumnElement[int]] = [func.count().label("records")]
    for column, skip in warmup.items():
        eligible = b.c.rn > skip
        measures.append(_sum(eligible).label(f"e_{column}"))
        measures.append(_sum(and_(eligible, t.c[column].is_not(None))).label(f"n_{column}"))
    query = select(*measures).select_from(joined)
    if start is not None:
        query = query.where(b.c.timestamp_iso >= start)
    if end is not None:
        query = query.where(b.c.timestamp_iso < end)
    with engine.connect() as conn:
        row = conn.execute(query).one()._mapping
    return [
        (column, int(row["records"]), int(row[f"e_{column}"]), int(row[f"n_{column}"]))
        for column in warmup
    ]


def table_counts(
    engine: Engine, table_name: str, start: datetime | None, end: datetime | None
) -> list[tuple[str, int, int, int]]:
    """``(column, records, eligible, non_null)`` for each value column; every row eligible."""
    table: Table = metadata.tables[table_name]
    values: list[Column[object]] = [c for c in table.columns if isinstance(c.type, Double)]
    query = select(func.count().label("records"), *(func.count(c).label(c.name) for c in values))
    time_column = table.c[TIME_COLUMNS[table_name]]
    if start is not None:
        query = query.where(time_column >= start)
    if end is not None:
        query = query.where(time_column < end)
    with engine.connect() as conn:
        row = conn.execute(query).one()._mapping
    records = int(row["records"])
    return [(c.name, records, records, int(row[c.name])) for c in values]
