"""Every failure a user can cause or meet ends in one ``error:`` line (DESIGN §10).

Each case runs ``coinfill`` as its own process, as a user runs it, against the session's
Prefect API (a configured API, as in production) and real databases and fake providers, and
counts what reaches stderr: the error line and at most one hint; never a traceback.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from coinfill.db.assets import add_assets
from coinfill.db.engine import make_engine
from coinfill.db.migrate import upgrade
from tests.fakes.fred_server import FakeFred, SeriesSpec
from tests.helpers import real_prices, select_only_user, store_prices

COINFILL = Path(sys.executable).with_name("coinfill")


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def coinfill(*args: str, **env: str) -> tuple[int, str, str, float]:
    from prefect.settings import PREFECT_API_URL

    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "COINFILL_"))}
    base |= {"PREFECT_API_URL": str(PREFECT_API_URL.value()), "COINFILL_RATE_LIMITER": "local"}
    began = time.monotonic()
    done = subprocess.run(
        [str(COINFILL), *args], env=base | env, capture_output=True, text=True, timeout=300
    )
    return done.returncode, done.stdout, done.stderr, time.monotonic() - began


def assert_one_error(stderr: str, *expected: str) -> None:
    lines = stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, stderr
    assert lines[0].startswith("error: "), stderr
    assert len(lines) == 1 or lines[1].startswith("hint: ")
    assert "Traceback" not in stderr
    for text_ in expected:
        assert text_ in lines[0], lines[0]


@pytest.fixture
def sqlite_url(tmp_path: Path, real_bars: pd.DataFrame) -> str:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    engine = make_engine(url)
    upgrade(engine)
    store_prices(engine, real_prices(real_bars, ["BTC"], hours=200))
    return url


def test_unknown_symbol(sqlite_url: str) -> None:
    code, _, stderr, _ = coinfill(
        "run", "technical", "--symbols", "DOGEZ", COINFILL_DATABASE_URL=sqlite_url
    )
    assert code == 2
    assert_one_error(stderr, "unknown symbol(s): DOGEZ")


def test_a_database_without_the_schema_says_to_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    code, _, stderr, _ = coinfill("run", "technical", COINFILL_DATABASE_URL=url)
    assert code == 2
    assert_one_error(stderr, "has no coinfill schema", "coinfill db upgrade")


@pytest.mark.mysql
def test_unreachable_database_and_wrong_password(mysql_database: str) -> None:
    code, _, stderr, _ = coinfill(
        "run", "technical", COINFILL_DATABASE_URL="mysql+pymysql://root@127.0.0.1:1/none"
    )
    assert code == 2
    assert_one_error(stderr, "cannot connect to mysql+pymysql://root@127.0.0.1:1/none")
    wrong = make_url(mysql_database).set(password="not-the-password")
    code, _, stderr, _ = coinfill(
        "run", "technical", COINFILL_DATABASE_URL=wrong.render_as_string(hide_password=False)
    )
    assert code == 2
    assert_one_error(stderr, "database refused the login of user 'root'", "COINFILL_DATABASE_URL")
    assert "not-the-password" not in stderr


def test_wrong_fred_key_stops_at_once(sqlite_url: str) -> None:
    spec = SeriesSpec("VIXCLS", "d", pd.Timestamp("2024-01-02").date(), base=15.0)
    with FakeFred([spec], api_key="the-right-key") as fred:
        code, _, stderr, _ = coinfill(
            "run", "macro", "--days", "30", "--indicators", "VIX,10Y_YIELD,DXY,OIL_PRICE",
            COINFILL_DATABASE_URL=sqlite_url, COINFILL_FRED_BASE_URL=fred.url,
            COINFILL_FRED_API_KEY="a-wrong-key-123",
        )  # fmt: skip
        # Only the two series in flight (two chunks at once) were asked; the others were not.
        assert len(fred.requests) <= 2
    assert code == 2
    assert_one_error(stderr, "FRED refused the API key", "COINFILL_FRED_API_KEY")
    assert "a-wrong-key-123" not in stderr


@pytest.fixture
def hundred_assets(sqlite_url: str) -> str:
    engine = make_engine(sqlite_url)
    assets = [{"symbol": f"A{i:03d}", "binance_symbol": f"A{i:03d}USDT"} for i in range(100)]
    add_assets(engine, pd.DataFrame(assets).assign(is_active=True))
    return sqlite_url


def test_a_hundred_assets_against_a_closed_port_fail_within_a_minute(hundred_assets: str) -> None:
    closed = _closed_port_url()
    code, _, stderr, took = coinfill(
        "run", "prices", "--days", "2", "--symbols", ",".join(f"A{i:03d}" for i in range(100)),
        COINFILL_DATABASE_URL=hundred_assets, COINFILL_BINANCE_BASE_URL=closed,
    )  # fmt: skip
    assert code == 2
    assert_one_error(stderr, f"binance unreachable at {closed} since", "failures in a row")
    assert "100 of 100 symbols not collected" in stderr
    assert took < 60


def test_a_prices_dry_run_needs_no_network(hundred_assets: str) -> None:
    code, stdout, stderr, _ = coinfill(
        "run", "prices", "--days", "2", "--symbols", "A001,A002", "--dry-run",
        COINFILL_DATABASE_URL=hundred_assets, COINFILL_BINANCE_BASE_URL=_closed_port_url(),
    )  # fmt: skip
    assert code == 0, stderr
    assert stderr == ""
    assert "planned from the database only" in stdout


@pytest.fixture
def read_only_url(mysql_database: str, real_bars: pd.DataFrame) -> Iterator[str]:
    from tests.conftest import _fresh_server_database

    engine: Engine = _fresh_server_database(mysql_database)
    store_prices(engine, real_prices(real_bars, ["BTC"], hours=200))
    engine.dispose()
    with select_only_user(mysql_database) as url:
        yield url


@pytest.mark.mysql
def test_a_read_only_database_user_gets_the_privilege_and_the_table(read_only_url: str) -> None:
    code, _, stderr, _ = coinfill(
        "run", "technical", "--days", "0", "--symbols", "BTC", COINFILL_DATABASE_URL=read_only_url
    )
    assert code == 2
    assert_one_error(stderr, "INSERT", "technical_indicators")
    assert "ro-pass-1" not in stderr
