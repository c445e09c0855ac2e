"""Flow ``onchain-metrics``: daily network metrics into ``crypto_onchain_data``.

    prefect deployment run 'onchain-metrics/backfill' --param days=180
    coinfill run onchain --days 180                 # the same flow, in-process
    coinfill run onchain --days 180 --dry-run       # the plan: gaps, requests, sources

CoinMetrics' community API first (many assets per request, 10 requests / 6 s), blockchain.info
for Bitcoin days CoinMetrics does not deliver, Messari only with a key; every value's source is
stored next to it. ``price_volatility_7d`` is computed from ``price_data_real`` for every asset
with prices. Gap-driven: only days some source can serve and that hold no value are fetched.
The on-chain suite measures values ÷ servable asset-days before and after.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from functools import partial

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from sqlalchemy import Engine

from coinfill.backfill import day_span
from coinfill.db.assets import add_missing_defaults, count_assets
from coinfill.db.onchain import (
    asset_ids,
    filled_days,
    load_availability,
    save_availability,
    source_counts,
)
from coinfill.onchain.availability import (
    Availability,
    by_series,
    hold_unavailable,
    learn_forbidden,
    sources_markdown,
)
from coinfill.onchain.clients import OnchainClients, availability, make_clients
from coinfill.onchain.collect import (
    OnchainRunSummary,
    SourceResult,
    collect_coinmetrics,
    collect_fallback,
    collect_messari,
    compute_volatility,
)
from coinfill.onchain.coverage import eligible_from
from coinfill.onchain.metrics import (
    BLOCKCHAIN_INFO,
    BLOCKCHAIN_INFO_SYMBOL,
    BY_COLUMN,
    COINMETRICS,
    COMPUTED,
    MESSARI,
)
from coinfill.onchain.plan import OnchainPlan, fallback_days, gap_days, plan_onchain
from coinfill.onchain.select import choose_symbols, unknown_coinmetrics_asset
from coinfill.settings import Settings
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
    logger = get_run_logger()
    opening = open_run(days, start, end, coverage_targets, lambda s: s.onchain_scheduled_days)
    settings, targets, now, window, engine = opening
    today = now.date()
    summary = OnchainRunSummary(window.label, dry_run, "")
    if count_assets(engine) == 0 and not dry_run:
        added = add_missing_defaults(engine)
        summary.notes.append(f"the registry was empty: loaded the {added} bundled assets")
    chosen, unknown = choose_symbols(engine, symbols, max_assets)
    summary.results += [
        SourceResult("registry", s, error=f"unknown symbol {s}: not in crypto_assets — add it "
                     f"with `coinfill assets add {s} --coinmetrics <id>`")
        for s in unknown
    ]  # fmt: skip
    ids = asset_ids(engine, chosen)
    clients = make_clients(settings)
    try:
        entries, found = availability(clients, list(ids.values()), today)
        entries = hold_unavailable(
            entries, load_availability(engine, chosen), now, settings.unavailable_recheck_days
        )
        summary.results += [
            SourceResult(
                COINMETRICS, f"catalogue: asset '{a}'", error=unknown_coinmetrics_asset(a, ids)
            )
            for a in sorted(found.unknown)
        ]
        if not dry_run:
            save_availability(engine, entries, now)
        first, stop = day_span(window.start, window.end)
        first = first or min((e.first for e in entries if e.first), default=today)
        stop = min(stop or today, today)
        plan = plan_onchain(
            list(ids.values()), by_series(entries),
            filled_days(engine, chosen, first, stop), first, stop, today,
            assets_per_request=settings.coinmetrics_assets_per_request,
            page_size=settings.coinmetrics_page_size,
            fallback_after_days=settings.onchain_fallback_after_days,
            messari=clients.messari is not None,
        )  # fmt: skip
        summary.plan = (
            plan.markdown(window.label, clients.limits) + "\n\n" + sources_markdown(entries)
        )
        create_markdown_artifact(summary.plan, key="onchain-metrics-plan")
        logger.info("plan:\n%s", summary.plan)

        def coverage(phase: str) -> PrefectFuture[SuiteReport]:
            eligible = eligible_from(engine, entries, chosen, first, stop)
            return measure_coverage.submit(
                engine, SUITE, phase, window.start, window.end, chosen, now, targets,
                eligible_days=eligible,
            )  # fmt: skip

        measuring = coverage("before")
        if not dry_run:
            measuring.wait()
            summary.results += _collect(settings, engine, clients, plan, entries, chosen, now)
            save_availability(engine, entries, now)  # with what the run learned (403s)
    finally:
        clients.close()
    before = measuring.result()
    after = before if dry_run else coverage("after").result()
    summary.coverage = render(after, before)
    _publish(engine, summary, chosen, first, stop)
    message = summary.failure_message()
    refresh_features_after(refresh_features, dry_run, now)
    conclude(
        engine, FLOW_NAME, before, after,
        dry_run=dry_run, enforce_coverage=enforce_coverage, failed=message,
    )  # fmt: skip
    return summary


def _collect(
    settings: Settings,
    engine: Engine,
    clients: OnchainClients,
    plan: OnchainPlan,
    entries: list[Availability],
    chosen: list[str],
    now: datetime,
) -> list[SourceResult]:
    results = []
    for i, cm_request in enumerate(plan.coinmetrics, start=1):
        step = partial(collect_coinmetrics, clients.coinmetrics, engine, cm_request, now)
        result = _step(f"coinmetrics-{i}-of-{len(plan.coinmetrics)}", COINMETRICS, step)
        learn_forbidden(
            entries, cm_request.assets, result.forbidden, now, settings.unavailable_recheck_days
        )
        results.append(result)
    # blockchain.info fills the Bitcoin days CoinMetrics left empty once it had its chance.
    series = by_series(entries)
    btc = {k: v for k, v in series.items() if k[0] == BLOCKCHAIN_INFO_SYMBOL}
    if btc:
        filled = filled_days(engine, [BLOCKCHAIN_INFO_SYMBOL], plan.start, plan.end)
        after = settings.onchain_fallback_after_days
        for (symbol, metric), days in gap_days(btc, filled, plan.start, plan.end).items():
            todo = fallback_days(days, series, symbol, metric, now.date(), after)
            if todo and BY_COLUMN.get(metric) and BY_COLUMN[metric].blockchain_chart:
                step = partial(
                    collect_fallback, clients.blockchain_info, engine, symbol, metric, todo, now
                )
                results.append(_step(f"blockchain-info-{metric}", BLOCKCHAIN_INFO, step))
    if clients.messari is not None:
        for request in plan.messari:
            step = partial(collect_messari, clients.messari, engine, request, now)
            result = _step(f"messari-{request.symbol}-{request.metric}", MESSARI, step)
            results.append(result)
            if result.fault is not None and result.fault.stops_provider:
                break  # a refused key (or an outage) refuses every request alike
    step = partial(compute_volatility, engine, chosen, plan.start, plan.end, now)
    results.append(_step("volatility", COMPUTED, step))
    return results


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
