"""What ``coinfill coverage`` shows: every suite now, the history run by run, Data Docs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from coinfill.backfill import to_ms
from coinfill.db.history import RULE_PREFIX
from coinfill.db.scopes import table_exists
from coinfill.errors import InputError
from coinfill.macro.catalog import catalog
from coinfill.macro.coverage import coverage_calendar, macro_contract
from coinfill.onchain.coverage import eligible_days as onchain_eligible_days
from coinfill.prices.coverage import expected_bars
from coinfill.validation.gxrun import new_context, validate
from coinfill.validation.report import SuiteReport, fmt_percent
from expectations.contracts import CONTRACTS, contract_for


def suites_for(table: str | None) -> list[str]:
    """``None`` or ``all`` = every suite; otherwise the one named (an unknown name is an error)."""
    if table in (None, "all"):
        return list(CONTRACTS)
    return [contract_for(table).name]


def measure_all(
    engine: Engine,
    names: Sequence[str],
    start: datetime | None,
    end: datetime | None,
    symbols: Sequence[str] | None,
    now: datetime,
    docs_dir: Path | None = None,
    macro_series: Mapping[str, Mapping[str, Any]] | None = None,
    interval: str = "1h",
) -> list[SuiteReport]:
    """Run each suite whose table exists (when all are asked for, a missing one is skipped).

    The macro suite measures every indicator of the catalogue (``macro_series`` = the user's
    additions, ``COINFILL_MACRO_SERIES``) on its publication calendar.
    """
    if start is not None and end is not None and start >= end:
        raise InputError(f"start {start:%Y-%m-%d} is not before end {end:%Y-%m-%d}: empty window")
    context = new_context(docs_dir)
    reports = []
    for name in names:
        contract = contract_for(name)
        if len(names) > 1 and not table_exists(engine, contract.table):
            continue
        calendar, bars, eligible = None, None, None
        if contract.rows_follow_bars:
            bars = sum(
                expected_bars(
                    engine, symbols, _ms(start), _ms(end), interval, _ms(now) or 0
                ).values()
            )
        if contract.rows_follow_calendar:
            chosen = list(catalog(macro_series).values())
            contract = macro_contract(chosen)
            calendar = coverage_calendar(engine, chosen, start, end, now)
        if contract.rows_follow_availability:
            eligible = onchain_eligible_days(engine, symbols, start, end, now)
        reports.append(
            validate(
                engine,
                contract,
                start,
                end,
                symbols,
                now,
                context=context,
                calendar_dates=calendar,
                expected_rows=bars,
                eligible_days=eligible,
            )
        )
    if docs_dir is not None:
        context.build_data_docs()
    return reports


def render_history(rows: Sequence[dict[str, Any]]) -> str:
    """One line per run and column: coverage before → after, target, passed."""
    runs: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}
    for row in rows:
        if str(row["column_name"]).startswith(RULE_PREFIX):
            continue
        key = (str(row["run_id"]), str(row["table_name"]), str(row["column_name"]))
        runs.setdefault(key, {})[str(row["phase"])] = row
    head = "| measured (UTC) | flow | run | window | table | column | before → after | target | |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for (run_id, table, column), phases in runs.items():
        after = phases.get("after") or phases["before"]
        before = phases.get("before")
        window = f"{_short(after['window_start'])}..{_short(after['window_end'])}"
        target = "" if after["target"] is None else f"≥ {after['target']:g} %"
        mark = {True: "✅", False: "❌", None: ""}[after["passed"]]
        lines.append(
            f"| {after['measured_at']:%Y-%m-%d %H:%M} | {after['flow_name']} | {run_id[:8]} "
            f"| {window} | {table} | {column} "
            f"| {fmt_percent(before['percent'] if before else None)} → "
            f"{fmt_percent(after['percent'])} | {target} | {mark} |"
        )
    return "\n".join(lines)


def _ms(value: datetime | None) -> int | None:
    return None if value is None else to_ms(value)


def _short(value: datetime | None) -> str:
    return "…" if value is None else f"{value:%Y-%m-%d}"
