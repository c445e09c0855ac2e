"""Flow ``ml-features``: the point-in-time feature table ``ml_features_materialized``.

    prefect deployment run 'ml-features/backfill' --param days=30
    coinfill run features --days 30            # the same flow, in-process
    coinfill run features                      # scheduled mode: only what changed

With ``days``/``start``/``end`` it rebuilds that window; without, it refreshes only the rows
that source rows changed since the last run affect (``coinfill.features.changes``).
Every collector flow takes ``refresh_features=True`` to run this refresh right after it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote
from sqlalchemy import Engine

from coinfill.assets import resolve_symbols
from coinfill.backfill import plan_window
from coinfill.db.bulkwrite import WriteMethod
from coinfill.db.feature_state import save_marks
from coinfill.db.queries import analyze
from coinfill.features.build import FeatureReport, Scope, build_chunk
from coinfill.features.inputs import Inputs, load_inputs
from coinfill.features.plan import chunk_symbols, plan_features
from coinfill.features.summary import FeaturesSummary
from coinfill.macro.catalog import catalog
from coinfill.settings import load_settings
from coinfill.validation.report import render
from expectations.contracts import validate_overrides
from flows.chunks import chunks_failed, run_chunks
from flows.coverage import conclude, measure_coverage
from flows.lifecycle import interruptible
from flows.naming import run_namer
from flows.opening import open_database

FLOW_NAME = "ml-features"
SUITE = "features"


@task(name="features-chunk", cache_policy=NO_CACHE)
def build_features_chunk(
    engine: Engine,
    symbols: list[str],
    scope: Scope,
    inputs: Inputs,
    write_method: WriteMethod,
    dry_run: bool,
    now: datetime,
) -> list[FeatureReport]:
    return build_chunk(
        engine, symbols, scope, inputs, write_method=write_method, dry_run=dry_run, now=now
    )


@flow(
    name=FLOW_NAME,
    flow_run_name=run_namer("features"),
    task_runner=ThreadPoolTaskRunner(max_workers=16),  # type: ignore[arg-type]
    validate_parameters=True,
)
@interruptible
def ml_features(
    days: int | None = None,
    start: date | None = None,
    end: date | None = None,
    symbols: list[str] | None = None,
    max_assets: int = 500,
    dry_run: bool = False,
    enforce_coverage: bool = True,
    coverage_targets: dict[str, float] | None = None,
    changed_since: datetime | None = None,
) -> FeaturesSummary:
    """Rebuild ``[start, end)`` or the last ``days`` (0 = all); with none, refresh what changed.

    ``symbols`` defaults to the active assets (at most ``max_assets``). The features suite
    measures coverage before and after over what was rebuilt (target ≥ 80 % of eligible cells
    overall; ``coverage_targets`` like ``{"features": 85, "features.vix": 90}``).
    ``changed_since`` (scheduled mode): take the source rows stamped from then on as changed
    instead of those since the saved state, which it leaves alone (a collector's
    ``refresh_features`` passes its run's start).
    """
    logger = get_run_logger()
    settings = load_settings()
    targets = {**settings.coverage_targets, **(coverage_targets or {})}
    series = catalog(settings.macro_series)
    validate_overrides(targets, {"macro": list(series)})
    now = datetime.now(UTC).replace(tzinfo=None)
    scheduled = days is None and start is None and end is None
    window = None if scheduled else plan_window(days, start, end, now=now, default_days=1)
    engine = open_database(settings)
    chosen = resolve_symbols(engine, symbols, max_assets)
    plan = plan_features(
        engine, series, chosen, None if window is None else (window.start, window.end),
        settings.gold_symbol, all_active=symbols is None, changed_since=changed_since,
    )  # fmt: skip
    label = "scheduled" if window is None else window.label
    w_start, w_end = plan.window
    logger.info("%s (%s): %d symbols to rebuild%s", label, plan.mode, len(plan.symbols),
                " (dry run)" if dry_run else "")  # fmt: skip
    before = measure_coverage(engine, SUITE, "before", w_start, w_end, plan.symbols, now, targets)
    chunks = chunk_symbols(
        plan.rows_per_symbol(now), settings.features_chunk_rows, settings.features_chunk_symbols
    )
    summary = FeaturesSummary(label, plan.mode, dry_run, len(plan.symbols), len(chunks),
                              plan.changed)  # fmt: skip
    if plan.symbols:
        inputs = load_inputs(
            engine, series, plan.symbols, w_start, w_end, settings.gold_symbol,
            interval=settings.price_interval,
        )  # fmt: skip
        summary.reports, summary.failures = run_chunks(
            build_features_chunk,
            chunks,
            # quote(): Prefect would otherwise walk the frames looking for futures.
            lambda chunk: (
                engine,
                chunk,
                quote(plan.scope),
                quote(inputs),
                settings.write_method,
                dry_run,
                now,
            ),
            settings,
            f"ml-features {label}",
        )
    if not dry_run and summary.total("inserted") >= settings.analyze_after_rows:
        analyze(engine, "ml_features_materialized")
    if plan.marks is not None and not dry_run and not summary.failures:
        save_marks(engine, plan.marks, plan.snapshot, now)
    create_table_artifact(summary.table_rows(), key="ml-features-symbols",
                          description=f"per symbol, {label}")  # fmt: skip
    create_markdown_artifact(summary.markdown(), key="ml-features-summary")
    logger.info("totals: %s", summary.totals)
    after = before if dry_run else measure_coverage(
        engine, SUITE, "after", w_start, w_end, plan.symbols, now, targets
    )  # fmt: skip
    summary.coverage = render(after, before)
    failed = chunks_failed(summary.failures, len(chunks), settings.chunk_retries)
    conclude(engine, FLOW_NAME, before, after, dry_run=dry_run,
             enforce_coverage=enforce_coverage, failed=failed)  # fmt: skip
    return summary
