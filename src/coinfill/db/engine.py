"""Engines from a URL, with the errors a user can act on instead of driver tracebacks.

Every engine classifies database errors once (:mod:`coinfill.db.errors`): statements run by
SQLAlchemy (Core, ``engine.begin()``, pandas over the engine) through its ``handle_error``
event; statements run on a DBAPI cursor of ``engine.raw_connection()`` (the bulk writers)
through the driver's cursor class, which translates only when SQLAlchemy is not the caller.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError

from coinfill.db.errors import classify_cursor_error, classify_error, compatible
from coinfill.errors import CoinfillError, ConfigurationError, DatabaseUnavailableError

SUPPORTED = ("mysql", "mariadb", "sqlite", "postgresql")


def parse_url(raw: str) -> URL:
    """Parse and check a database URL; the message never contains the password."""
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigurationError(
            "COINFILL_DATABASE_URL is not a database URL; expected e.g. "
            "'mysql+pymysql://user:pass@host:3306/db', 'postgresql://host/db' or "
            "'sqlite:///data/coinfill.db'"
        ) from None
    if url.get_backend_name() not in SUPPORTED:
        raise ConfigurationError(
            f"COINFILL_DATABASE_URL uses '{url.get_backend_name()}', which coinfill does not "
            f"support; use one of {', '.join(SUPPORTED)}"
        )
    if url.get_backend_name() in ("mysql", "mariadb"):
        if "+" in url.drivername and url.get_driver_name() != "pymysql":
            raise ConfigurationError(
                f"COINFILL_DATABASE_URL names the driver '{url.get_driver_name()}'; coinfill "
                "talks to MySQL/MariaDB through PyMySQL: use mysql+pymysql://"
            )
        url = url.set(drivername=f"{url.get_backend_name()}+pymysql")
    return url


def safe_url(url: URL | str) -> str:
    """The URL as it may appear in logs and errors."""
    return (make_url(url) if isinstance(url, str) else url).render_as_string(hide_password=True)


def make_engine(raw_url: str, *, check: bool = True) -> Engine:
    """An engine for the URL; with ``check`` it connects once to fail early and clearly."""
    url = parse_url(raw_url)
    kwargs: dict[str, object] = {"pool_pre_ping": True}
    connect_args: dict[str, object] = {}
    backend = url.get_backend_name()
    if backend in ("mysql", "mariadb"):
        # local_infile must be asked for by the client (DESIGN §9); READ COMMITTED avoids the
        # gap-lock deadlocks that two merging writers hit at REPEATABLE READ.
        url = url.update_query_dict({"charset": "utf8mb4"}) if "charset" not in url.query else url
        connect_args["local_infile"] = True
        kwargs["isolation_level"] = "READ COMMITTED"
    elif backend == "sqlite":
        _ensure_sqlite_dir(url)
        connect_args["timeout"] = 60
    try:
        kwargs["connect_args"] = {**connect_args, **_cursor_args(url)}
        engine = create_engine(url, **kwargs)
    except (NoSuchModuleError, ArgumentError, ImportError) as exc:
        raise ConfigurationError(f"cannot use database URL {safe_url(url)}: {exc}") from None
    classify_errors(engine)
    if check:
        check_connection(engine)
    return engine


def check_connection(engine: Engine) -> None:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DatabaseUnavailableError:
        raise  # classified already: a refused login names the user and the setting
    except OperationalError as exc:
        reason = str(exc.orig) if exc.orig is not None else str(exc)
        raise DatabaseUnavailableError(
            f"cannot connect to {safe_url(engine.url)}: {reason}"
        ) from None


def _ensure_sqlite_dir(url: URL) -> None:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


# --- one classification of database errors ------------------------------------------------

MANAGED = "coinfill_managed"  # set on the DBAPI cursors SQLAlchemy executes on


def classify_errors(engine: Engine) -> None:
    """Raise coinfill's errors for the database errors :mod:`coinfill.db.errors` knows.

    The replacement is also an instance of SQLAlchemy's class (``except OperationalError``
    still matches), keeps ``orig`` and is chained to the driver's error. Pre-pings are left
    alone so that a dead pooled connection is still replaced silently.
    """
    url = engine.url

    def on_error(context: ExceptionContext) -> BaseException | None:
        original = context.sqlalchemy_exception
        if context.is_pre_ping or not isinstance(original, DBAPIError):
            return None
        error = classify_error(original, url)
        return None if error is None else compatible(error, original)

    def mark_managed(
        conn: Any, cursor: Any, statement: Any, params: Any, context: Any, many: bool
    ) -> None:
        with contextlib.suppress(AttributeError):  # a cursor class of someone else's making
            setattr(cursor, MANAGED, True)

    event.listen(engine, "handle_error", on_error)
    event.listen(engine, "before_cursor_execute", mark_managed)


def _cursor_args(url: URL) -> dict[str, object]:
    """Connect arguments that give the driver a cursor class translating its errors."""
    backend = url.get_backend_name()
    if backend in ("mysql", "mariadb"):
        import pymysql.cursors

        return {"cursorclass": _translating(pymysql.cursors.Cursor, url)}
    if backend == "postgresql" and url.get_driver_name() == "psycopg2":
        import psycopg2.extensions

        return {"cursor_factory": _translating(psycopg2.extensions.cursor, url)}
    if backend == "sqlite" and url.get_driver_name() == "pysqlite":
        cursor_class = _translating(sqlite3.Cursor, url)

        def cursor(self: sqlite3.Connection, factory: Any = None) -> Any:
            return sqlite3.Connection.cursor(self, factory or cursor_class)

        return {"factory": type("CoinfillConnection", (sqlite3.Connection,), {"cursor": cursor})}
    return {}


def _translating(base: type[Any], url: URL) -> type[Any]:
    """``base`` whose execute/executemany/copy_expert raise coinfill's errors when called on
    a raw connection; under SQLAlchemy they raise the driver's error for ``handle_error``."""

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def run(self: Any, statement: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, statement, *args, **kwargs)
            except Exception as exc:
                if getattr(self, MANAGED, False) or isinstance(exc, CoinfillError):
                    raise
                error = classify_cursor_error(exc, statement, url)
                if error is None:
                    raise
                raise error from exc

        return run

    names = ("execute", "executemany", "copy_expert")
    methods = {name: wrap(getattr(base, name)) for name in names if hasattr(base, name)}
    return type(f"Coinfill{base.__name__.title()}", (base,), methods)
