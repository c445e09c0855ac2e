"""blockchain.info beside CoinMetrics: Bitcoin's fallback charts are fetched while CoinMetrics
pages through its batches, not after them.

The two providers have independent limits (10 requests / 6 s; one request / 10 s), so a run
needs only the longer of the two — if blockchain.info does not wait for CoinMetrics. It depends
on one thing CoinMetrics decides: which Bitcoin days its answer leaves empty (the holes). So the
batch holding Bitcoin is asked first, and once its rows are in (before they are written) this
lane asks blockchain.info for the planned fallback days those rows lack. Only that batch is
waited for, and it is inside CoinMetrics' burst of 10: the lane starts a request or two after
the catalogue.

Precedence stays as in a run that asks blockchain.info after CoinMetrics: the lane writes only
after CoinMetrics' Bitcoin step has ended (written or failed), and only the days the table still
lacks then, read back from it. A day the answer held but its write lost is fetched then; nothing
is written once the run stops before that step ended.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import date
from functools import partial

import pandas as pd

from coinfill.db.onchain import filled_days
from coinfill.onchain.collect import Sink, SourceResult, day_ranges, series_rows
from coinfill.onchain.metrics import BLOCKCHAIN_INFO, BLOCKCHAIN_INFO_SYMBOL, BY_COLUMN
from coinfill.onchain.plan import OnchainPlan
from coinfill.onchain.stagger import Staggered
from coinfill.sources.blockchain_info import BlockchainInfoClient
from coinfill.sources.faults import SourceError

# Gap days closer than this are fetched in one blockchain.info request (a request costs 10 s).
MERGE_GAP_DAYS = 60

Step = Callable[[], SourceResult]
# Runs one step as the flow runs steps (a task run; a stop or a run-ending error is raised).
RunStep = Callable[[str, str, Step], SourceResult]


class FallbackLane:
    """The blockchain.info steps of one run. The CoinMetrics side calls :meth:`answered` with
    the Bitcoin batch's rows, :meth:`settled` once that step has ended, or :meth:`abandon`
    when the run stops; :meth:`run` (in its own thread) does the rest."""

    def __init__(self, client: BlockchainInfoClient, sink: Sink, plan: OnchainPlan) -> None:
        self.client, self.sink, self.plan = client, sink, plan
        self._changed = threading.Condition()
        self._holes: dict[str, list[date]] | None = None  # planned days the answer lacks
        self._settled = False  # CoinMetrics' Bitcoin step ended: the table says what is empty
        self._abandoned = False  # the run stops: nothing more starts or is written
        self._fetching = threading.Lock()

    def answered(self, rows: pd.DataFrame) -> None:
        """CoinMetrics' rows of the Bitcoin batch (``symbol, metric_date, <column>…``)."""
        btc = rows[rows["symbol"] == BLOCKCHAIN_INFO_SYMBOL]
        holes = {}
        for metric, days in self.plan.fallback.items():
            got = set(btc.loc[btc[metric].notna(), "metric_date"]) if metric in btc else set()
            holes[metric] = [d for d in days if d not in got]
        with self._changed:
            self._holes = holes
            self._changed.notify_all()

    def settled(self) -> None:
        """CoinMetrics' Bitcoin step has ended; without an answer (none planned, or it failed
        first) every planned day is a hole."""
        with self._changed:
            if self._holes is None:
                self._holes = {m: list(days) for m, days in self.plan.fallback.items()}
            self._settled = True
            self._changed.notify_all()

    def abandon(self) -> None:
        with self._changed:
            self._abandoned = True
            self._changed.notify_all()

    def _wait(self, ready: Callable[[], bool]) -> bool:
        """Until ``ready()``; ``False`` when the run stopped first. A stop after it became ready
        does not undo it: a step in flight still writes what it may (DESIGN §10)."""
        with self._changed:
            self._changed.wait_for(lambda: ready() or self._abandoned)
            return ready()

    def run(self, run: RunStep) -> list[SourceResult]:
        """One step per chart with days to fill, in the plan's order; a chart whose planned
        days the answer held waits for the table to confirm it (its write may have failed)."""
        if not self._wait(lambda: self._holes is not None):
            return []
        holes = self._holes or {}
        charted = [m for m in self.plan.fallback if BY_COLUMN[m].blockchain_chart]
        first = [m for m in charted if holes.get(m)]
        results = self._overlapping(run, [(m, holes[m]) for m in first])
        later = [m for m in charted if m not in first]
        if later and self._wait(lambda: self._settled):
            for metric in later:
                if self._abandoned:
                    break
                if self._still_empty(metric):
                    results.append(self._step(run, metric, [], lambda: None))
        return results

    def _overlapping(
        self, run: RunStep, charts: list[tuple[str, list[date]]]
    ) -> list[SourceResult]:
        """A chart's step waits for CoinMetrics' Bitcoin write before writing (behind the
        "before" coverage, which can take longer than blockchain.info's 10 s); the next chart's
        request does not wait with it."""
        with Staggered(max(1, len(charts)), "onchain-blockchain-chart") as stagger:
            steps = []
            for metric, early in charts:
                if self._abandoned:
                    break
                steps.append(stagger.start(partial(self._step, run, metric, early)))
            return [step.result() for step in steps]

    def _step(
        self, run: RunStep, metric: str, early: list[date], fetched: Callable[[], None]
    ) -> SourceResult:
        def step() -> SourceResult:
            return self._collect(metric, early, fetched)

        return run(f"blockchain-info-{metric}", BLOCKCHAIN_INFO, step)

    def _still_empty(self, metric: str) -> list[date]:
        """The planned days of ``metric`` the table lacks now (values are never removed, so
        this is the gap a run reading the table after CoinMetrics finds)."""
        symbol = BLOCKCHAIN_INFO_SYMBOL
        filled = filled_days(self.sink.engine, [symbol], self.plan.start, self.plan.end)
        have = filled.get((symbol, metric), set())
        return [d for d in self.plan.fallback.get(metric, []) if d not in have]

    def _collect(self, metric: str, early: list[date], fetched: Callable[[], None]) -> SourceResult:
        """Fetch ``early`` now (then set ``fetched``); once CoinMetrics' Bitcoin step ended,
        fetch what else the table lacks and write the days it lacks (what arrived before a
        failure included)."""
        chart = BY_COLUMN[metric].blockchain_chart or ""
        result = SourceResult(BLOCKCHAIN_INFO, f"{BLOCKCHAIN_INFO_SYMBOL} {chart}")
        began = time.monotonic()
        frames: list[pd.DataFrame] = []
        error = self._fetch(chart, early, frames, result)
        fetched()
        if not self._wait(lambda: self._settled):
            result.error = "not written: the run stopped before CoinMetrics' Bitcoin step ended"
            return result
        todo = self._still_empty(metric)
        if error is None:
            asked = set(early)
            error = self._fetch(chart, [d for d in todo if d not in asked], frames, result)
        if error is not None:
            result.failed(error, len(frames))
        result.what += f": {len(todo)} day(s)"
        wanted = set(todo)
        out = series_rows(
            BLOCKCHAIN_INFO_SYMBOL, metric, BLOCKCHAIN_INFO,
            [f[f["day"].isin(wanted)] for f in frames],
        )  # fmt: skip
        result.values = len(out)
        result.record(out, self.sink)
        result.seconds = time.monotonic() - began
        return result

    def _fetch(
        self, chart: str, days: Sequence[date], frames: list[pd.DataFrame], result: SourceResult
    ) -> SourceError | None:
        """Each year of each range into ``frames`` as it arrives; the error that ended it.
        One chart fetches at a time (the limit spaces them anyway), so the client's request
        count tells each step its own requests while another step waits to write."""
        with self._fetching:
            asked = self.client.requests
            try:
                for start, end in day_ranges(days, MERGE_GAP_DAYS):
                    for piece in self.client.chart(chart, start, end):
                        result.malformed += piece.malformed
                        frames.append(piece.values)
            except SourceError as exc:
                return exc
            finally:
                result.requests += self.client.requests - asked
        return None
