"""The rows a coverage suite validates: a table's rows in a window, for some symbols.

``scope_sql`` renders one SELECT (literal values, the engine's dialect) that Great Expectations
wraps as a query asset, so every count runs in the database. Next to the table's own columns it
adds a status column per measured column (see ``expectations.suites``): ``'filled'``,
``'missing'`` or NULL for rows that are not eligible.

Technical warm-up: a column with warm-up *w* cannot have a value on the first *w* valid prices of
a symbol's history. ``warmup_cutoffs`` reads those first rows per symbol (an index range each),
and the scope compares a row's time with the symbol's cutoff — a join to a few hundred literal
rows, far cheaper than ranking the whole price table. Symbols whose warm-up ends before the
window need no cutoff at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    DateTime,
    Engine,
    FromClause,
    Select,
    and_,
    case,
    cast,
    func,
    inspect,
    literal,
    null,
    or_,
    select,
    true,
    union_all,
)

from coinfill.backfill import end_day
from coinfill.db.schema import metadata, price_data_real
from expectations.contracts import Contract
from expectations.suites import (
    FAIL,
    FILLED,
    MISSING,
    PASS,
    order_column,
    status_column,
    value_column,
)

# SQLite refuses compound SELECTs of more than 500 terms; nest unions in blocks below that.
UNION_BLOCK = 200


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
    query = select(price_data_real.c.symbol).distinct().order_by(price_data_real.c.symbol)
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(query)]


def warmup_cutoffs(engine: Engine, symbols: Sequence[str], rows: int) -> dict[str, list[datetime]]:
    """The first ``rows`` valid price times of each symbol (fewer if its history is shorter)."""
    p = price_data_real
    out: dict[str, list[datetime]] = {}
    with engine.connect() as conn:
        for symbol in symbols:
            query = (
                select(p.c.timestamp_iso)
                .where(p.c.symbol == symbol, p.c.current_price > 0)
                .order_by(p.c.timestamp)
                .limit(rows)
            )
            out[symbol] = [row[0] for row in conn.execute(query)]
    return out


def valid_price_rows(
    engine: Engine, start: datetime | None, end: datetime | None, symbols: Sequence[str]
) -> int:
    """Valid price rows (``current_price > 0``) of ``symbols`` in ``[start, end)``."""
    p = price_data_real
    query = select(func.count()).where(p.c.current_price > 0, p.c.symbol.in_(symbols))
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
    cutoffs: Mapping[str, list[datetime]] | None = None,
) -> str:
    query = _scope(engine, contract, start, end, symbols, cutoffs or {})
    return str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))


def _scope(
    engine: Engine,
    contract: Contract,
    start: datetime | None,
    end: datetime | None,
    symbols: Sequence[str] | None,
    cutoffs: Mapping[str, list[datetime]],
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
    needed = _cutoffs_in_window(contract, cutoffs, start)
    cut = _cutoff_table(engine, contract, needed) if needed else None
    if cut is not None:
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
    if not warmup or cut is None:
        return true()
    return or_(cut.c.symbol.is_(None), time_column >= cut.c[f"w{warmup}"])


def _cutoffs_in_window(
    contract: Contract, cutoffs: Mapping[str, list[datetime]], start: datetime | None
) -> dict[str, dict[int, datetime | None]]:
    """Per symbol, per warm-up, the first eligible time — only where it matters for the window.

    ``None`` means the symbol's history never gets past that warm-up.
    """
    warmups = contract.warmup_lengths
    needed: dict[str, dict[int, datetime | None]] = {}
    for symbol, times in cutoffs.items():
        firsts = {w: (times[w] if w < len(times) else None) for w in warmups}
        if start is None or any(value is None or value > start for value in firsts.values()):
            needed[symbol] = firsts
    return needed


def _cutoff_table(
    engine: Engine, contract: Contract, needed: Mapping[str, Mapping[int, datetime | None]]
) -> FromClause:
    never = datetime(9999, 12, 31)
    warmups = contract.warmup_lengths
    rows = [
        select(
            literal(symbol).label("symbol"),
            *(_time_literal(engine, firsts[w] or never).label(f"w{w}") for w in warmups),
        )
        for symbol, firsts in needed.items()
    ]
    blocks = [
        union_all(*rows[i : i + UNION_BLOCK]).subquery().select()
        for i in range(0, len(rows), UNION_BLOCK)
    ]
    return union_all(*blocks).subquery("cutoffs")


def _time_literal(engine: Engine, value: datetime) -> ColumnElement[Any]:
    # SQLite keeps DATETIME as text in SQLAlchemy's format: compare text with text. Elsewhere a
    # bare string in a UNION is untyped (PostgreSQL refuses to compare it with a timestamp).
    if engine.dialect.name == "sqlite":
        return literal(value, DateTime())
    return cast(literal(value.isoformat(sep=" ")), DateTime)


def time_bound(kind: object, value: datetime, *, upper: bool = False) -> date | datetime:
    if isinstance(kind, Date) and not isinstance(kind, DateTime):
        # A day is inside [start, end) when it starts inside it; an end within a day keeps it.
        return end_day(value) if upper else value.date()
    return value


def _ms(value: datetime) -> int:
    return int((value - datetime(1970, 1, 1)).total_seconds() * 1000)
