"""Flow ``macro-indicators``: US macro series from FRED into ``macro_indicators``.

    prefect deployment run 'macro-indicators/backfill' --param days=730
    coinfill run macro --days 730               # the same flow, in-process
    coinfill run macro --dry-run                # the plan only: series, requests, time

Gap-driven: it reads what is stored, plans one request per series that has gaps or a trailing
window FRED may still revise, and fetches only those — at ≤ 1 request/s shared by every run
(Prefect global concurrency limit ``fred``, or a local token bucket). The macro suite measures
coverage before and after; a miss, or a series that failed, fails the run (stored rows stay).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from sqlalchemy import Engine

from coinfill.backfill import day_span
from coinfill.db.macro import stored_dates
from coinfill.macro.catalog import catalog, choose
from coinfill.macro.clients import make_fred_client
from coinfill.macro.collect import MacroRunSummary, SeriesResult, collect_series
from coinfill.macro.coverage import coverage_calendar, macro_contract
from coinfill.macro.plan import SeriesPlan, plan_all
from coinfill.outcomes import stop_if_provider_stopped
from coinfill.settings import Settings
from coinfill.sources.fred import FredClient
from coinfill.validation.report import SuiteReport, render
from flows.chunks import run_chunks
from flows.coverage import conclude, measure_coverage
from flows.lifecycle import interruptible
from flows.naming import run_namer
from flows.opening import open_run
from flows.refresh import refresh_features_after

FLOW_NAME = "macro-indicators"
SUITE = "macro"


@task(name="fred-series", task_run_name="fred-{indicator}", cache_policy=NO_CACHE)
def fetch_series(
    indicator: str,
    client: FredClient,
    engine: Engine,
    plan: SeriesPlan,
    now: datetime,
    before_write: Callable[[], object],
) -> list[SeriesResult]:
    return [collect_series(client, engine, plan, now, before_write)]


@flow(name=FLOW_NAME, flow_run_name=run_namer("macro"), validate_parameters=True)
@interruptible
def macro_indicators(
    days: int | None = None,
    start: date | None = None,
    end: date | None = None,
    indicators: list[str] | None = None,
    dry_run: bool = False,
    enforce_coverage: bool = True,
    coverage_targets: dict[str, float] | None = None,
    refresh_features: bool = False,
) -> MacroRunSummary:
    """Collect FRED series for ``[start, end)`` or the last ``days`` (0 = all history).

    Without any of them it runs the scheduled window (``COINFILL_MACRO_SCHEDULED_DAYS``).
    ``indicators`` picks a subset by name (``["VIX", "US_INFLATION"]``); ``dry_run`` publishes
    the plan and writes nothing; ``enforce_coverage=false`` makes a coverage miss a warning.
    """
    logger = get_run_logger()
    opening = open_run(days, start, end, coverage_targets, lambda s: s.macro_scheduled_days)
    settings, targets, now, window, engine = opening
    chosen = choose(catalog(settings.macro_series), indicators)
    first_day, end_day = day_span(window.start, window.end)
    names = [s.indicator_name for s in chosen]
    plan = plan_all(
        chosen,
        stored_dates(engine, names, first_day, end_day),
        first_day,
        end_day,
        now.date(),
        revision_days=settings.macro_revision_days,
        requests_per_second=settings.fred_requests_per_second,
    )
    contract = macro_contract(chosen)

    def coverage(phase: str) -> PrefectFuture[SuiteReport]:
        calendar = coverage_calendar(engine, chosen, window.start, window.end, now)
        return measure_coverage.submit(
            engine, SUITE, phase, window.start, window.end, None, now, targets, contract, calendar
        )

    # "before" runs while the first request is in flight; writes wait for it (see _collect).
    measuring = coverage("before")
    summary = MacroRunSummary(window.label, dry_run, plan.markdown(window.label))
    summary.notes += plan.notes
    create_markdown_artifact(summary.plan, key="macro-indicators-plan")
    logger.info("plan:\n%s", summary.plan)
    if not dry_run and plan.requests:
        summary.results = _collect(settings, engine, plan.series, now, measuring.wait)
    before = measuring.result()
    after = before if dry_run else coverage("after").result()
    summary.coverage = render(after, before)
    if summary.results:
        create_table_artifact(
            [r.as_row() for r in summary.results],
            key="macro-indicators-series",
            description=f"per series, window {window.label}",
        )
    create_markdown_artifact(summary.markdown(), key="macro-indicators-summary")
    failed = summary.failure_message()
    refresh_features_after(refresh_features, dry_run, now)
    conclude(
        engine, FLOW_NAME, before, after,
        dry_run=dry_run, enforce_coverage=enforce_coverage, failed=failed,
    )  # fmt: skip
    return summary


def _collect(
    settings: Settings,
    engine: Engine,
    plans: Sequence[SeriesPlan],
    now: datetime,
    before_write: Callable[[], object],
) -> list[SeriesResult]:
    """Each planned series a chunk of the shared runner; the FRED rate limit paces them."""
    todo = {p.series.indicator_name: p for p in plans if p.fetch}
    with make_fred_client(settings) as client:
        get_run_logger().info("FRED rate limit: %s", client.http.limiter.describe())
        results, failures = run_chunks(
            fetch_series,
            [[name] for name in todo],
            lambda names: (names[0], client, engine, todo[names[0]], now, before_write),
            settings,
            "macro-indicators: series fetched",
        )
        stopped = client.http.stopped
    for failure in failures:
        plan = todo[failure.symbols[0]]
        series = plan.series
        results.append(
            SeriesResult(series.indicator_name, series.series_id or "", error=failure.error)
        )
    failed = sum(1 for r in results if r.error)
    stop_if_provider_stopped([stopped], "series", failed, len(results))
    return results
