"""The two reads of a technical chunk: its price history with look-back, its stored rows.

Measured on MariaDB 10.11 (DESIGN §9 data, 25 symbols = 165k rows per read), the ways these
statements are written matter:

- One ``symbol = …`` term per symbol joined by ``UNION ALL`` reads ~25 % faster than one
  ``symbol IN (…)``: with the IN list the server re-checks every index entry against the
  whole list in the column's collation.
- A window's look-back is one term per symbol, an index range read backwards from the start
  (``ORDER BY timestamp DESC LIMIT n``), all in the statement that reads the window. It
  replaces a first query for the earliest look-back start of all symbols (~1 s for 500
  symbols) and a read from that start for every symbol, which read more rows than needed.
  A symbol with fewer rows before the window gets all of them: a full-history computation.
- On MySQL/MariaDB the same terms first list the rows' ids (from the index alone), and rows
  stored together are then read as id ranges, 3–4x cheaper (:mod:`coinfill.db.pk_reads`).
- Chunks of ``PARALLEL_SYMBOLS`` or more symbols (the one or two chunks of a short window)
  are read as two statements at once: MariaDB runs a statement on one core.

SQLite takes at most 500 terms in a compound SELECT: there, symbols go in groups.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Column, Engine, Select, Table, false, select, union_all

from coinfill.db import pk_reads
from coinfill.db.queries import with_timestamp_iso
from coinfill.db.reads import Statement, read_frames, union_per_symbol
from coinfill.db.schema import TECHNICAL_COLUMNS, price_data_real, technical_indicators

P = price_data_real
T = technical_indicators
PRICE_COLUMNS = ("id", "symbol", "timestamp", "timestamp_iso", "current_price")
STORED_COLUMNS = ("symbol", "timestamp_iso", "current_price", *TECHNICAL_COLUMNS)
PARALLEL_SYMBOLS = 100
SQLITE_SYMBOLS = 200  # two terms per symbol at most: under SQLite's 500

Term = Callable[..., Select[Any]]  # (symbol, columns=…) → that symbol's SELECT


def price_history(
    engine: Engine,
    symbols: Sequence[str],
    start_ms: int | None,
    end_ms: int | None,
    lookback_rows: int,
) -> pd.DataFrame:
    """``id, symbol, timestamp, timestamp_iso, current_price`` of ``symbols`` in
    ``[start, end)`` and, per symbol, its ``lookback_rows`` rows before ``start``."""

    def window(symbol: str, columns: Sequence[Column[Any]]) -> Select[Any]:
        query = select(*columns).where(P.c.symbol == symbol)
        if start_ms is not None:
            query = query.where(P.c.timestamp >= start_ms)
        if end_ms is not None:
            query = query.where(P.c.timestamp < end_ms)
        return query

    def lookback(symbol: str, columns: Sequence[Column[Any]]) -> Select[Any]:
        return (
            select(*columns)
            .where(P.c.symbol == symbol, P.c.timestamp < start_ms)
            .order_by(P.c.timestamp.desc())
            .limit(lookback_rows)
        )

    terms = [window] if start_ms is None else [lookback, window]
    frame = _read(engine, P, PRICE_COLUMNS, symbols, terms)
    return with_timestamp_iso(frame)


def stored_rows(
    engine: Engine,
    symbols: Sequence[str],
    start: datetime | None,
    end: datetime | None,
    expected_rows: int | None = None,
) -> pd.DataFrame:
    """The stored ``technical_indicators`` rows of ``symbols`` in ``[start, end)``.

    ``expected_rows`` (about as many as the window has price rows) skips the id ranges when
    a symbol's rows would be too few to form one: a short window's rows are read directly.
    """

    def stored(symbol: str, columns: Sequence[Column[Any]]) -> Select[Any]:
        query = select(*columns).where(T.c.symbol == symbol)
        if start is not None:
            query = query.where(T.c.timestamp_iso >= start)
        if end is not None:
            query = query.where(T.c.timestamp_iso < end)
        return query

    by_id = expected_rows is None or expected_rows >= pk_reads.MIN_RUN * len(symbols)
    frame = _read(engine, T, ("id", *STORED_COLUMNS), symbols, [stored], by_id=by_id)
    frame = frame.drop(columns="id")
    frame["timestamp_iso"] = pd.to_datetime(frame["timestamp_iso"]).astype("datetime64[us]")
    return frame


def _read(
    engine: Engine,
    table: Table,
    names: Sequence[str],
    symbols: Sequence[str],
    terms: Sequence[Term],
    by_id: bool = True,
) -> pd.DataFrame:
    """Columns ``names`` (``id`` among them) of the rows ``terms`` select for ``symbols``;
    with ``by_id``, on MySQL/MariaDB, through the ids of the rows first."""
    columns = [table.c[name] for name in names]
    parts = 2 if len(symbols) >= PARALLEL_SYMBOLS else 1
    if by_id and engine.dialect.name in ("mysql", "mariadb"):
        ids = read_frames(engine, _statements(engine, symbols, terms, [table.c.id], parts), ["id"])
        found = pk_reads.plan(ids["id"].to_numpy())
        if found is not None:
            sql = pk_reads.statements(engine, columns, table.c.id, found, parts)
            rows = read_frames(engine, sql, names)
            return pk_reads.only_wanted(rows, found)
    return read_frames(engine, _statements(engine, symbols, terms, columns, parts), names)


def _statements(
    engine: Engine,
    symbols: Sequence[str],
    terms: Sequence[Term],
    columns: Sequence[Column[Any]],
    parts: int,
) -> list[Statement | str]:
    """``terms`` of every symbol, joined with UNION ALL: ``parts`` statements of SQL text,
    or on SQLite statements of SQLITE_SYMBOLS symbols each."""
    bound = [functools.partial(term, columns=columns) for term in terms]
    if not symbols:  # a statement that reads no rows, for the column names
        return [bound[-1]("").where(false())]
    if engine.dialect.name != "sqlite":
        size = -(-len(symbols) // parts)
        groups = [symbols[i : i + size] for i in range(0, len(symbols), size)]
        return [union_per_symbol(engine, bound, group) for group in groups]
    statements: list[Statement | str] = []
    for first in range(0, len(symbols), SQLITE_SYMBOLS):
        # SQLite takes a term with its own ORDER BY/LIMIT only as a subquery.
        queries = [
            select(term(symbol).subquery())
            for symbol in symbols[first : first + SQLITE_SYMBOLS]
            for term in bound
        ]
        statements.append(queries[0] if len(queries) == 1 else union_all(*queries))
    return statements
