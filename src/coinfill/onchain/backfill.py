"""An on-chain run below its flow: which assets, what each source can serve and the plan, then
the planned steps — each provider in its own lane, so the run takes about as long as the
slowest provider's rate limit needs rather than the sum of them.

- CoinMetrics (the primary source) runs its batches one after another, Bitcoin's first; the
  next batch is asked as soon as the previous one's rows are in, while they are written
  (``coinfill.onchain.stagger``: at most two batches unfinished).
- blockchain.info runs in its own thread from the start (``coinfill.onchain.fallback``): it
  asks for Bitcoin's holes as soon as CoinMetrics' Bitcoin rows are in.
- Messari (only with a key) follows CoinMetrics' batches, as before; the series it
  is asked for are ones no free source serves, so it never competes with the others for a value.
- ``price_volatility_7d`` is computed last, once both lanes have written.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from coinfill.backfill import Window, day_span
from coinfill.db.assets import add_missing_defaults, count_assets
from coinfill.db.onchain import asset_ids, filled_days, load_availability, save_availability
from coinfill.onchain.availability import (
    AssetIds,
    Availability,
    by_series,
    hold_unavailable,
    learn_forbidden,
    sources_markdown,
)
from coinfill.onchain.clients import OnchainClients, availability
from coinfill.onchain.collect import (
    OnchainRunSummary,
    Sink,
    SourceResult,
    collect_coinmetrics,
    collect_messari,
    compute_volatility,
)
from coinfill.onchain.fallback import FallbackLane, RunStep
from coinfill.onchain.metrics import BLOCKCHAIN_INFO_SYMBOL, COINMETRICS, COMPUTED, MESSARI
from coinfill.onchain.plan import CoinMetricsRequest, OnchainPlan, plan_onchain
from coinfill.onchain.select import choose_symbols, unknown_coinmetrics_asset
from coinfill.onchain.stagger import Staggered
from coinfill.settings import Settings


def choose_assets(
    engine: Engine, symbols: list[str] | None, max_assets: int, summary: OnchainRunSummary
) -> tuple[list[str], dict[str, AssetIds]]:
    """The run's registered symbols and their ids; an empty registry gets the bundled assets
    (not in a dry run) and unknown symbols become failed rows of ``summary``, with their fix."""
    if count_assets(engine) == 0 and not summary.dry_run:
        added = add_missing_defaults(engine)
        summary.notes.append(f"the registry was empty: loaded the {added} bundled assets")
    chosen, unknown = choose_symbols(engine, symbols, max_assets)
    summary.results += [
        SourceResult("registry", s, error=f"unknown symbol {s}: not in crypto_assets — add it "
                     f"with `coinfill assets add {s} --coinmetrics <id>`")
        for s in unknown
    ]  # fmt: skip
    return chosen, asset_ids(engine, chosen)


@dataclass
class OnchainSetup:
    symbols: list[str]
    entries: list[Availability]  # what each source serves; learns 403s while the run goes
    plan: OnchainPlan
    first: date
    stop: date  # exclusive

    def markdown(self, window: str, clients: OnchainClients) -> str:
        return self.plan.markdown(window, clients.limits) + "\n\n" + sources_markdown(self.entries)


def plan_run(
    settings: Settings,
    engine: Engine,
    clients: OnchainClients,
    chosen: list[str],
    ids: dict[str, AssetIds],
    window: Window,
    now: datetime,
    summary: OnchainRunSummary,
) -> OnchainSetup:
    """Ask CoinMetrics' catalogue, keep refused series refused until their re-check, store what
    each source serves (not in a dry run) and plan the gaps of the window."""
    today = now.date()
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
    if not summary.dry_run:
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
    return OnchainSetup(chosen, entries, plan, first, stop)


def collect(
    settings: Settings,
    clients: OnchainClients,
    setup: OnchainSetup,
    sink: Sink,
    run: RunStep,
) -> list[SourceResult]:
    """Every planned step, through ``run``; results in the plan's order (CoinMetrics' batches,
    blockchain.info's charts, Messari's series, volatility)."""
    plan = setup.plan
    lane = FallbackLane(clients.blockchain_info, sink, plan)
    batches = dict(enumerate(plan.coinmetrics, start=1))
    btc = next((i for i, r in batches.items() if _holds_bitcoin(r.assets)), None)
    if btc is None:
        lane.settled()  # CoinMetrics is not asked for Bitcoin: the plan alone says what to fill
    # The lane's steps are task runs of this flow run, which lives in context variables.
    context = contextvars.copy_context()
    with (
        ThreadPoolExecutor(1, "onchain-blockchain-info") as pool,
        Staggered(2, "onchain-coinmetrics") as stagger,  # a batch's write beside the next fetch
    ):
        fallback = pool.submit(context.run, lane.run, run)
        try:
            started: dict[int, Future[SourceResult]] = {}
            for i in sorted(batches, key=lambda i: i != btc):  # Bitcoin's first: the lane waits
                _raise_if_failed(fallback, *started.values())
                step = partial(_coinmetrics, run, clients, sink, batches[i], i, len(batches))
                started[i] = stagger.start(partial(step, lane if i == btc else None))
            cm = {i: started[i].result() for i in sorted(started)}
            for i, result in cm.items():
                learn_forbidden(
                    setup.entries, batches[i].assets, result.forbidden, sink.now,
                    settings.unavailable_recheck_days,
                )  # fmt: skip
            messari = _messari(clients, plan, sink, run)
        except BaseException:
            lane.abandon()  # both pools still wait for the writes in flight
            raise
        results = list(cm.values()) + fallback.result() + messari
    step = partial(compute_volatility, sink, setup.symbols, plan.start, plan.end)
    return [*results, run("volatility", COMPUTED, step)]


def _coinmetrics(
    run: RunStep,
    clients: OnchainClients,
    sink: Sink,
    request: CoinMetricsRequest,
    i: int,
    batches: int,
    lane: FallbackLane | None,
    answered: Callable[[], None],
) -> SourceResult:
    """Batch ``i``; with ``lane``, the Bitcoin batch: its rows tell the lane the holes, and the
    lane may write once the step has ended — not when it never ran or its error ends the run
    (then the run abandons the lane)."""

    def rows_in(rows: pd.DataFrame) -> None:
        if lane is not None:
            lane.answered(rows)
        answered()

    step = partial(collect_coinmetrics, clients.coinmetrics, sink, request, rows_in)
    result = run(f"coinmetrics-{i}-of-{batches}", COINMETRICS, step)
    if lane is not None:
        lane.settled()
    return result


def _messari(
    clients: OnchainClients, plan: OnchainPlan, sink: Sink, run: RunStep
) -> list[SourceResult]:
    results: list[SourceResult] = []
    if clients.messari is None:
        return results
    for request in plan.messari:
        step = partial(collect_messari, clients.messari, sink, request)
        results.append(run(f"messari-{request.symbol}-{request.metric}", MESSARI, step))
        fault = results[-1].fault
        if fault is not None and fault.stops_provider:
            break  # a refused key (or an outage) refuses every request alike
    return results


def _holds_bitcoin(assets: tuple[AssetIds, ...]) -> bool:
    return any(a.symbol == BLOCKCHAIN_INFO_SYMBOL for a in assets)


def _raise_if_failed(*steps: Future[Any]) -> None:
    """A step or lane that ended with an error (a stop, a database refusal) ends the run now:
    no further batch starts."""
    for step in steps:
        if step.done() and step.exception() is not None:
            step.result()
