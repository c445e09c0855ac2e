"""Flow ``crypto-prices``: Binance klines (CoinGecko for assets Binance does not list) into
``price_data_real``.

    prefect deployment run 'crypto-prices/backfill' --param days=365
    coinfill run prices --days 30 --symbols BTC,ETH        # the same flow, in-process
    coinfill run prices --days 365 --dry-run               # the plan: gaps, requests, time

Gap-driven: it reads which bars of the interval grid are stored, asks only for the missing ones
and writes as it goes, in chunks of symbols (each a task). Binance's request weight (6,000 a
minute per IP) paces every request; the prices suite measures expected bars vs present before
and after. A symbol that fails (unknown, not listed, delisted, interval not offered) is named
and the run ends Failed; the other symbols are written.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.task_runners import ThreadPoolTaskRunner
from sqlalchemy import Engine

from coinfill.backfill import Window, chunked, to_ms
from coinfill.db.assets import add_missing_defaults, count_assets, set_history_starts
from coinfill.db.prices import grid_stats
from coinfill.db.queries import analyze
from coinfill.outcomes import stop_if_provider_stopped
from coinfill.prices.clients import make_clients
from coinfill.prices.collect import Clients, SymbolResult, collect_chunk
from coinfill.prices.coverage import expected_bars
from coinfill.prices.grid import align_up, interval_ms
from coinfill.prices.plan import PricePlan, SymbolPlan, plan_all
from coinfill.prices.select import choose_assets, learn_listings, unknown_symbol_message
from coinfill.prices.summary import PriceRunSummary
from coinfill.settings import Settings
from coinfill.validation.report import SuiteReport, render
from flows.chunks import run_chunks
from flows.coverage import conclude, measure_coverage
from flows.lifecycle import interruptible
from flows.naming import run_namer
from flows.opening import open_run
from flows.refresh import refresh_features_after

FLOW_NAME = "crypto-prices"
SUITE = "prices"


@task(name="prices-chunk", task_run_name="prices-{label}", cache_policy=NO_CACHE)
def fetch_chunk(
    label: str,
    plans: list[SymbolPlan],
    clients: Clients,
    engine: Engine,
    interval: str,
    step: int,
    now: datetime,
    settings: Settings,
    before_write: Callable[[], object],
) -> list[SymbolResult]:
    return collect_chunk(
        plans,
        clients,
        engine,
        interval,
        step,
        now,
        workers=settings.price_fetch_workers,
        batch_rows=settings.price_batch_rows,
        before_write=before_write,
    )


@flow(
    name=FLOW_NAME,
    flow_run_name=run_namer("prices"),
    task_runner=ThreadPoolTaskRunner(max_workers=16),  # type: ignore[arg-type]
    validate_parameters=True,
)
@interruptible
def crypto_prices(
    days: int | None = None,
    start: date | None = None,
    end: date | None = None,
    symbols: list[str] | None = None,
    interval: str | None = None,
    max_assets: int = 500,
    dry_run: bool = False,
    enforce_coverage: bool = True,
    coverage_targets: dict[str, float] | None = None,
    refresh_features: bool = False,
) -> PriceRunSummary:
    """Collect bars for ``[start, end)`` or the last ``days`` (0 = all the source has).

    Without any of them it runs the scheduled window (``COINFILL_PRICES_SCHEDULED_DAYS``).
    ``symbols`` defaults to the active assets with a price source (at most ``max_assets``);
    ``interval`` to ``COINFILL_PRICE_INTERVAL`` (1h); ``dry_run`` publishes the plan only.
    """
    logger = get_run_logger()
    opening = open_run(days, start, end, coverage_targets, lambda s: s.prices_scheduled_days)
    settings, targets, now, window, engine = opening
    interval = interval or settings.price_interval
    step = interval_ms(interval)
    now_ms = to_ms(now)
    summary = PriceRunSummary(window.label, interval, dry_run, "")
    if count_assets(engine) == 0 and not dry_run:
        added = add_missing_defaults(engine)
        summary.notes.append(f"the registry was empty: loaded the {added} bundled assets")
    assets, unknown = choose_assets(engine, symbols, max_assets)
    summary.symbols = len(assets) + len(unknown)
    summary.results += [SymbolResult(s, "", "", error=unknown_symbol_message(s)) for s in unknown]
    clients = make_clients(settings)
    if dry_run:
        # A dry run plans from the database alone: it needs no network.
        summary.notes.append(
            "dry run: planned from the database only — Binance listing dates not yet learned "
            "are not asked, so bars before a pair's listing may be counted as missing"
        )
    elif clients.binance is not None:
        assets, learned, probe_errors = learn_listings(
            clients.binance, assets, interval, step, settings.price_fetch_workers
        )
        if learned:
            set_history_starts(engine, learned)
        summary.results += [
            SymbolResult(s, "binance", "", requests=1, error=str(e), fault=e.fault)
            for s, e in probe_errors.items()
        ]
        stop_if_provider_stopped(
            [clients.binance.http.stopped], "symbols", len(probe_errors), len(assets)
        )
        assets = [a for a in assets if a.symbol not in probe_errors]
    start_ms = None if window.start is None else align_up(to_ms(window.start), step)
    stored = grid_stats(engine, [a.symbol for a in assets], start_ms, window.end_ms, step)
    plan = plan_all(
        assets,
        stored,
        start_ms,
        window.end_ms,
        interval,
        step,
        now_ms,
        weight_per_minute=settings.binance_weight_per_minute,
        coingecko_per_second=settings.coingecko_requests_per_minute / 60.0,
    )
    summary.plan = plan.markdown(window.label)
    summary.results += [
        SymbolResult(p.symbol, p.source or "", p.source_id, error=p.error)
        for p in plan.symbols
        if p.error
    ]
    create_markdown_artifact(summary.plan, key="crypto-prices-plan")
    logger.info("plan:\n%s", summary.plan)
    measured = [a.symbol for a in assets]

    def coverage(phase: str) -> PrefectFuture[SuiteReport]:
        bars = expected_bars(engine, measured, start_ms, window.end_ms, interval, now_ms)
        return measure_coverage.submit(
            engine, SUITE, phase, window.start, window.end, measured, now, targets,
            expected_rows=sum(bars.values()),
        )  # fmt: skip

    measuring = coverage("before")  # runs while the first requests are in flight
    if not dry_run and plan.to_fetch:
        summary.results += _run_chunks(
            settings, engine, plan, clients, interval, now, window, measuring.wait
        )
        learned_cg = {r.symbol: r.history_start_ms for r in summary.results if r.history_start_ms}
        set_history_starts(engine, {s: ms for s, ms in learned_cg.items() if ms is not None})
        if summary.total("inserted") >= settings.analyze_after_rows:
            analyze(engine, "price_data_real")
    before = measuring.result()
    after = before if dry_run else coverage("after").result()
    summary.coverage = render(after, before)
    if summary.results:
        create_table_artifact(
            [r.as_row() for r in sorted(summary.results, key=lambda r: r.symbol)],
            key="crypto-prices-symbols",
            description=f"per symbol, window {window.label}, {interval} bars",
        )
    create_markdown_artifact(summary.markdown(), key="crypto-prices-summary")
    refresh_features_after(refresh_features, dry_run, now)
    conclude(
        engine, FLOW_NAME, before, after,
        dry_run=dry_run, enforce_coverage=enforce_coverage, failed=summary.failure_message(),
    )  # fmt: skip
    return summary


def _run_chunks(
    settings: Settings,
    engine: Engine,
    plan: PricePlan,
    clients: Clients,
    interval: str,
    now: datetime,
    window: Window,
    before_write: Callable[[], object],
) -> list[SymbolResult]:
    """Chunks of symbols on the shared runner; a failed chunk names its symbols (the written
    batches of it stay)."""
    chunks = chunked([p.symbol for p in plan.to_fetch], settings.price_chunk_symbols)
    by_symbol = {p.symbol: p for p in plan.to_fetch}
    results, failures = run_chunks(
        fetch_chunk,
        chunks,
        lambda names: (
            names[0] if len(names) == 1 else f"{names[0]}..{names[-1]}",
            [by_symbol[s] for s in names],
            clients,
            engine,
            interval,
            plan.step,
            now,
            settings,
            before_write,
        ),
        settings,
        f"crypto-prices {window.label}",
    )
    for failure in failures:
        results += [
            SymbolResult(s, by_symbol[s].source or "", "", error=failure.error)
            for s in failure.symbols
        ]
    stopped = [c.http.stopped for c in (clients.binance, clients.coingecko) if c is not None]
    failed = sum(1 for r in results if r.error)
    stop_if_provider_stopped(stopped, "symbols", failed, len(plan.to_fetch))
    return results
