"""Flow ``onchain-metrics``: daily network metrics into ``crypto_onchain_data``.

    prefect deployment run 'onchain-metrics/backfill' --param days=180
    coinfill run onchain --days 180                 # the same flow, in-process
    coinfill run onchain --days 180 --dry-run       # the plan: gaps, requests, sources

CoinMetrics' community API first (many assets per request, 10 requests / 6 s), blockchain.info
for Bitcoin days CoinMetrics does not deliver (asked alongside CoinMetrics' batches: the limits
are independent), Messari only with a key; every value's source is stored next to it.
``price_volatility_7d`` is computed from ``price_data_real`` for every asset with prices.
Gap-driven: only days some source can serve and that hold no value are fetched. The on-chain
suite measures values ÷ servable asset-days before and after.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import cast

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from sqlalchemy import Engine

from coinfill.db.onchain import save_availability, source_counts
from coinfill.onchain.backfill import choose_assets, collect, plan_run
from coinfill.onchain.clients import make_clients
from coinfill.onchain.collect import OnchainRunSummary, Sink, SourceResult
from coinfill.onchain.coverage import eligible_from
from coinfill.sources.faults import SourceError
from coinfill.tables import markdown_table
from coinfill.validation.report import SuiteReport, render
from flows.chunks import run_step
from flows.coverage import conclude, measure_coverage
from flows.lifecycle import interruptible
from flows.naming import run_namer
from flows.opening import open_run
from flows.refresh import refresh_features_after

FLOW_NAME = "onchain-metrics"
SUITE = "onchain"


@task(name="onchain-fetch", task_run_name="{label}", cache_policy=NO_CACHE)
def fetch_step(label: str, step: Callable[[], SourceResult]) -> SourceResult:
    return step()


# A task, so that the denominator is read while the first requests are in flight.
servable = task(name="onchain-servable", cache_policy=NO_CACHE)(eligible_from)
Eligible = dict[str, dict[str, list[date]]]


@flow(name=FLOW_NAME, flow_run_name=run_namer("onchain"), validate_parameters=True)
@interruptible
def onchain_metrics(
    days: int | None = None,
    start: date | None = None,
    end: date | None = None,
    symbols: list[str] | None = None,
    max_assets: int = 500,
    dry_run: bool = False,
    enforce_coverage: bool = True,
    coverage_targets: dict[str, float] | None = None,
    refresh_features: bool = False,
) -> OnchainRunSummary:
    """Collect on-chain metrics for ``[start, end)`` or the last ``days`` (0 = all history).

    Without any of them it runs the scheduled window (``COINFILL_ONCHAIN_SCHEDULED_DAYS``).
    ``symbols`` defaults to the active assets (at most ``max_assets``); ``dry_run`` asks the
    CoinMetrics catalogue and publishes the plan, writing nothing.
    """
    opening = open_run(days, start, end, coverage_targets, lambda s: s.onchain_scheduled_days)
    settings, targets, now, window, engine = opening
    summary = OnchainRunSummary(window.label, dry_run, "")
    chosen, ids = choose_assets(engine, symbols, max_assets, summary)
    clients = make_clients(settings)
    try:
        setup = plan_run(settings, engine, clients, chosen, ids, window, now, summary)
        summary.plan = setup.markdown(window.label, clients)
        create_markdown_artifact(summary.plan, key="onchain-metrics-plan")
        get_run_logger().info("plan:\n%s", summary.plan)

        def coverage(phase: str) -> PrefectFuture[SuiteReport]:
            entries = list(setup.entries)  # as they are now: the run learns 403s into them
            eligible = servable.submit(engine, entries, chosen, setup.first, setup.stop)
            return measure_coverage.submit(
                engine, SUITE, phase, window.start, window.end, chosen, now, targets,
                eligible_days=cast("Eligible", eligible),  # Prefect passes the future's result
            )  # fmt: skip

        measuring = coverage("before")  # measured while the first requests are in flight
        if not dry_run:
            sink = Sink(engine, now, ready=measuring.wait)  # no write before it is measured
            summary.results += collect(settings, clients, setup, sink, _step)
            save_availability(engine, setup.entries, now)  # with what the run learned (403s)
    finally:
        clients.close()
    before = measuring.result()
    after = before if dry_run else coverage("after").result()
    summary.coverage = render(after, before)
    _publish(engine, summary, chosen, setup.first, setup.stop)
    message = summary.failure_message()
    refresh_features_after(refresh_features, dry_run, now)
    conclude(
        engine, FLOW_NAME, before, after,
        dry_run=dry_run, enforce_coverage=enforce_coverage, failed=message,
    )  # fmt: skip
    return summary


def _step(label: str, source: str, step: Callable[[], SourceResult]) -> SourceResult:
    def failed(message: str, error: BaseException | None) -> SourceResult:
        fault = error.fault if isinstance(error, SourceError) else None
        return SourceResult(source, label, error=message, fault=fault)

    return run_step(fetch_step, label, step, failed)


def _publish(
    engine: Engine, summary: OnchainRunSummary, chosen: list[str], first: date, stop: date
) -> None:
    if summary.results:
        create_table_artifact(
            [r.as_row() for r in summary.results],
            key="onchain-metrics-steps",
            description=f"per request batch, chart and series, window {summary.window}",
        )
    per_source = source_counts(engine, chosen, first, stop)
    create_table_artifact(
        per_source, key="onchain-metrics-sources", description="values per metric and source"
    )
    summary.notes.append(
        "values per metric and source:\n\n" + "\n".join(markdown_table(per_source))
    )
    create_markdown_artifact(summary.markdown(), key="onchain-metrics-summary")
