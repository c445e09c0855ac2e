"""What a window's scope needs before Great Expectations runs, for tables that follow prices.

The technical table expects a row for every valid price of a computable symbol, and its warm-up
rows are not eligible (``coinfill.db.warmup``). The plan reads that from the price history with
a constant number of statements whatever the number of symbols, and decides the scope's symbol
filter: over a window the ``symbol IN (…)`` list is how the database reaches the window's rows
through the ``(symbol, time)`` key, but over the whole history it is a comparison per row that
filters nothing when the table holds no other symbol — then the scope goes without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from coinfill.db.scopes import distinct_symbols, price_symbols, valid_price_rows
from coinfill.db.warmup import window_warmup
from coinfill.indicators import MIN_HISTORY_ROWS
from expectations.contracts import Contract


@dataclass(frozen=True)
class ScopePlan:
    # The scope's symbol filter; ``None`` takes every row of the window.
    symbols: Sequence[str] | None
    # Per symbol whose warm-up reaches the window, per warm-up, the first eligible time.
    cutoffs: dict[str, dict[int, datetime | None]] = field(default_factory=dict)
    # Valid price rows of computable symbols in the window (``rows_follow_prices`` only).
    expected_rows: int = 0


def plan_scope(
    engine: Engine,
    contract: Contract,
    start: datetime | None,
    end: datetime | None,
    symbols: Sequence[str] | None,
) -> ScopePlan:
    if not (contract.warmup or contract.rows_follow_prices):
        return ScopePlan(symbols)
    whole = start is None and end is None
    priced: list[str] | None = None
    if contract.rows_follow_prices and symbols is None:
        symbols = priced = price_symbols(engine)
    warmups = contract.warmup_lengths
    warm = window_warmup(engine, symbols or [], start, warmups, MIN_HISTORY_ROWS)
    # Without a warm-up column there is nothing to compare a row's time with.
    cutoffs = warm.cutoffs if warmups else {}
    expected = 0
    if contract.rows_follow_prices:
        # The technical flow skips a symbol with a too-short history: its prices expect no rows.
        computable: Sequence[str] | None = warm.computable
        if whole:
            priced = price_symbols(engine) if priced is None else priced
            computable = None if set(priced) <= set(warm.computable) else computable
        expected = valid_price_rows(engine, start, end, computable)
    column = contract.symbol_column
    if whole and symbols is not None and column:
        present = distinct_symbols(engine, contract.table, column)
        symbols = None if set(present) <= set(symbols) else symbols
    return ScopePlan(symbols, cutoffs, expected)
