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
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the provider imitations live with the tests

import pandas as pd  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from technical_bench import recreate_database  # noqa: E402

from coinfill.db.assets import add_assets  # noqa: E402
from coinfill.db.engine import make_engine  # noqa: E402
from coinfill.db.migrate import upgrade  # noqa: E402
from coinfill.db.schema import price_data_real  # noqa: E402
from coinfill.db.upsert import upsert  # noqa: E402
from coinfill.demo import demo_bars, price_rows_from_bars  # noqa: E402
from tests.fakes.fred_server import FakeFred, SeriesSpec  # noqa: E402

DEFAULT_URL = "mysql+pymysql://root@127.0.0.1:3306/coinfill_faults_bench"
COINFILL = Path(sys.executable).with_name("coinfill")
SYMBOLS = [f"T{i:02d}" for i in range(1, 25)]


def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def environment(url: str, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "COINFILL_"))}
    return env | {"COINFILL_DATABASE_URL": url, "PREFECT_HOME": str(home)} | extra


def run(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    began = time.monotonic()
    done = subprocess.run([str(COINFILL), *args], env=env, capture_output=True, text=True)
    lines = done.stderr.strip().splitlines()
    return {
        "seconds": round(time.monotonic() - began, 1),
        "in_flow": in_flow_seconds(done.stdout),
        "exit": done.returncode,
        "stderr_lines": len(lines),
        "first_line": lines[0][:160] if lines else "",
    }


def in_flow_seconds(log: str) -> float | None:
    """From the flow run's first log line to its "Finished in state" line (Prefect's console
    log, HH:MM:SS.mmm): the run without the command's start-up and shutdown."""
    stamps = [
        (datetime.strptime(line[:12], "%H:%M:%S.%f"), line)
        for line in log.splitlines()
        if re.match(r"\d\d:\d\d:\d\d\.\d{3} \|", line)
    ]
    begun = next((t for t, line in stamps if "Beginning flow run" in line), None)
    ended = next((t for t, line in reversed(stamps) if "Finished in state" in line), None)
    return None if begun is None or ended is None else round((ended - begun).total_seconds(), 1)


def store_prices(url: str, symbols: list[str], hours: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    btc = price_rows_from_bars(demo_bars().query("symbol == 'BTC'").head(hours))
    rows = pd.concat([btc.assign(symbol=s) for s in symbols], ignore_index=True)
    upsert(engine, price_data_real, rows, ("symbol", "timestamp"))
    engine.dispose()


def interrupt(url: str, home: Path, signum: int) -> dict[str, Any]:
    recreate_database(url)
    store_prices(url, SYMBOLS, 3000)
    engine = make_engine(url)
    env = environment(url, home, COINFILL_CHUNK_SYMBOLS="1", COINFILL_MAX_PARALLEL_CHUNKS="1")
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
    if signum == signal.SIGINT:
        os.killpg(process.pid, signum)
    else:
        os.kill(process.pid, signum)
    _, stderr = process.communicate()
    lines = stderr.strip().splitlines()
    engine.dispose()
    return {
        "seconds_to_exit": round(time.monotonic() - sent, 1),
        "exit": process.returncode,
        "stderr_lines": len(lines),
        "first_line": lines[0] if lines else "",
    }


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
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results-faults.json")
    options = parser.parse_args()
    url = options.database_url
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "prefect"
        sqlite = f"sqlite:///{tmp}/faults.db"
        store_prices(sqlite, ["BTC"], 200)
        assets = [{"symbol": f"A{i:03d}", "binance_symbol": f"A{i:03d}USDT"} for i in range(100)]
        add_assets(make_engine(sqlite), pd.DataFrame(assets).assign(is_active=True))
        # Warm-up: the first command with a new PREFECT_HOME creates Prefect's database (~7 s
        # more); a user pays that once, not per command.
        run(["run", "technical", "--symbols", "DOGEZ"], environment(sqlite, home))
        env = environment(sqlite, home, COINFILL_BINANCE_BASE_URL=closed_port())
        symbols = ",".join(a["symbol"] for a in assets)
        results["100 assets, closed port"] = run(
            ["run", "prices", "--days", "2", "--symbols", symbols], env
        )
        results["unknown symbol"] = run(
            ["run", "technical", "--symbols", "DOGEZ"], environment(sqlite, home)
        )
        spec = SeriesSpec("VIXCLS", "d", date(2024, 1, 2), base=15.0)
        with FakeFred([spec], api_key="right") as fred:
            results["wrong FRED key"] = run(
                ["run", "macro", "--days", "30"],
                environment(sqlite, home, COINFILL_FRED_BASE_URL=fred.url,
                            COINFILL_FRED_API_KEY="wrong"),
            )  # fmt: skip
        results["unreachable database"] = run(
            ["run", "technical"], environment("mysql+pymysql://root@127.0.0.1:1/x", home)
        )
        results["SIGINT to the process group"] = interrupt(url, home, signal.SIGINT)
        results["SIGTERM to the process"] = interrupt(url, home, signal.SIGTERM)
        results["read-only database user"] = run(
            ["run", "technical", "--days", "0", "--symbols", SYMBOLS[-1]],
            environment(read_only_user(url), home),
        )
    recreate_database(url, create=False)
    options.output.write_text(json.dumps(results, indent=2) + "\n")
    print("| case | seconds (whole command) | in flow | exit | stderr lines | first line |")
    print("|---|---:|---:|---:|---:|---|")
    for case, r in results.items():
        seconds = r.get("seconds", r.get("seconds_to_exit"))
        print(
            f"| {case} | {seconds} | {r.get('in_flow', '–')} | {r['exit']} | "
            f"{r['stderr_lines']} | {r['first_line']} |"
        )


if __name__ == "__main__":
    main()
