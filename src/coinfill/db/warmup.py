"""When each symbol's technical warm-up ends, read from its first valid prices in one or two
statements.

A column with warm-up *w* cannot have a value on the first *w* valid prices (``current_price >
0``) of a symbol's history, and a symbol with fewer than ``MIN_HISTORY_ROWS`` valid prices gets
no indicator rows at all. A coverage pass needs, per symbol, the time of its (*w*+1)-th valid
price — but only where that time can fall inside the window: at the end of a long history no
symbol's warm-up reaches a 2-day window, and one cheap statement proves it.

1. Settle: per symbol, the time of its last warm-up row (the ``longest``-th valid price), a
   correlated ``ORDER BY timestamp LIMIT 1 OFFSET n`` that walks ``n`` index entries. A symbol
   whose last warm-up row is at or before the window's start is done: computable, every row of
   the window eligible.
2. The rest (every symbol when the window has no start): the exact cut-off per warm-up and
   whether the history is long enough, again one statement with one such subquery per column.

A UNION of one subquery per symbol would be the obvious shape, but MariaDB takes longer to plan
hundreds of them than to run them; a derived table of the symbols driving correlated subqueries
plans once.

The ranks follow ``timestamp`` (the indexed unix-ms column) and the cut-offs are its
``timestamp_iso``, which is the same instant, as the old one-query-per-symbol reader had it.

The cut-offs the scope needs go into a scratch table keyed by symbol, which the scope joins
through its key (``coinfill.db.scopes``); MariaDB joined a 500-row literal UNION with a block
nested loop instead. A user who may not create tables still gets the same rows as literals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    DateTime,
    Engine,
    FromClause,
    MetaData,
    ScalarSelect,
    Select,
    String,
    Table,
    cast,
    literal,
    select,
    union_all,
)
from sqlalchemy.exc import DBAPIError

from coinfill.db.schema import price_data_real

# Symbols per statement (``window_warmup``): the derived table of names is planned once whatever
# its length, and its bound names stay far below every driver's limit on parameters.
SYMBOLS_PER_STATEMENT = 500
# Per-symbol subqueries per UNION (``warmup_cutoffs``): MariaDB plans a UNION of hundreds of
# derived tables in time that grows faster than their number.
UNION_SYMBOLS = 100
# SQLite refuses compound SELECTs of more than 500 terms; nest unions in blocks below that.
UNION_BLOCK = 200
NEVER = datetime(9999, 12, 31)


@dataclass(frozen=True)
class Warmup:
    """What a window's coverage scope needs from the price history."""

    # Symbols with at least ``min_rows`` valid prices: the technical flow computes them.
    computable: list[str]
    # Only symbols whose warm-up can reach the window: per warm-up *w*, the time of the
    # (*w*+1)-th valid price; ``None`` when the history never gets that far.
    cutoffs: dict[str, dict[int, datetime | None]] = field(default_factory=dict)


def window_warmup(
    engine: Engine,
    symbols: Sequence[str],
    start: datetime | None,
    warmups: Sequence[int],
    min_rows: int,
) -> Warmup:
    """Which of ``symbols`` are computable, and the cut-offs of those whose warm-up can reach
    a window starting at ``start`` (``None``: the whole history, every symbol's)."""
    last = max([*warmups, min_rows - 1])
    settled: set[str] = set()
    if start is not None:
        ends = _nth(engine, symbols, {"last": (last, "timestamp_iso")})
        # Ranks rise with time: the last warm-up row at or before start settles every warm-up.
        settled = {s for s, row in ends.items() if row["last"] is not None and row["last"] <= start}
    rest = list(dict.fromkeys(s for s in symbols if s not in settled))
    columns = {f"w{w}": (w, "timestamp_iso") for w in warmups}
    columns["enough"] = (min_rows - 1, "timestamp")  # never NULL where the row exists
    found = _nth(engine, rest, columns) if rest else {}
    computable_rest: set[str] = set()
    cutoffs: dict[str, dict[int, datetime | None]] = {}
    for symbol in rest:
        row = found.get(symbol, {})
        if row.get("enough") is not None:
            computable_rest.add(symbol)
        firsts = {w: row.get(f"w{w}") for w in warmups}
        if start is None or any(t is None or t > start for t in firsts.values()):
            cutoffs[symbol] = firsts
    computable = [s for s in symbols if s in settled or s in computable_rest]
    return Warmup(computable, cutoffs)


def _nth(
    engine: Engine, symbols: Sequence[str], columns: Mapping[str, tuple[int, str]]
) -> dict[str, dict[str, Any]]:
    """Per symbol: for each ``name → (n, column)``, ``column`` of its (n+1)-th valid price by
    time, ``None`` if it has fewer."""
    out: dict[str, dict[str, Any]] = {}
    wanted = list(dict.fromkeys(symbols))
    with engine.connect() as conn:
        for i in range(0, len(wanted), SYMBOLS_PER_STATEMENT):
            # The asked names drive the subqueries, so a name matches its rows by the database's
            # own comparison (MariaDB's collations ignore case) and comes back as it was asked.
            asked = [
                select(literal(s, String()).label("symbol"))
                for s in wanted[i : i + SYMBOLS_PER_STATEMENT]
            ]
            s = _union(asked).subquery("s")
            query = select(
                s.c.symbol,
                *(_nth_value(s.c.symbol, n, col).label(name) for name, (n, col) in columns.items()),
            )
            for row in conn.execute(query).mappings():
                out[row["symbol"]] = {name: row[name] for name in columns}
    return out


def _nth_value(symbol: ColumnElement[Any], n: int, column: str) -> ScalarSelect[Any]:
    q = price_data_real.alias("q")
    return (
        select(q.c[column])
        .where(q.c.symbol == symbol, q.c.current_price > 0)
        .order_by(q.c.timestamp)
        .limit(1)
        .offset(n)
        .scalar_subquery()
    )


def warmup_cutoffs(engine: Engine, symbols: Sequence[str], rows: int) -> dict[str, list[datetime]]:
    """The first ``rows`` valid price times of each symbol (fewer if its history is shorter).

    One statement per ``UNION_SYMBOLS`` symbols: a UNION of per-symbol index ranges."""
    p = price_data_real
    out: dict[str, list[datetime]] = {symbol: [] for symbol in symbols}
    with engine.connect() as conn:
        for i in range(0, len(out), UNION_SYMBOLS):
            parts = [
                select(p.c.symbol, p.c.timestamp, p.c.timestamp_iso)
                .where(p.c.symbol == symbol, p.c.current_price > 0)
                .order_by(p.c.timestamp)
                .limit(rows)
                .subquery()
                .select()
                for symbol in list(out)[i : i + UNION_SYMBOLS]
            ]
            ranges = _union(parts).subquery("ranges")
            query = select(ranges.c.symbol, ranges.c.timestamp_iso).order_by(
                ranges.c.symbol, ranges.c.timestamp
            )
            for symbol, when in conn.execute(query):
                out[symbol].append(when)
    return out


def create_cutoffs(
    engine: Engine,
    name: str,
    warmups: Sequence[int],
    cutoffs: Mapping[str, Mapping[int, datetime | None]],
) -> FromClause | None:
    """The cut-offs as a scratch table keyed by symbol (drop it with ``drop_cutoffs``), as
    literal rows where the user may not create tables, or ``None`` when there are none."""
    if not cutoffs:
        return None
    table = Table(
        name,
        MetaData(),
        Column("symbol", String(32), primary_key=True),
        *(Column(f"w{w}", DateTime, nullable=False) for w in warmups),
    )
    rows = [
        {"symbol": symbol, **{f"w{w}": firsts.get(w) or NEVER for w in warmups}}
        for symbol, firsts in cutoffs.items()
    ]
    try:
        with engine.begin() as conn:
            table.create(conn)
            conn.execute(table.insert(), rows)
    except DBAPIError:
        drop_cutoffs(engine, table)
        return _literal_cutoffs(engine, warmups, rows)
    return table


def drop_cutoffs(engine: Engine, cutoffs: FromClause | None) -> None:
    if isinstance(cutoffs, Table):
        try:
            with engine.begin() as conn:
                cutoffs.drop(conn, checkfirst=True)
        except DBAPIError:
            # Refused (a read-only user never created it); nothing to clean up.
            pass


def _literal_cutoffs(
    engine: Engine, warmups: Sequence[int], rows: Sequence[Mapping[str, Any]]
) -> FromClause:
    parts = [
        select(
            literal(row["symbol"]).label("symbol"),
            *(_time_literal(engine, row[f"w{w}"]).label(f"w{w}") for w in warmups),
        )
        for row in rows
    ]
    return _union(parts).subquery("cutoffs")


def _union(parts: Sequence[Select[Any]]) -> Select[Any]:
    """``UNION ALL`` of ``parts``, nested in blocks SQLite accepts."""
    blocks = [
        union_all(*parts[i : i + UNION_BLOCK]).subquery().select()
        for i in range(0, len(parts), UNION_BLOCK)
    ]
    return union_all(*blocks).subquery().select() if len(blocks) > 1 else blocks[0]


def _time_literal(engine: Engine, value: datetime) -> ColumnElement[Any]:
    # SQLite keeps DATETIME as text in SQLAlchemy's format: compare text with text. Elsewhere a
    # bare string in a UNION is untyped (PostgreSQL refuses to compare it with a timestamp).
    if engine.dialect.name == "sqlite":
        return literal(value, DateTime())
    return cast(literal(value.isoformat(sep=" ")), DateTime)
