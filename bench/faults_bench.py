"""The fault path as users meet it, timed and counted on whole `coinfill` processes.

    make bench-faults
    .venv/bin/python bench/faults_bench.py --database-url mysql+pymysql://root@127.0.0.1:3306/coinfill_faults_bench

- 100 assets against a closed port: seconds until `coinfill run prices` exits, and its
  stderr lines (target: under a minute, one line).
- SIGINT to the process group (a terminal's Ctrl-C) and SIGTERM to the process (Kubernetes)
  once two chunks of a technical backfill are written: seconds from the signal to exit, exit
  code, stderr lines (target: ≤ 15 s, 130/143, one line).
- stderr lines for a wrong FRED key, an unknown symbol, an unreachable database and a
  read-only database user (target: 1–2 each).

Each command starts its own temporary Prefect API (no PREFECT_API_URL), as on a laptop.
Results go to ``bench/results-faults.json``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the imitations: tests/fakes

import pandas as pd
from common import BENCH, Checks, Row, recreate_database, report
from process import COINFILL, Bench, run_command
from sqlalchemy import text
from sqlalchemy.engine import make_url

from coinfill.db.assets import add_assets
from coinfill.db.engine import make_engine
from coinfill.db.migrate import upgrade
from coinfill.db.schema import price_data_real
from coinfill.db.upsert import upsert
from coinfill.demo import demo_bars, price_rows_from_bars
from tests.fakes.fred_server import FakeFred, SeriesSpec

DEFAULT_URL = "mysql+pymysql://root@127.0.0.1:3306/coinfill_faults_bench"
SYMBOLS = [f"T{i:02d}" for i in range(1, 25)]


def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def run(case: str, args: list[str], env: dict[str, str], target: str, limit: float,
        lines: tuple[int, int] = (1, 2)) -> Row:  # fmt: skip
    """One failing command: its whole seconds, in-flow seconds, exit 2 and 1–2 stderr lines."""
    done = run_command(COINFILL, args, env, "own")
    stderr = done.stderr
    ok = done.whole_s <= limit and done.exit == 2 and lines[0] <= len(stderr) <= lines[1]
    print(f"{case}:\n{done.line()}", flush=True)
    return Row(case, "own", round(done.whole_s, 2), done.in_flow_s, target=target, ok=ok,
               first_line_s=done.first_line_s and round(done.first_line_s, 2), exit=done.exit,
               peak_rss_mib=round(done.peak_rss / 2**20),
               detail={"stderr_lines": len(stderr), "first_line": stderr[0][:160] if stderr
                       else ""})  # fmt: skip


def store_prices(url: str, symbols: list[str], hours: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    btc = price_rows_from_bars(demo_bars().query("symbol == 'BTC'").head(hours))
    rows = pd.concat([btc.assign(symbol=s) for s in symbols], ignore_index=True)
    upsert(engine, price_data_real, rows, ("symbol", "timestamp"))
    engine.dispose()


def interrupt(bench: Bench, url: str, signum: int) -> Row:
    """Seconds from the signal to exit once two chunks of a technical backfill are written."""
    recreate_database(url)
    store_prices(url, SYMBOLS, 3000)
    engine = make_engine(url)
    env = bench.env("own", COINFILL_DATABASE_URL=url, COINFILL_CHUNK_SYMBOLS="1",
                    COINFILL_MAX_PARALLEL_CHUNKS="1")  # fmt: skip
    args = [str(COINFILL), "run", "technical", "--days", "0", "--symbols", ",".join(SYMBOLS)]
    process = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    query = text("SELECT COUNT(DISTINCT symbol) FROM technical_indicators")
    while True:
        with engine.connect() as conn:
            if conn.execute(query).scalar_one() >= 2 or process.poll() is not None:
                break
        time.sleep(0.1)
    sent = time.monotonic()
    if process.poll() is not None:  # ended before two chunks were written: nothing to time
        _, stderr = process.communicate()
        print(f"signal {signum}: the backfill ended first, exit {process.returncode}: {stderr}")
        return Row(
            f"signal {signum} → exit",
            "own",
            None,
            None,
            target="the run to interrupt",
            ok=False,
            exit=process.returncode,
            detail={"stderr": stderr[-300:]},
        )
    if signum == signal.SIGINT:
        os.killpg(process.pid, signum)  # the CLI's own group: a terminal's Ctrl-C
    else:
        os.kill(process.pid, signum)
    _, stderr = process.communicate()
    seconds = round(time.monotonic() - sent, 2)
    lines = stderr.strip().splitlines()
    engine.dispose()
    code = 130 if signum == signal.SIGINT else 143
    name = "SIGINT to the process group" if signum == signal.SIGINT else "SIGTERM to the process"
    print(f"{name}: exit {process.returncode} {seconds} s after the signal", flush=True)
    return Row(
        f"{name} → exit (whole: seconds from the signal)",
        "own",
        seconds,
        None,
        target=f"≤ 15 s, exit {code}, 1 stderr line",
        exit=process.returncode,
        ok=seconds <= 15 and process.returncode == code and len(lines) == 1,
        detail={"stderr_lines": len(lines), "first_line": lines[0] if lines else ""},
    )


def read_only_user(url: str) -> str:
    parsed = make_url(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP USER IF EXISTS 'faults_bench_ro'@'%'"))
        conn.execute(text("CREATE USER 'faults_bench_ro'@'%' IDENTIFIED BY 'ro'"))
        conn.execute(text(f"GRANT SELECT ON `{parsed.database}`.* TO 'faults_bench_ro'@'%'"))
    engine.dispose()
    return parsed.set(username="faults_bench_ro", password="ro").render_as_string(False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--results", type=Path, default=BENCH / "results-faults.json")
    options = parser.parse_args()
    url = options.database_url
    rows: list[Row] = []
    one_line = "exit 2, 1–2 stderr lines"
    with Bench("faults", ("own",)) as bench:
        sqlite = f"sqlite:///{bench.root}/faults.db"
        store_prices(sqlite, ["BTC"], 200)
        assets = [{"symbol": f"A{i:03d}", "binance_symbol": f"A{i:03d}USDT"} for i in range(100)]
        add_assets(make_engine(sqlite), pd.DataFrame(assets).assign(is_active=True))
        local = {"COINFILL_DATABASE_URL": sqlite}
        bench.warm_up(
            ["run", "technical", "--days", "0", "--dry-run", "--no-enforce-coverage"], **local
        )
        symbols = ",".join(a["symbol"] for a in assets)
        env = bench.env("own", **local, COINFILL_BINANCE_BASE_URL=closed_port())
        rows.append(run("100 assets, closed port (run prices --days 2)",
                        ["run", "prices", "--days", "2", "--symbols", symbols], env,
                        f"< 60 s, {one_line}", 60.0))  # fmt: skip
        rows.append(run("unknown symbol", ["run", "technical", "--symbols", "DOGEZ"],
                        bench.env("own", **local), one_line, 60.0))  # fmt: skip
        spec = SeriesSpec("VIXCLS", "d", date(2024, 1, 2), base=15.0)
        with FakeFred([spec], api_key="right") as fred:
            env = bench.env("own", **local, COINFILL_FRED_BASE_URL=fred.url,
                            COINFILL_FRED_API_KEY="wrong")  # fmt: skip
            rows.append(run("wrong FRED key", ["run", "macro", "--days", "30"], env, one_line,
                            60.0))  # fmt: skip
        env = bench.env("own", COINFILL_DATABASE_URL="mysql+pymysql://root@127.0.0.1:1/x")
        rows.append(run("unreachable database", ["run", "technical"], env, one_line, 60.0))
        rows.append(interrupt(bench, url, signal.SIGINT))
        rows.append(interrupt(bench, url, signal.SIGTERM))
        env = bench.env("own", COINFILL_DATABASE_URL=read_only_user(url))
        rows.append(run("SELECT-only database user",
                        ["run", "technical", "--days", "0", "--symbols", SYMBOLS[-1]], env,
                        one_line, 60.0))  # fmt: skip
    recreate_database(url, create=False)
    report("faults", rows, Checks(), options.results, database=url.split("://")[0])


if __name__ == "__main__":
    main()
