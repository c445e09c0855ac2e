"""Database refusals and transient failures come out as coinfill's errors, on real databases.

A user that may only SELECT, a schema older than the code, a read-only SQLite file, a lock
held by another connection: every write path raises ``DatabaseRefusedError`` (one line naming
the privilege, the table and the fix, never the password) or ``DatabaseTransientError``.
"""

from __future__ import annotations

import os
import pickle
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy.exc
from sqlalchemy import Engine, create_engine, event, text, update
from sqlalchemy.engine import make_url

from coinfill.db.engine import make_engine
from coinfill.db.history import record
from coinfill.db.migrate import upgrade
from coinfill.db.schema import technical_indicators
from coinfill.db.scopes import create_view
from coinfill.db.upsert import upsert
from coinfill.errors import (
    DatabaseRefusedError,
    DatabaseTransientError,
    DatabaseUnavailableError,
    is_retryable,
)
from coinfill.validation.report import ColumnCoverage, SuiteReport

KEYS = ("symbol", "timestamp_iso")
PASSWORD = "pw-S3cret-refusal"


def _rows(n: int = 3, symbol: str = "BTC", sma: float = 1.5) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": [symbol] * n,
            "timestamp_iso": pd.date_range("2024-01-01", periods=n, freq="h"),
            "current_price": np.arange(n, dtype=float) + 0.5,
            "sma_20": sma,
        }
    )


def _report() -> SuiteReport:
    column = ColumnCoverage("technical_indicators", "sma_20", 10, 10, 9, 90.0, True)
    return SuiteReport("technical", "technical_indicators", None, None, [column], [])


def _record(engine: Engine) -> int:
    return record(engine, f"run-{uuid.uuid4().hex[:6]}", "flow", "after", _report(), _now())


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _refused(caught: pytest.ExceptionInfo[Any], privilege: str, table: str) -> str:
    """The checks every refusal passes; returns the message for the specific ones."""
    error = caught.value
    message = str(error)
    assert isinstance(error, DatabaseRefusedError)
    assert (error.privilege, error.table) == (privilege, table)
    assert f"refused {privilege} on {table}" in message
    assert "\n" not in message and PASSWORD not in message
    assert not is_retryable(error) and error.stops_run
    assert error.__cause__ is not None  # the driver's error, for --debug
    copy = pickle.loads(pickle.dumps(error))  # Prefect may persist a failed state
    assert (type(copy), str(copy), copy.table) == (DatabaseRefusedError, message, table)
    return message


# --- MariaDB / MySQL --------------------------------------------------------------------


@dataclass(frozen=True)
class MySQLScratch:
    admin_url: str  # root on a database of this module's own
    ro_url: str  # a user that may only SELECT there
    database: str
    user: str


@contextmanager
def _mysql_scratch(server_url: str) -> Iterator[MySQLScratch]:
    """A fresh migrated database and a SELECT-only user on it, both dropped afterwards."""
    suffix = uuid.uuid4().hex[:8]
    database, user = f"coinfill_refusal_{suffix}", f"cf_ro_{suffix}"
    server = make_url(server_url)
    admin = create_engine(server.set(database=""), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {database}"))
        conn.execute(text(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{PASSWORD}'"))
        conn.execute(text(f"GRANT SELECT ON {database}.* TO '{user}'@'%'"))
    admin_url = server.set(database=database).render_as_string(hide_password=False)
    ro_url = server.set(database=database, username=user, password=PASSWORD)
    try:
        migrated = make_engine(admin_url)
        upgrade(migrated)
        migrated.dispose()
        yield MySQLScratch(admin_url, ro_url.render_as_string(hide_password=False), database, user)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {database}"))
            conn.execute(text(f"DROP USER IF EXISTS '{user}'@'%'"))
        admin.dispose()


@pytest.fixture(scope="module")
def mysql_scratch(mysql_database: str) -> Iterator[MySQLScratch]:
    with _mysql_scratch(mysql_database) as scratch:
        yield scratch


@pytest.fixture
def ro_mysql(mysql_scratch: MySQLScratch) -> Iterator[Engine]:
    engine = make_engine(mysql_scratch.ro_url)
    yield engine
    engine.dispose()


@pytest.fixture
def admin_mysql(mysql_scratch: MySQLScratch) -> Iterator[Engine]:
    engine = make_engine(mysql_scratch.admin_url)
    yield engine
    engine.dispose()


@pytest.mark.mysql
@pytest.mark.parametrize("method", ["auto", "statements"])
def test_given_select_only_user_when_technical_rows_upserted_then_refused_with_grant(
    ro_mysql: Engine, mysql_scratch: MySQLScratch, method: Any
) -> None:
    with pytest.raises(DatabaseRefusedError) as caught:
        upsert(ro_mysql, technical_indicators, _rows(), KEYS, method=method)
    message = _refused(caught, "INSERT", "technical_indicators")
    assert f"for user '{mysql_scratch.user}'" in message
    assert "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, DROP" in message
    assert f"ON {mysql_scratch.database}.* TO '{mysql_scratch.user}'@'%'" in message
    assert "COINFILL_DATABASE_URL" in message
    assert f"mysql+pymysql://{mysql_scratch.user}:***@127.0.0.1" in message
    assert caught.value.__cause__.args[0] == 1142  # type: ignore[union-attr]


@pytest.mark.mysql
def test_given_user_without_select_when_connectorx_reads_then_refused_select(
    mysql_scratch: MySQLScratch,
) -> None:
    user = f"cf_nosel_{uuid.uuid4().hex[:8]}"
    admin = make_engine(mysql_scratch.admin_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{PASSWORD}'"))
        conn.execute(
            text(f"GRANT SELECT ON {mysql_scratch.database}.crypto_assets TO '{user}'@'%'")
        )
    url = make_url(mysql_scratch.admin_url).set(username=user, password=PASSWORD)
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        with pytest.raises(DatabaseRefusedError) as caught:  # upsert reads the stored rows first
            upsert(engine, technical_indicators, _rows(), KEYS)
        assert "a user that may read it" in _refused(caught, "SELECT", "technical_indicators")
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP USER '{user}'@'%'"))
        admin.dispose()


@pytest.mark.mysql
def test_given_select_only_user_when_history_recorded_then_delete_refused_once(
    ro_mysql: Engine,
) -> None:
    with pytest.raises(DatabaseRefusedError) as caught:
        _record(ro_mysql)
    _refused(caught, "DELETE", "coverage_history")
    # Handlers written for SQLAlchemy's errors still match, with the driver error at hand.
    assert isinstance(caught.value, sqlalchemy.exc.OperationalError)
    error: Any = caught.value
    assert error.orig.args[0] == 1142 and error.__cause__ is error.orig


@pytest.mark.mysql
def test_given_select_only_user_when_pandas_writes_through_engine_then_refusal_is_the_cause(
    ro_mysql: Engine,
) -> None:
    frame = _rows().assign(created_at=_now(), updated_at=_now())
    # pandas wraps every SQLAlchemyError (ours are SQLAlchemy's classes too) in its own.
    with pytest.raises(pd.errors.DatabaseError) as wrapped:
        frame.to_sql("technical_indicators", ro_mysql, if_exists="append", index=False)
    assert isinstance(wrapped.value.__cause__, DatabaseRefusedError)
    _refused(
        pytest.ExceptionInfo.from_exception(wrapped.value.__cause__),
        "INSERT",
        "technical_indicators",
    )


@pytest.mark.mysql
def test_given_select_only_user_when_view_created_then_dbapi_fallbacks_still_catch_it(
    ro_mysql: Engine,
) -> None:
    # gxrun falls back to a query when CREATE VIEW is refused: it catches DBAPIError.
    with pytest.raises(sqlalchemy.exc.DBAPIError) as caught:
        create_view(ro_mysql, f"v_{uuid.uuid4().hex[:6]}", "SELECT 1 AS x")
    error: Any = caught.value
    assert isinstance(error, DatabaseRefusedError) and error.table
    _refused(caught, "CREATE VIEW", error.table)


@pytest.mark.mysql
def test_given_wrong_password_when_engine_made_then_unavailable_names_user_not_password(
    mysql_scratch: MySQLScratch,
) -> None:
    url = make_url(mysql_scratch.ro_url).set(password="wrong-" + PASSWORD)
    with pytest.raises(DatabaseUnavailableError) as caught:
        make_engine(url.render_as_string(hide_password=False))
    message = str(caught.value)
    assert f"login of user '{mysql_scratch.user}'" in message
    assert "COINFILL_DATABASE_URL" in message and PASSWORD not in message


@pytest.mark.mysql
def test_given_schema_older_than_code_when_written_then_refused_with_upgrade_hint(
    mysql_database: str,
) -> None:
    with _mysql_scratch(mysql_database) as scratch:
        engine = make_engine(scratch.admin_url)
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE technical_indicators DROP COLUMN sma_20"))
            conn.execute(text("DROP TABLE coverage_history"))
        rows = _rows()
        nothing_stored = rows.iloc[:0]
        with pytest.raises(DatabaseRefusedError) as caught:
            upsert(engine, technical_indicators, rows, KEYS, existing=nothing_stored)
        message = _refused(caught, "INSERT", "technical_indicators")
        assert "sma_20" in message and "coinfill db upgrade" in message
        with pytest.raises(DatabaseRefusedError) as missing:
            _record(engine)
        message = _refused(missing, "DELETE", "coverage_history")
        assert "coverage_history" in message and "coinfill db upgrade" in message
        engine.dispose()


def _lock_wait_of_one_second(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def short_wait(dbapi_connection: Any, record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
        cursor.close()


@pytest.mark.mysql
def test_given_row_locked_by_another_session_when_written_then_transient(
    admin_mysql: Engine, mysql_scratch: MySQLScratch
) -> None:
    symbol = f"L{uuid.uuid4().hex[:6]}"
    upsert(admin_mysql, technical_indicators, _rows(symbol=symbol), KEYS)
    waiting = make_engine(mysql_scratch.admin_url, check=False)  # no connection pooled yet
    _lock_wait_of_one_second(waiting)
    t = technical_indicators
    with admin_mysql.begin() as holder:
        holder.execute(update(t).where(t.c.symbol == symbol).values(sma_20=9.0))
        # the bulk writer's raw connection ...
        with pytest.raises(DatabaseTransientError) as bulk:
            upsert(waiting, t, _rows(symbol=symbol, sma=2.5), KEYS)
        # ... and a statement through SQLAlchemy
        with pytest.raises(DatabaseTransientError) as core, waiting.begin() as conn:
            conn.execute(update(t).where(t.c.symbol == symbol).values(sma_20=3.0))
    for caught in (bulk, core):
        assert is_retryable(caught.value) and "lock wait timeout" in str(caught.value)
        assert "technical_indicators" in str(caught.value)
        assert caught.value.__cause__.args[0] == 1205  # type: ignore[union-attr]
    assert isinstance(core.value, sqlalchemy.exc.OperationalError)
    # the lock is gone: the same write now succeeds on the same engine
    assert upsert(waiting, t, _rows(symbol=symbol, sma=2.5), KEYS).updated == 3
    waiting.dispose()


@pytest.mark.mysql
def test_given_two_sessions_locking_crosswise_when_written_then_deadlock_is_transient(
    admin_mysql: Engine, mysql_scratch: MySQLScratch
) -> None:
    first, second = f"D{uuid.uuid4().hex[:6]}", f"E{uuid.uuid4().hex[:6]}"
    upsert(admin_mysql, technical_indicators, pd.concat([_rows(1, first), _rows(1, second)]), KEYS)
    other = make_engine(mysql_scratch.admin_url)
    t = technical_indicators
    outcome: list[BaseException | None] = []
    locked = threading.Event()

    def crosswise() -> None:
        try:
            with other.begin() as conn:
                conn.execute(update(t).where(t.c.symbol == second).values(sma_20=1.0))
                locked.set()
                conn.execute(update(t).where(t.c.symbol == first).values(sma_20=1.0))
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    errors: list[BaseException] = []
    with admin_mysql.connect() as conn:
        conn.execute(update(t).where(t.c.symbol == first).values(sma_20=2.0))
        worker = threading.Thread(target=crosswise)
        worker.start()
        assert locked.wait(10)
        try:
            conn.execute(update(t).where(t.c.symbol == second).values(sma_20=2.0))
            conn.commit()
        except DatabaseTransientError as exc:
            errors.append(exc)
            conn.rollback()
        worker.join(30)
    errors += [exc for exc in outcome if exc is not None]
    other.dispose()
    assert len(errors) == 1, errors  # InnoDB picks one victim; the other commits
    assert isinstance(errors[0], DatabaseTransientError) and "deadlock" in str(errors[0])
    assert errors[0].__cause__.args[0] == 1213  # type: ignore[union-attr]


@pytest.mark.mysql
def test_given_server_killed_connection_when_used_again_then_pool_recovers(
    admin_mysql: Engine, mysql_scratch: MySQLScratch
) -> None:
    admin = make_engine(mysql_scratch.admin_url)
    with admin_mysql.connect() as conn:
        conn.execute(text("SELECT 1"))  # one pooled connection ...
        connection_id = conn.execute(text("SELECT CONNECTION_ID()")).scalar()
    with admin.connect() as killer:
        killer.execute(text(f"KILL {connection_id}"))  # ... killed while idle
    with admin_mysql.connect() as conn:  # pool_pre_ping replaces it silently
        assert conn.execute(text("SELECT 1")).scalar() == 1
        connection_id = conn.execute(text("SELECT CONNECTION_ID()")).scalar()
        with admin.connect() as killer:
            killer.execute(text(f"KILL {connection_id}"))  # killed while checked out
        with pytest.raises(DatabaseTransientError) as caught:
            conn.execute(text("SELECT 1"))
    assert caught.value.connection_invalidated  # type: ignore[attr-defined]
    with admin_mysql.connect() as conn:  # and the pool hands out a working one
        assert conn.execute(text("SELECT 1")).scalar() == 1
    admin.dispose()


# --- PostgreSQL -------------------------------------------------------------------------


@pytest.fixture
def ro_postgres(postgres_database: str) -> Iterator[tuple[Engine, str]]:
    """A role that may only SELECT in the (migrated) session database; dropped afterwards."""
    owner = make_engine(postgres_database)
    upgrade(owner)
    role = f"cf_ro_{uuid.uuid4().hex[:8]}"
    with owner.begin() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'"))
        conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {role}"))
        conn.execute(text(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"))
    url = make_url(postgres_database).set(username=role, password=PASSWORD)
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        yield engine, role
    finally:
        engine.dispose()
        with owner.begin() as conn:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
        owner.dispose()


@pytest.mark.postgres
def test_given_role_without_insert_when_postgres_written_then_refused_with_grant(
    ro_postgres: tuple[Engine, str],
) -> None:
    engine, role = ro_postgres
    with pytest.raises(DatabaseRefusedError) as caught:
        upsert(engine, technical_indicators, _rows(), KEYS)
    message = _refused(caught, "INSERT", "technical_indicators")
    assert f"for role '{role}'" in message
    assert f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}" in (
        message
    )
    assert caught.value.__cause__.pgcode == "42501"  # type: ignore[union-attr]
    with pytest.raises(DatabaseRefusedError) as history:
        _record(engine)
    _refused(history, "DELETE", "coverage_history")
    assert isinstance(history.value, sqlalchemy.exc.ProgrammingError)


# --- SQLite -----------------------------------------------------------------------------


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    path = tmp_path / "coinfill.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


def test_given_read_only_sqlite_uri_when_written_then_refused(sqlite_file: Path) -> None:
    engine = make_engine(f"sqlite:///file:{sqlite_file}?mode=ro&uri=true")
    with pytest.raises(DatabaseRefusedError) as caught:
        upsert(engine, technical_indicators, _rows(), KEYS)
    message = _refused(caught, "INSERT", "technical_indicators")
    assert "read-only" in message and "mode=ro" in message and str(sqlite_file) in message
    with pytest.raises(DatabaseRefusedError) as history:
        _record(engine)
    _refused(history, "DELETE", "coverage_history")
    engine.dispose()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes files whatever their mode")
def test_given_sqlite_file_mode_0444_when_written_then_refused(sqlite_file: Path) -> None:
    sqlite_file.chmod(0o444)
    engine = make_engine(f"sqlite:///{sqlite_file}")
    with pytest.raises(DatabaseRefusedError) as caught:
        upsert(engine, technical_indicators, _rows(), KEYS)
    assert "read-only" in _refused(caught, "INSERT", "technical_indicators")
    engine.dispose()


def test_given_sqlite_file_locked_by_another_writer_when_written_then_transient(
    sqlite_file: Path,
) -> None:
    holder = make_engine(f"sqlite:///{sqlite_file}")
    waiting = make_engine(f"sqlite:///{sqlite_file}", check=False)  # no connection pooled yet

    @event.listens_for(waiting, "connect")
    def short_busy_timeout(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout = 100")

    with holder.connect() as conn:
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # holds the write lock
        with pytest.raises(DatabaseTransientError) as bulk:
            upsert(waiting, technical_indicators, _rows(), KEYS)
        with pytest.raises(DatabaseTransientError) as core:
            _record(waiting)
        conn.rollback()
    for caught in (bulk, core):
        assert is_retryable(caught.value) and "busy" in str(caught.value)
    assert _record(waiting) == 1  # lock released: the same write goes through
    holder.dispose()
    waiting.dispose()


@pytest.mark.postgres
def test_given_postgres_connection_terminated_when_used_again_then_pool_recovers(
    postgres_database: str,
) -> None:
    engine, killer = make_engine(postgres_database), make_engine(postgres_database)
    with engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    with killer.connect() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend({pid})"))
    with engine.connect() as conn:  # pool_pre_ping (a cursor of ours) replaces it silently
        assert conn.execute(text("SELECT 1")).scalar() == 1
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        with killer.connect() as other:
            other.execute(text(f"SELECT pg_terminate_backend({pid})"))
        with pytest.raises(DatabaseTransientError) as caught:  # no SQLSTATE: SQLAlchemy's verdict
            conn.execute(text("SELECT 1"))
    assert caught.value.connection_invalidated  # type: ignore[attr-defined]
    assert "connection lost during SELECT" in str(caught.value) and is_retryable(caught.value)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1
    engine.dispose()
    killer.dispose()
