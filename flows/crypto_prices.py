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

from collections import deque
from collections.abc import Callable
from datetime import UTC, date, datetime
from uuid import UUID

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture, as_completed
from prefect.task_runners import ThreadPoolTaskRunner
from sqlalchemy import Engine

from coinfill.backfill import Window, chunked, plan_window, to_ms
from coinfill.config import database_url
from coinfill.db.assets import add_missing_defaults, count_assets, set_history_starts
from coinfill.db.engine import make_engine
from coinfill.db.prices import grid_stats
from coinfill.db.queries import analyze
from coinfill.macro.catalog import catalog
from coinfill.prices.collect import Clients, SymbolResult, collect_chunk
from coinfill.prices.coverage import expected_bars
from coinfill.prices.grid import align_up, interval_ms
from coinfill.prices.plan import PricePlan, SymbolPlan, plan_all
from coinfill.prices.select import choose_assets, learn_listings, unknown_symbol_message
from coinfill.prices.summary import PriceRunSummary
from coinfill.secrets import optional_secret
from coinfill.settings import Settings, load_settings
from coinfill.sources.binance import BinanceClient
from coinfill.sources.binance_weight import WeightBudget
from coinfill.sources.coingecko import CoinGeckoClient
from coinfill.sources.ratelimit import global_limit, make_limiter
from coinfill.validation.report import SuiteReport, render
from expectations.contracts import validate_overrides
from flows.coverage import conclude, measure_coverage
from flows.naming import run_namer
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
    settings = load_settings()
    targets = {**settings.coverage_targets, **(coverage_targets or {})}
    validate_overrides(targets, {"macro": list(catalog(settings.macro_series))})
    interval = interval or settings.price_interval
    step = interval_ms(interval)
    now = datetime.now(UTC).replace(tzinfo=None)
    now_ms = to_ms(now)
    window = plan_window(days, start, end, now=now, default_days=settings.prices_scheduled_days)
    engine = make_engine(database_url(settings))
    summary = PriceRunSummary(window.label, interval, dry_run, "")
    if count_assets(engine) == 0 and not dry_run:
        added = add_missing_defaults(engine)
        summary.notes.append(f"the registry was empty: loaded the {added} bundled assets")
    assets, unknown = choose_assets(engine, symbols, max_assets)
    summary.symbols = len(assets) + len(unknown)
    summary.results += [SymbolResult(s, "", "", error=unknown_symbol_message(s)) for s in unknown]
    clients = _clients(settings)
    if clients.binance is not None:
        assets, learned, probe_errors = learn_listings(
            clients.binance, assets, interval, step, settings.price_fetch_workers
        )
        if learned and not dry_run:
            set_history_starts(engine, learned)
        summary.results += [
            SymbolResult(s, "binance", "", requests=1, error=e) for s, e in probe_errors.items()
        ]
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


def _clients(settings: Settings) -> Clients:
    mode = settings.rate_limiter
    weight = settings.binance_weight_per_minute
    shared = global_limit("binance", weight / 60.0, mode, burst=weight)
    budget = WeightBudget(weight, base=shared)
    key = optional_secret(
        block=settings.coingecko_api_key_block,
        credential=(settings.credentials_block, "coingecko_api_key"),
        env=settings.coingecko_api_key,
    )
    limiter = make_limiter("coingecko", settings.coingecko_requests_per_minute / 60.0, mode)
    timeout = settings.price_timeout_seconds
    return Clients(
        BinanceClient(settings.binance_base_url, budget, timeout=timeout),
        CoinGeckoClient(settings.coingecko_base_url, limiter, api_key=key, timeout=timeout),
    )


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
    """Chunks of symbols as tasks, a bounded number in flight; a failed chunk names its
    symbols (the written batches of it stay)."""
    chunks = chunked([p.symbol for p in plan.to_fetch], settings.price_chunk_symbols)
    by_symbol = {p.symbol: p for p in plan.to_fetch}
    progress = create_progress_artifact(0.0, description=f"crypto-prices {window.label}")
    pending: deque[list[str]] = deque(chunks)
    in_flight: dict[PrefectFuture[list[SymbolResult]], list[str]] = {}
    results: list[SymbolResult] = []
    done = 0
    while pending or in_flight:
        while pending and len(in_flight) < settings.max_parallel_chunks:
            names = pending.popleft()
            label = names[0] if len(names) == 1 else f"{names[0]}..{names[-1]}"
            future = fetch_chunk.submit(
                label, [by_symbol[s] for s in names], clients, engine, interval,
                plan.step, now, settings, before_write,
            )  # fmt: skip
            in_flight[future] = names
        future = next(as_completed(list(in_flight)))
        names = in_flight.pop(future)
        future.wait()
        if future.state.is_completed():
            results += future.result()
        else:
            error = future.state.message or "failed"
            results += [SymbolResult(s, by_symbol[s].source or "", "", error=error) for s in names]
            _stop_on_configuration_error(error, pending)
        done += 1
        if isinstance(progress, UUID):
            update_progress_artifact(progress, 100.0 * done / len(chunks))
    return results


def _stop_on_configuration_error(error: str, pending: deque[list[str]]) -> None:
    """A refused location (451) or key fails every symbol alike: stop instead of repeating."""
    if "COINFILL_BINANCE_BASE_URL" in error or "COINFILL_COINGECKO_API_KEY" in error:
        pending.clear()
