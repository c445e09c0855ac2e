"""The technical bench's references: the naive way (and a check of the stored values against
it) and a deployment run on the local stack."""

from __future__ import annotations

import json
import re
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import ta
from common import Row, scalar
from process import PREFECT, clean_env, healthy, run_command
from sqlalchemy import Engine, create_engine

DEPLOYMENT = "technical-indicators/backfill"
UUID = re.compile(r"UUID: ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")
# Indicators without conventions to disagree on: both sides must give the same value.
COMPARED = ("sma_20", "sma_50", "bollinger_upper", "bollinger_middle", "bollinger_lower")


def naive(url: str, symbols: list[str]) -> int:
    """pandas.read_sql over SQLAlchemy+PyMySQL, ``ta`` per symbol, ``to_sql`` in 10k chunks."""
    engine = create_engine(url)
    names = ", ".join(f"'{s}'" for s in symbols)
    prices = pd.read_sql(
        "SELECT symbol, timestamp_iso, current_price FROM price_data_real "
        f"WHERE symbol IN ({names}) ORDER BY symbol, timestamp",
        engine,
    )
    frames = []
    for _, group in prices.groupby("symbol"):
        close = group["current_price"]
        macd = ta.trend.MACD(close, window_slow=26, window_fast=12, window_sign=9)
        bands = ta.volatility.BollingerBands(close, window=20, window_dev=2)
        frames.append(
            group.assign(
                sma_20=ta.trend.sma_indicator(close, window=20),
                sma_50=ta.trend.sma_indicator(close, window=50),
                rsi_14=ta.momentum.rsi(close, window=14),
                macd=macd.macd(),
                macd_signal=macd.macd_signal(),
                macd_histogram=macd.macd_diff(),
                bollinger_upper=bands.bollinger_hband(),
                bollinger_middle=bands.bollinger_mavg(),
                bollinger_lower=bands.bollinger_lband(),
            )
        )
    now = datetime.now(UTC).replace(tzinfo=None)
    result = pd.concat(frames).assign(created_at=now, updated_at=now)
    result.to_sql(
        "technical_naive", engine, if_exists="append", index=False, chunksize=10_000, method=None
    )
    engine.dispose()
    return len(result)


def naive_mismatches(engine: Engine) -> int:
    """Rows of the naive table the backfill has not stored, plus stored values that differ from
    ``ta``'s by more than 1e-6 relative (where both have one)."""
    join = (
        "FROM technical_naive n JOIN technical_indicators t "
        "ON t.symbol = n.symbol AND t.timestamp_iso = n.timestamp_iso"
    )
    differ = " OR ".join(
        f"(n.{c} IS NOT NULL AND t.{c} IS NOT NULL AND ABS(n.{c} - t.{c}) > 1e-6 * ABS(n.{c}))"
        for c in COMPARED
    )
    missing = scalar(engine, "SELECT COUNT(*) FROM technical_naive") - scalar(
        engine, f"SELECT COUNT(*) {join}"
    )
    return int(missing) + int(scalar(engine, f"SELECT COUNT(*) {join} WHERE {differ}"))


def _get(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return dict(json.load(answer))


def _at(stamp: object) -> datetime | None:
    return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")) if stamp else None


def deployment_run(api: str, home: Path, days: int = 2) -> Row | None:
    """``prefect deployment run … --watch`` on the local stack, launch to final state; the
    in-flow figure is the flow run's start → end as the API records them. None (and a note)
    when no stack answers: the bench does not start one. The run writes to the database the
    stack's worker and blocks name, not the bench's scratch database."""
    if not healthy(api):
        print(f"deployment run: skipped, no local stack answers on {api} (`make up` starts it)")
        return None
    args = ["deployment", "run", DEPLOYMENT, "--param", f"days={days}", "--watch"]
    env = clean_env(PREFECT_API_URL=api, PREFECT_HOME=str(home), PREFECT_CLI_PROMPT="false")
    run = run_command(PREFECT, args, env, "stack")
    found = UUID.search("\n".join(run.stdout))
    detail: dict[str, object] = {"exit": run.exit, "stdout_tail": run.stdout[-3:]}
    in_flow = None
    ok = False
    if found:
        flow_run = _get(f"{api}/flow_runs/{found.group(1)}")
        state = dict(flow_run.get("state") or {})
        began, ended = _at(flow_run.get("start_time")), _at(flow_run.get("end_time"))
        created = _at(flow_run.get("created"))
        if began and ended:
            in_flow = round((ended - began).total_seconds(), 2)
        detail = {"flow_run_id": found.group(1), "state": state.get("name"),
                  "created_to_start_s": round((began - created).total_seconds(), 2)
                  if began and created else None, "exit": run.exit}  # fmt: skip
        ok = state.get("type") == "COMPLETED"
    print(f"$ prefect {' '.join(args)}\n  whole {run.whole_s:.1f} s, in flow {in_flow} s, "
          f"{detail}")  # fmt: skip
    return Row(f"deployment run {DEPLOYMENT}, days={days}, launch → final state", "stack",
               round(run.whole_s, 2), in_flow, target="Completed", ok=ok, exit=run.exit,
               detail=detail)  # fmt: skip
