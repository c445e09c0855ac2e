"""Engines from a URL, with the errors a user can act on instead of driver tracebacks."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from coinfill.errors import ConfigurationError, DatabaseUnavailableError

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
    backend = url.get_backend_name()
    if backend in ("mysql", "mariadb"):
        # local_infile must be asked for by the client (DESIGN §9); READ COMMITTED avoids the
        # gap-lock deadlocks that two merging writers hit at REPEATABLE READ.
        url = url.update_query_dict({"charset": "utf8mb4"}) if "charset" not in url.query else url
        kwargs["connect_args"] = {"local_infile": True}
        kwargs["isolation_level"] = "READ COMMITTED"
    elif backend == "sqlite":
        _ensure_sqlite_dir(url)
        kwargs["connect_args"] = {"timeout": 60}
    try:
        engine = create_engine(url, **kwargs)
    except (NoSuchModuleError, ArgumentError, ImportError) as exc:
        raise ConfigurationError(f"cannot use database URL {safe_url(url)}: {exc}") from None
    if check:
        check_connection(engine)
    return engine


def check_connection(engine: Engine) -> None:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        reason = str(exc.orig) if exc.orig is not None else str(exc)
        raise DatabaseUnavailableError(
            f"cannot connect to {safe_url(engine.url)}: {reason}"
        ) from None


def _ensure_sqlite_dir(url: URL) -> None:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
