"""Shared fixtures: real databases (SQLite always, MariaDB/MySQL mandatory under CI=true,
PostgreSQL when reachable) and real price history from the bundled demo file."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, create_engine, text

from coinfill.db.engine import make_engine
from coinfill.db.migrate import upgrade
from coinfill.db.schema import metadata
from coinfill.demo import demo_bars

MYSQL_SERVER = os.environ.get("COINFILL_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306")
POSTGRES_SERVER = os.environ.get("COINFILL_TEST_POSTGRES_URL", "postgresql://root@127.0.0.1:5432")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _server_or_skip(url: str, what: str, mandatory: bool) -> Engine:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        message = f"{what} at {url} is not reachable: {exc}"
        if mandatory:
            pytest.fail(f"{message} (mandatory when CI=true)")
        pytest.skip(message)
    return engine


def _scratch_database(admin_url: str, server: str, what: str, mandatory: bool) -> Iterator[str]:
    """Create a uniquely named database on a server, yield its URL, drop it afterwards."""
    admin = _server_or_skip(admin_url, what, mandatory=mandatory)
    name = f"coinfill_test_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    yield f"{server}/{name}"
    force = " WITH (FORCE)" if admin.dialect.name == "postgresql" else ""
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}{force}"))
    admin.dispose()


@pytest.fixture(scope="session")
def mysql_database() -> Iterator[str]:
    """A scratch database on the MariaDB/MySQL server (mandatory under CI=true)."""
    yield from _scratch_database(MYSQL_SERVER + "/", MYSQL_SERVER, "MariaDB/MySQL", IN_CI)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A scratch database on PostgreSQL, when one is reachable."""
    yield from _scratch_database(
        POSTGRES_SERVER + "/postgres", POSTGRES_SERVER, "PostgreSQL", False
    )


def _fresh_server_database(url: str) -> Engine:
    """The session database, schema current, every table emptied, test triggers gone."""
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        if engine.dialect.name == "mysql":
            for trigger, *_ in conn.execute(text("SHOW TRIGGERS")).all():
                conn.execute(text(f"DROP TRIGGER `{trigger}`"))
        for table in reversed(metadata.sorted_tables):
            conn.execute(text(f"DELETE FROM {table.name}"))
    return engine


@pytest.fixture(params=["sqlite", "mysql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty, migrated database: each test runs on SQLite and on MariaDB."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'coinfill.db'}"
        upgrade(make_engine(url))
        return url
    url = request.getfixturevalue("mysql_database")
    _fresh_server_database(url).dispose()
    return str(url)


@pytest.fixture(params=["sqlite", "mysql", "postgres"])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Like ``db_url`` and PostgreSQL too (for the schema and upsert path)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'coinfill.db'}"
        upgrade(make_engine(url))
        return url
    url = request.getfixturevalue(f"{request.param}_database")
    _fresh_server_database(url).dispose()
    return str(url)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def real_bars() -> pd.DataFrame:
    """The bundled real Bitfinex hourly bars (BTC, ETH, LTC, XRP, EOS, 2017-10..2019-10)."""
    return demo_bars()
