"""`coinfill db upgrade` on SQLite, MariaDB and PostgreSQL; old-system databases adopted."""

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from coinfill.db.engine import make_engine
from coinfill.db.migrate import current_revision, upgrade
from coinfill.db.schema import metadata

RUNBOOK_QUERIES = [
    """SELECT COUNT(*) total, SUM(CASE WHEN sma_20 IS NOT NULL THEN 1 ELSE 0 END) with_sma,
  SUM(CASE WHEN rsi_14 IS NOT NULL THEN 1 ELSE 0 END) with_rsi,
  SUM(CASE WHEN macd IS NOT NULL THEN 1 ELSE 0 END) with_macd FROM technical_indicators""",
    """SELECT indicator_name, COUNT(*) total, SUM(CASE WHEN value IS NOT NULL THEN 1 ELSE 0 END) with_data
  FROM macro_indicators GROUP BY indicator_name ORDER BY with_data DESC""",
    """SELECT COUNT(*) total, SUM(CASE WHEN active_addresses_24h IS NOT NULL THEN 1 ELSE 0 END) with_addr,
  SUM(CASE WHEN transaction_count_24h IS NOT NULL THEN 1 ELSE 0 END) with_txn,
  SUM(CASE WHEN exchange_net_flow_24h IS NOT NULL THEN 1 ELSE 0 END) with_flow FROM crypto_onchain_data""",
    """SELECT COUNT(*) total, SUM(CASE WHEN sma_20 IS NOT NULL THEN 1 ELSE 0 END) technical,
  SUM(CASE WHEN unemployment_rate IS NOT NULL THEN 1 ELSE 0 END) macro,
  SUM(CASE WHEN active_addresses_24h IS NOT NULL THEN 1 ELSE 0 END) onchain FROM ml_features_materialized""",
]


def test_given_empty_database_when_upgraded_then_every_table_and_view_exist(
    any_db_url: str,
) -> None:
    engine = make_engine(any_db_url)
    inspector = inspect(engine)
    assert set(metadata.tables) <= set(inspector.get_table_names())
    assert "onchain_metrics" in inspector.get_view_names()
    assert current_revision(engine) == "0006"
    assert upgrade(engine) == []  # a second upgrade changes nothing


def test_feature_table_has_fifty_plus_columns() -> None:
    assert len(metadata.tables["ml_features_materialized"].columns) > 50


@pytest.mark.parametrize("query", RUNBOOK_QUERIES)
def test_runbook_queries_run_unchanged(any_db_url: str, query: str) -> None:
    with make_engine(any_db_url).connect() as conn:
        conn.execute(text(query)).all()


OLD_TECHNICAL = """CREATE TABLE technical_indicators (
  id INTEGER PRIMARY KEY {auto}, symbol VARCHAR(20) NOT NULL, timestamp_iso DATETIME NOT NULL,
  current_price DOUBLE, sma_20 DOUBLE, sma_50 DOUBLE, rsi_14 DOUBLE, macd DOUBLE,
  macd_signal DOUBLE, macd_histogram DOUBLE, bollinger_upper DOUBLE, bollinger_middle DOUBLE,
  bollinger_lower DOUBLE, created_at DATETIME, updated_at DATETIME)"""


def _old_system(url: str) -> None:
    engine = make_engine(url)
    auto = "AUTO_INCREMENT" if engine.dialect.name == "mysql" else ""
    with engine.begin() as conn:
        conn.execute(text(OLD_TECHNICAL.format(auto=auto)))
        conn.execute(
            text(
                "INSERT INTO technical_indicators (symbol, timestamp_iso, current_price, sma_20) "
                "VALUES ('BTC', '2024-01-01 00:00:00', 42000.5, 41000.25)"
            )
        )


@pytest.fixture(params=["sqlite", "mysql"])
def old_system_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        server = request.getfixturevalue("mysql_database").rsplit("/", 1)[0]
        name = f"coinfill_old_{tmp_path.name[-12:].replace('-', '_')}"
        admin = make_engine(server + "/")
        with admin.begin() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            conn.execute(text(f"CREATE DATABASE {name}"))
        url = f"{server}/{name}"
        request.addfinalizer(lambda: _drop(admin, name))
    _old_system(url)
    return url


def _drop(admin: object, name: str) -> None:
    with admin.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))


def test_given_old_system_database_when_upgraded_then_its_rows_stay_and_keys_are_added(
    old_system_url: str,
) -> None:
    engine = make_engine(old_system_url)
    changes = upgrade(engine)
    assert "added unique key technical_indicators(symbol, timestamp_iso)" in changes
    assert not any(c == "created table technical_indicators" for c in changes)
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT symbol, current_price, sma_20 FROM technical_indicators")
        ).one()
    assert tuple(row) == ("BTC", 42000.5, 41000.25)
    assert upgrade(engine) == []


def test_given_old_table_with_duplicate_keys_when_upgraded_then_clear_error_and_data_intact(
    old_system_url: str,
) -> None:
    engine = make_engine(old_system_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO technical_indicators (symbol, timestamp_iso, current_price) "
                "VALUES ('BTC', '2024-01-01 00:00:00', 1.0)"
            )
        )
    with pytest.raises(Exception, match=r"cannot add the unique key \(symbol, timestamp_iso\)"):
        upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM technical_indicators")).scalar() == 2
