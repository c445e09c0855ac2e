"""Coverage before → after, shared by every backfill flow (DESIGN §6).

A flow calls ``measure_coverage`` before it writes and after, then ``publish_coverage``: the
numbers go to the coverage history table, a markdown artifact (the runbook's tracking table)
and a table artifact; if the suite missed after the run and ``enforce`` is on, the run fails
naming the columns — the rows already written stay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from sqlalchemy import Engine

from coinfill.db import history
from coinfill.errors import BackfillFailedError, CoverageMissedError
from coinfill.validation.report import SuiteReport, render, table_rows
from coinfill.validation.warm import validate
from expectations.contracts import Contract, contract_for


@task(name="coverage", task_run_name="coverage-{suite}-{phase}", cache_policy=NO_CACHE)
def measure_coverage(
    engine: Engine,
    suite: str,
    phase: str,
    start: datetime | None,
    end: datetime | None,
    symbols: Sequence[str] | None,
    now: datetime,
    targets: Mapping[str, float] | None = None,
    contract: Contract | None = None,
    calendar_dates: Mapping[str, Sequence[date]] | None = None,
    expected_rows: int | None = None,
    eligible_days: Mapping[str, Mapping[str, Sequence[date]]] | None = None,
) -> SuiteReport:
    """Run the table's Great Expectations suite over the window; ``phase`` names the task.

    ``contract`` replaces the suite's default (macro: the indicators of this run) and
    ``calendar_dates`` gives a calendar suite its expected dates, ``expected_rows`` a bar
    suite (prices) its expected bars, ``eligible_days`` the on-chain suite the days its
    sources can serve.
    """
    return validate(
        engine,
        contract or contract_for(suite),
        start,
        end,
        symbols,
        now,
        targets,
        calendar_dates=calendar_dates,
        expected_rows=expected_rows,
        eligible_days=eligible_days,
    )


def publish_coverage(
    engine: Engine,
    flow_name: str,
    before: SuiteReport,
    after: SuiteReport,
    *,
    enforce: bool,
    store: bool,
    measured_at: datetime,
) -> str | None:
    """Store and show before → after; return the failure message when the suite missed."""
    logger = get_run_logger()
    run_id = str(flow_run.id or f"local-{measured_at:%Y%m%dT%H%M%S}")
    if store:
        history.record(engine, run_id, flow_name, "before", before, measured_at)
        history.record(engine, run_id, flow_name, "after", after, measured_at)
    window = f"{_day(after.start)} → {_day(after.end)}"
    markdown = render(after, before)
    create_markdown_artifact(
        f"# Coverage of {after.table}, {window}\n\n{markdown}",
        key=f"{flow_name}-coverage",
        description=f"{after.name} suite before → after",
    )
    create_table_artifact(
        table_rows(after, before),
        key=f"{flow_name}-coverage-table",
        description=f"{after.name} coverage per column, {window}",
    )
    logger.info("coverage of %s before → after:\n%s", after.table, markdown)
    if after.passed:
        return None
    message = f"{after.name} suite missed after the run: " + "; ".join(after.misses())
    if not store:
        logger.info("%s (dry run: nothing written, nothing enforced)", message)
        return None
    if not enforce:
        logger.warning("%s (report-only: enforce_coverage=false)", message)
        return None
    return message


def conclude(
    engine: Engine,
    flow_name: str,
    before: SuiteReport,
    after: SuiteReport,
    *,
    dry_run: bool,
    enforce_coverage: bool,
    failed: str | None,
) -> None:
    """The end every backfill flow shares: publish coverage (stored unless a dry run, enforced
    unless a dry run or turned off), then fail honestly."""
    missed = publish_coverage(
        engine,
        flow_name,
        before,
        after,
        enforce=enforce_coverage and not dry_run,
        store=not dry_run,
        measured_at=datetime.now(UTC).replace(tzinfo=None),
    )
    fail_honestly(failed, missed)


def fail_honestly(failed: str | None, missed: str | None) -> None:
    """End a run Failed when work failed (naming it, and any coverage miss) or coverage missed.

    Prefect would otherwise report Completed after failed tasks (DESIGN §5).
    """
    if failed:
        raise BackfillFailedError(failed + (f" | {missed}" if missed else ""))
    if missed:
        raise CoverageMissedError(f"{missed} (the rows written stay)")


def _day(value: datetime | None) -> str:
    return "…" if value is None else value.isoformat(sep=" ", timespec="minutes")
