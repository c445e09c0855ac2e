"""Flow ``technical-indicators``: SMA, RSI, MACD and Bollinger Bands from ``price_data_real``.

Replaces ``kubectl set env deployment/technical-calculator BACKFILL_DAYS=N``:

    prefect deployment run 'technical-indicators/backfill' --param days=365
    coinfill run technical --days 365          # the same flow, in-process

Reads like the runbook: plan the window, pick the symbols, run the chunks (bounded
parallelism, Prefect retries), report per symbol, fail honestly.
"""

from __future__ import annotations

from datetime import date, datetime

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner
from sqlalchemy import Engine

from coinfill.assets import resolve_symbols
from coinfill.backfill import Window, chunked, symbols_per_chunk
from coinfill.db.bulkwrite import WriteMethod
from coinfill.db.queries import analyze
from coinfill.runs import RunSummary
from coinfill.technical import SymbolReport, backfill_chunk
from coinfill.validation.report import render
from flows.chunks import chunks_failed, run_chunks
from flows.coverage import conclude, measure_coverage
from flows.lifecycle import interruptible
from flows.naming import run_namer
from flows.opening import open_run
from flows.refresh import refresh_features_after

FLOW_NAME = "technical-indicators"
SUITE = "technical"


run_name = run_namer("technical")


@task(name="technical-chunk", cache_policy=NO_CACHE)
def compute_chunk(
    engine: Engine,
    symbols: list[str],
    window: Window,
    lookback_rows: int,
    write_method: WriteMethod,
    dry_run: bool,
    now: datetime,
) -> list[SymbolReport]:
    return backfill_chunk(
        engine,
        symbols,
        window,
        lookback_rows=lookback_rows,
        write_method=write_method,
        dry_run=dry_run,
        now=now,
    )


@flow(
    name=FLOW_NAME,
    flow_run_name=run_name,
    task_runner=ThreadPoolTaskRunner(max_workers=16),  # type: ignore[arg-type]
    validate_parameters=True,
)
@interruptible
def technical_indicators(
    days: int | None = None,
    start: date | None = None,
    end: date | None = None,
    symbols: list[str] | None = None,
    max_assets: int = 500,
    dry_run: bool = False,
    enforce_coverage: bool = True,
    coverage_targets: dict[str, float] | None = None,
    refresh_features: bool = False,
) -> RunSummary:
    """Compute technical indicators for ``[start, end)`` or the last ``days`` (0 = all).

    Without any of them it runs the scheduled trailing window (``COINFILL_SCHEDULED_DAYS``).
    ``symbols`` defaults to the active assets, at most ``max_assets``. The technical suite
    measures coverage before and after; a miss after the run fails it unless
    ``enforce_coverage`` is false. ``coverage_targets`` overrides targets for this run
    (``{"technical": 99}`` or ``{"technical.sma_50": 90}``), on top of
    ``COINFILL_COVERAGE_TARGETS``.
    """
    logger = get_run_logger()
    opening = open_run(days, start, end, coverage_targets, lambda s: s.scheduled_days)
    settings, targets, now, window, engine = opening
    chosen = resolve_symbols(engine, symbols, max_assets)
    before = measure_coverage(
        engine, SUITE, "before", window.start, window.end, chosen, now, targets
    )
    per_chunk = symbols_per_chunk(
        window,
        minimum=settings.chunk_symbols,
        target_rows=settings.chunk_rows,
        lookback_rows=settings.lookback_rows,
        now=now,
    )
    chunks = chunked(chosen, per_chunk)
    logger.info(
        "window %s: %d symbols in %d chunks%s",
        window.label,
        len(chosen),
        len(chunks),
        " (dry run)" if dry_run else "",
    )
    summary = RunSummary(window.label, dry_run, len(chosen), len(chunks))
    summary.reports, summary.failures = run_chunks(
        compute_chunk,
        chunks,
        lambda chunk: (
            engine,
            chunk,
            window,
            settings.lookback_rows,
            settings.write_method,
            dry_run,
            now,
        ),
        settings,
        f"technical-indicators {window.label}",
    )
    if not dry_run and summary.total("inserted") >= settings.analyze_after_rows:
        analyze(engine, "technical_indicators")
    create_table_artifact(
        summary.table_rows(),
        key="technical-indicators-symbols",
        description=f"per symbol, window {window.label}",
    )
    create_markdown_artifact(summary.markdown(), key="technical-indicators-summary")
    logger.info("totals: %s", summary.totals)
    after = (
        before
        if dry_run
        else measure_coverage(
            engine, SUITE, "after", window.start, window.end, chosen, now, targets
        )
    )
    summary.coverage = render(after, before)
    failed = chunks_failed(summary.failures, len(chunks), settings.chunk_retries)
    refresh_features_after(refresh_features, dry_run, now)
    conclude(
        engine, FLOW_NAME, before, after,
        dry_run=dry_run, enforce_coverage=enforce_coverage, failed=failed,
    )  # fmt: skip
    return summary
