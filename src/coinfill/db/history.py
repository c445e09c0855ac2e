"""The coverage history table: every suite run's numbers, before and after, run by run."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, desc, func, insert, select

from coinfill.db.schema import coverage_history
from coinfill.validation.report import SuiteReport

RULE_PREFIX = "rule: "
NAME_LENGTH = 64


def record(
    engine: Engine,
    run_id: str,
    flow_name: str,
    phase: str,
    report: SuiteReport,
    measured_at: datetime,
) -> int:
    """Store one suite run; re-recording the same run and phase replaces its rows."""
    h = coverage_history
    base = {
        "run_id": run_id,
        "flow_name": flow_name,
        "table_name": report.table,
        "window_start": report.start,
        "window_end": report.end,
        "phase": phase,
        "measured_at": measured_at,
    }
    rows: list[dict[str, Any]] = [
        {
            **base,
            "column_name": c.column[:NAME_LENGTH],
            "total": c.total,
            "eligible": c.eligible,
            "non_null": c.non_null,
            "percent": c.percent,
            "target": c.target,
            "passed": c.passed,
        }
        for c in report.columns
    ]
    rows += [
        {
            **base,
            "column_name": (RULE_PREFIX + r.rule)[:NAME_LENGTH],
            "total": r.checked,
            "eligible": r.checked,
            "non_null": r.checked - r.unexpected,
            "percent": None if r.checked == 0 else 100.0 * (r.checked - r.unexpected) / r.checked,
            "target": 100.0,
            "passed": r.passed,
        }
        for r in report.rules
    ]
    with engine.begin() as conn:
        conn.execute(
            delete(h).where(
                h.c.run_id == run_id, h.c.table_name == report.table, h.c.phase == phase
            )
        )
        if rows:
            conn.execute(insert(h), rows)
    return len(rows)


def history(
    engine: Engine, table_names: Sequence[str] | None = None, runs: int = 10
) -> list[dict[str, Any]]:
    """Rows of the last ``runs`` runs (newest first), optionally of some tables only."""
    h = coverage_history
    latest = select(h.c.run_id, func.max(h.c.measured_at).label("at")).group_by(h.c.run_id)
    if table_names:
        latest = latest.where(h.c.table_name.in_(list(table_names)))
    latest = latest.order_by(desc("at")).limit(runs)
    with engine.connect() as conn:
        run_ids = [row[0] for row in conn.execute(latest)]
        if not run_ids:
            return []
        query = select(h).where(h.c.run_id.in_(run_ids)).order_by(h.c.measured_at.desc(), h.c.id)
        if table_names:
            query = query.where(h.c.table_name.in_(list(table_names)))
        return [dict(row._mapping) for row in conn.execute(query)]
