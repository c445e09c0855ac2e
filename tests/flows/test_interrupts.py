"""SIGINT and SIGTERM against a real `coinfill run` process on MariaDB (DESIGN §10).

The CLI runs as users run it — its own process, its own temporary Prefect server (with its
database in a scratch PREFECT_HOME), chunks of one symbol each. Once some chunks are written
the test sends the signal and checks: the exit code (130/143), the time to exit, one
``interrupted:`` line and no traceback on stderr, the flow run Cancelled, every written symbol
complete (a chunk's write commits or rolls back whole), and a re-run completes the window.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, text

from coinfill.db.migrate import upgrade
from tests.helpers import real_prices, store_prices

pytestmark = pytest.mark.mysql

SYMBOLS = [f"T{i:02d}" for i in range(1, 25)]
HOURS = 3000
COINFILL = Path(sys.executable).with_name("coinfill")


@pytest.fixture
def interrupt_db(
    mysql_database: str, real_bars: pd.DataFrame, tmp_path: Path
) -> Iterator[tuple[str, Engine]]:
    from tests.conftest import _fresh_server_database

    engine = _fresh_server_database(mysql_database)
    upgrade(engine)
    btc = real_prices(real_bars, ["BTC"], hours=HOURS)
    store_prices(engine, pd.concat([btc.assign(symbol=s) for s in SYMBOLS], ignore_index=True))
    yield mysql_database, engine
    engine.dispose()


def _environment(url: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "COINFILL_"))}
    return env | {
        "COINFILL_DATABASE_URL": url,
        "COINFILL_LOCAL_API_URL": "",  # its own temporary API even where `make up` runs
        "COINFILL_CHUNK_SYMBOLS": "1",
        "COINFILL_MAX_PARALLEL_CHUNKS": "1",
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }


def _start(url: str, home: Path) -> subprocess.Popen[str]:
    args = [str(COINFILL), "run", "technical", "--days", "0", "--symbols", ",".join(SYMBOLS)]
    return subprocess.Popen(
        args,
        env=_environment(url, home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )


def _written(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT symbol, COUNT(*) FROM technical_indicators GROUP BY symbol")
        ).all()
    return {str(symbol): int(count) for symbol, count in rows}


def _wait_for_chunks(engine: Engine, process: subprocess.Popen[str], chunks: int) -> None:
    deadline = time.monotonic() + 240
    while len(_written(engine)) < chunks:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run wrote nothing in 240 s"
        time.sleep(0.1)


def _flow_run_state(home: Path) -> tuple[str, str]:
    with sqlite3.connect(home / "prefect.db") as db:
        return db.execute(
            "SELECT r.state_type, s.message FROM flow_run r "
            "JOIN flow_run_state s ON s.id = r.state_id ORDER BY r.created DESC LIMIT 1"
        ).fetchone()


@pytest.mark.parametrize(
    ("signum", "code", "to_group"),
    [(signal.SIGINT, 130, True), (signal.SIGTERM, 143, False)],
    ids=["ctrl-c-to-the-process-group", "sigterm-to-the-cli"],
)
def test_given_a_running_backfill_when_signalled_then_it_stops_cleanly_and_a_rerun_resumes(
    interrupt_db: tuple[str, Engine], tmp_path: Path, signum: int, code: int, to_group: bool
) -> None:
    url, engine = interrupt_db
    home = tmp_path / "prefect"
    process = _start(url, home)
    _wait_for_chunks(engine, process, 2)
    sent = time.monotonic()
    if to_group:
        os.killpg(process.pid, signum)
    else:
        os.kill(process.pid, signum)
    stdout, stderr = process.communicate(timeout=60)
    took = time.monotonic() - sent

    assert process.returncode == code, stderr
    assert took < 15, f"{took:.1f} s from the signal to exit"
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("interrupted: ") and "run it again to resume" in lines[0]
    assert "Traceback" not in stderr + stdout
    state, message = _flow_run_state(home)
    assert state == "CANCELLED"
    assert message.startswith("interrupted: ")
    written = _written(engine)
    assert 2 <= len(written) < len(SYMBOLS)
    assert set(written.values()) == {HOURS}  # whole chunks only

    rerun = subprocess.run(
        [str(COINFILL), "run", "technical", "--days", "0", "--symbols", ",".join(SYMBOLS)],
        env=_environment(url, home),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert _written(engine) == dict.fromkeys(SYMBOLS, HOURS)
