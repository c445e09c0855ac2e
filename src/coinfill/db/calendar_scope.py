"""Coverage scope of a table whose rows follow a calendar (macro: one row per expected date).

A missing row must count as missing, so the scope starts from the expected dates, not from the
stored rows: a scratch table holds the calendar (per indicator, the dates that should be
published by now), and the scope is that calendar LEFT JOIN the table, plus the stored rows that
no calendar date asked for (validity rules still check them; they count for no coverage).
A row the source itself marks as having no value (``contract.no_value_flag``) is not eligible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Date,
    Engine,
    MetaData,
    String,
    Table,
    and_,
    case,
    exists,
    null,
    select,
    union_all,
)

from coinfill.db.schema import metadata
from coinfill.db.scopes import time_bound
from expectations.contracts import Contract
from expectations.statuses import FILLED, MISSING, status_column, value_column

BATCH = 5_000


def create_calendar(
    engine: Engine, name: str, contract: Contract, expected: Mapping[str, Sequence[date]]
) -> Table:
    """A scratch table of (category, date) pairs the scope counts as expected."""
    split = contract.split_by or ""
    table = Table(
        name,
        MetaData(),
        Column(split, String(64), nullable=False),
        Column(contract.time_column, Date, nullable=False),
    )
    rows = [{split: key, contract.time_column: d} for key, days in expected.items() for d in days]
    with engine.begin() as conn:
        table.create(conn)
        for i in range(0, len(rows), BATCH):
            conn.execute(table.insert(), rows[i : i + BATCH])
    return table


def drop_calendar(engine: Engine, table: Table) -> None:
    with engine.begin() as conn:
        table.drop(conn, checkfirst=True)


def calendar_scope_sql(
    engine: Engine,
    contract: Contract,
    calendar: Table,
    start: datetime | None,
    end: datetime | None,
) -> str:
    split, when = contract.split_by or "", contract.time_column
    t = metadata.tables[contract.table]
    e = calendar
    match = and_(t.c[split] == e.c[split], t.c[when] == e.c[when])
    no_value: ColumnElement[Any] = t.c[contract.no_value_flag] if contract.no_value_flag else null()
    expected_rows = select(
        e.c[split].label(split),
        e.c[when].label(when),
        *_values(contract, t),
        *(
            case(
                (e.c[split] != measured, null()),
                (t.c.value.is_not(None), FILLED),
                (no_value.is_(True), null()),
                else_=MISSING,
            ).label(status_column(measured))
            for measured in contract.coverage
        ),
    ).select_from(e.outerjoin(t, match))
    unasked = select(
        t.c[split],
        t.c[when],
        *_values(contract, t),
        *(null().label(status_column(measured)) for measured in contract.coverage),
    ).where(~exists().where(match))
    if start is not None:
        unasked = unasked.where(t.c[when] >= time_bound(t.c[when].type, start))
    if end is not None:
        unasked = unasked.where(t.c[when] < time_bound(t.c[when].type, end, upper=True))
    query = union_all(expected_rows, unasked)
    return str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))


def _values(contract: Contract, t: Table) -> list[ColumnElement[Any]]:
    """``v_<indicator>``: the value on that indicator's rows (for its validity bounds)."""
    split = contract.split_by or ""
    names = dict.fromkeys([*contract.coverage, *(bound.column for bound in contract.bounds)])
    return [
        case((t.c[split] == name, t.c.value)).label(value_column(contract, name)) for name in names
    ]


def eligibility_column(measured: str) -> str:
    return f"e_{measured.lower()}"


def create_eligibility(
    engine: Engine,
    name: str,
    contract: Contract,
    eligible: Mapping[str, Mapping[str, Sequence[date]]],
) -> Table:
    """A scratch table of (symbol, date) pairs with a flag per measured column saying whether
    some source could have a value for it (on-chain: ``metric → symbol → days``)."""
    symbol, when = contract.symbol_column or "symbol", contract.time_column
    flags: dict[tuple[str, date], set[str]] = {}
    for measured, per_symbol in eligible.items():
        for sym, days in per_symbol.items():
            for day in days:
                flags.setdefault((sym, day), set()).add(measured)
    table = Table(
        name,
        MetaData(),
        Column(symbol, String(32), nullable=False),
        Column(when, Date, nullable=False),
        *(Column(eligibility_column(m), Boolean, nullable=False) for m in contract.coverage),
    )
    rows = [
        {symbol: sym, when: day, **{eligibility_column(m): m in have for m in contract.coverage}}
        for (sym, day), have in flags.items()
    ]
    with engine.begin() as conn:
        table.create(conn)
        for i in range(0, len(rows), BATCH):
            conn.execute(table.insert(), rows[i : i + BATCH])
    return table


def eligibility_scope_sql(
    engine: Engine,
    contract: Contract,
    calendar: Table,
    start: datetime | None,
    end: datetime | None,
    symbols: Sequence[str] | None,
) -> str:
    """The eligible (symbol, date) pairs LEFT JOIN the table, plus stored rows none asked for."""
    symbol, when = contract.symbol_column or "symbol", contract.time_column
    t = metadata.tables[contract.table]
    e = calendar
    match = and_(t.c[symbol] == e.c[symbol], t.c[when] == e.c[when])
    values = [
        t.c[c] for c in dict.fromkeys([*contract.coverage, *(b.column for b in contract.bounds)])
    ]
    expected_rows = select(
        e.c[symbol].label(symbol),
        e.c[when].label(when),
        *values,
        *(
            case(
                (e.c[eligibility_column(m)].is_(False), null()),
                (t.c[m].is_not(None), FILLED),
                else_=MISSING,
            ).label(status_column(m))
            for m in contract.coverage
        ),
    ).select_from(e.outerjoin(t, match))
    unasked = select(
        t.c[symbol],
        t.c[when],
        *values,
        *(null().label(status_column(m)) for m in contract.coverage),
    ).where(~exists().where(match))
    if start is not None:
        unasked = unasked.where(t.c[when] >= time_bound(t.c[when].type, start))
    if end is not None:
        unasked = unasked.where(t.c[when] < time_bound(t.c[when].type, end, upper=True))
    if symbols is not None:
        unasked = unasked.where(t.c[symbol].in_(list(symbols)))
    query = union_all(expected_rows, unasked)
    return str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
