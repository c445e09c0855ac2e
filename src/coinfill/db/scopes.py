"""The rows a coverage suite validates: a table's rows in a window, for some symbols.

``scope_sql`` renders one SELECT (literal values, the engine's dialect) that Great Expectations
wraps as a query asset, so every count runs in the database. Next to the table's own columns it
adds a status column per measured column (see ``expectations.statuses``): ``FILLED``,
``MISSING`` or NULL for rows that are not eligible.

Technical warm-up: a column with warm-up *w* cannot have a value on the first *w* valid prices of
a symbol's history. ``coinfill.db.warmup`` finds the symbols whose warm-up reaches the window and
their cut-offs (a scratch table keyed by symbol); the scope LEFT JOINs it and a row whose value
is NULL compares its time with its symbol's cut-off. Symbols whose warm-up ends before the
window are not in the table, and a short window at the end of history needs no join at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import (
    ColumnElement,
    Date,
    DateTime,
    Engine,
    FromClause,
    Select,
    and_,
    case,
    func,
    inspect,
    literal,
    null,
    or_,
    select,
    true,
)

from coinfill.backfill import end_day
from coinfill.db.schema import metadata, price_data_real
from coinfill.db.warmup import warmup_cutoffs
from expectations.contracts import Contract
from expectations.statuses import (
    FAIL,
    FILLED,
    MISSING,
    PASS,
    order_column,
    status_column,
    value_column,
)

# ``warmup_cutoffs`` moved to ``coinfill.db.warmup``; the feature builder imports it from here.
__all__ = [
    "create_view",
    "distinct_symbols",
    "drop_view",
    "enforced_unique_key",
    "price_symbols",
    "scope_sql",
    "table_exists",
    "time_bound",
    "valid_price_rows",
    "warmup_cutoffs",
]


def table_exists(engine: Engine, table: str) -> bool:
    return inspect(engine).has_table(table)


def enforced_unique_key(engine: Engine, table: str, keys: Sequence[str]) -> str | None:
    """The name of a unique constraint or index on exactly ``keys``, if the database has one."""
    inspector = inspect(engine)
    found: list[tuple[str | None, list[str | None]]] = [
        (u["name"], list(u["column_names"])) for u in inspector.get_unique_constraints(table)
    ]
    found += [
        (i["name"], list(i["column_names"])) for i in inspector.get_indexes(table) if i["unique"]
    ]
    for name, columns in found:
        if columns == list(keys):
            return str(name)
    return None


def create_view(engine: Engine, name: str, sql: str) -> None:
    """A short-lived view over a scope query: GX reads its columns from the catalogue."""
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE VIEW {_quote(engine, name)} AS {sql}")


def drop_view(engine: Engine, name: str) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP VIEW IF EXISTS {_quote(engine, name)}")


def _quote(engine: Engine, name: str) -> str:
    return engine.dialect.identifier_preparer.quote(name)


def price_symbols(engine: Engine) -> list[str]:
    """Every symbol with price rows."""
    return distinct_symbols(engine, price_data_real.name)


def distinct_symbols(engine: Engine, table: str, column_name: str = "symbol") -> list[str]:
    """Every symbol in ``table`` (MariaDB reads one entry per symbol off its key's index)."""
    column = metadata.tables[table].c[column_name]
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(select(column).distinct().order_by(column))]


def valid_price_rows(
    engine: Engine, start: datetime | None, end: datetime | None, symbols: Sequence[str] | None
) -> int:
    """Valid price rows (``current_price > 0``) of ``symbols`` (``None``: every symbol) in
    ``[start, end)``."""
    p = price_data_real
    query = select(func.count()).where(p.c.current_price > 0)
    if symbols is not None:
        query = query.where(p.c.symbol.in_(symbols))
    if start is not None:
        query = query.where(p.c.timestamp >= _ms(start))
    if end is not None:
        query = query.where(p.c.timestamp < _ms(end))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def scope_sql(
    engine: Engine,
    contract: Contract,
    start: datetime | None,
    end: datetime | None,
    symbols: Sequence[str] | None,
    cutoffs: FromClause | None = None,
) -> str:
    """``symbols=None`` takes every row of the window; ``cutoffs`` (``symbol`` and ``w<n>`` per
    warm-up *n*, see ``coinfill.db.warmup``) makes a NULL before its symbol's cut-off ineligible.
    """
    query = _scope(contract, start, end, symbols, cutoffs)
    return str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))


def _scope(
    contract: Contract,
    start: datetime | None,
    end: datetime | None,
    symbols: Sequence[str] | None,
    cut: FromClause | None,
) -> Select[tuple[object, ...]]:
    t = metadata.tables[contract.table]
    plain = [*contract.keys, contract.time_column]
    if contract.symbol_column:
        plain.append(contract.symbol_column)
    if not contract.split_by:
        plain += [bound.column for bound in contract.bounds]
        plain += [name for pair in contract.ordered for name in pair]
    columns: list[ColumnElement[object]] = [t.c[name] for name in dict.fromkeys(plain)]
    source: FromClause = t
    if cut is not None:
        # Keyed by symbol (a scratch table): one index lookup per row, and a row count drops
        # the join, which cannot change it. A correlated lookup only for NULL values would
        # read less, but MariaDB cannot merge a view with subqueries in its select list: it
        # would copy the whole scope to a temporary table for every count GX asks.
        source = t.outerjoin(cut, cut.c.symbol == t.c[contract.symbol_column or "symbol"])
    for measured in contract.coverage:
        if contract.split_by:
            is_this = t.c[contract.split_by] == measured
            value = t.c.value
            columns.append(case((is_this, value)).label(value_column(contract, measured)))
            eligible: ColumnElement[bool] = is_this
        elif contract.eligibility_mask:
            value = t.c[measured]
            bit = 1 << contract.coverage.index(measured)
            eligible = t.c[contract.eligibility_mask].op("&")(literal(bit)) != 0
        else:
            value = t.c[measured]
            eligible = _eligible(t.c[contract.time_column], cut, contract.warmup.get(measured))
        if contract.ineligible_reason:
            eligible = and_(eligible, t.c[contract.ineligible_reason].is_(None))
        # A present value counts as filled; only NULLs pay for the eligibility test.
        status = case((value.is_not(None), FILLED), (eligible, MISSING), else_=null())
        if contract.split_by:
            status = case((~is_this, null()), else_=status)
        columns.append(status.label(status_column(measured)))
    for a, b in contract.ordered:
        first, second = t.c[a], t.c[b]
        check = case(
            (or_(first.is_(None), second.is_(None)), null()), (first >= second, PASS), else_=FAIL
        )
        columns.append(check.label(order_column(a, b)))
    query = select(*columns).select_from(source)
    time_column = t.c[contract.time_column]
    if contract.time_ms_column:
        ms = t.c[contract.time_ms_column]
        if start is not None:
            query = query.where(ms >= _ms(start))
        if end is not None:
            query = query.where(ms < _ms(end))
    else:
        if start is not None:
            query = query.where(time_column >= time_bound(time_column.type, start))
        if end is not None:
            query = query.where(time_column < time_bound(time_column.type, end, upper=True))
    if symbols is not None and contract.symbol_column:
        query = query.where(t.c[contract.symbol_column].in_(list(symbols)))
    return query


def _eligible(
    time_column: ColumnElement[object], cut: FromClause | None, warmup: int | None
) -> ColumnElement[bool]:
    """Past the symbol's warm-up, or a symbol without a cut-off (its warm-up ends before)."""
    if not warmup or cut is None:
        return true()
    return or_(cut.c.symbol.is_(None), time_column >= cut.c[f"w{warmup}"])


def time_bound(kind: object, value: datetime, *, upper: bool = False) -> date | datetime:
    if isinstance(kind, Date) and not isinstance(kind, DateTime):
        # A day is inside [start, end) when it starts inside it; an end within a day keeps it.
        return end_day(value) if upper else value.date()
    return value


def _ms(value: datetime) -> int:
    return int((value - datetime(1970, 1, 1)).total_seconds() * 1000)
