"""One classification of database errors (DESIGN §10), decided by the driver's error code.

PyMySQL's ``args[0]``, psycopg2's ``pgcode`` and sqlite3's ``sqlite_errorcode`` choose the
class; message text never does. The privilege and the table a message names come from the
statement coinfill sent (its first keyword and its target), the server's own one-line reason is
quoted where it names the missing object. Codes not listed here are left to SQLAlchemy.

- :class:`~coinfill.errors.DatabaseRefusedError`: a privilege, an unknown table or column, a
  syntax error, a read-only database: the same statement would be refused again.
- :class:`~coinfill.errors.DatabaseTransientError`: deadlocks, lock waits, a busy SQLite file,
  a lost connection: the transaction was rolled back, another attempt may succeed.
- :class:`~coinfill.errors.DatabaseUnavailableError`: the login or the database itself refused.

:func:`compatible` gives the coinfill error the class of the exception it replaces as well, so
``except OperationalError`` / ``except DBAPIError`` (and PyMySQL's ``exc.args[0]``) keep working.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from coinfill.db.error_codes import (
    LOST_CONNECTION,
    MYSQL,
    POSTGRES,
    POSTGRES_CLASSES,
    REFUSED,
    SQLITE,
    TRANSIENT,
    Kind,
    Rule,
)
from coinfill.db.statements import Statement, statement_target
from coinfill.errors import (
    CoinfillError,
    DatabaseRefusedError,
    DatabaseTransientError,
    DatabaseUnavailableError,
)

# Everything coinfill itself runs: writes, migrations, staging tables, views, ANALYZE.
MYSQL_GRANTS = (
    "SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, DROP, CREATE TEMPORARY TABLES, "
    "CREATE VIEW, SHOW VIEW"
)
UPGRADE = "the schema is older than this coinfill: run 'coinfill db upgrade'"


def classify_error(exc: DBAPIError, url: URL) -> CoinfillError | None:
    """The coinfill error for a SQLAlchemy-wrapped driver error, or None to leave it alone.

    A connection SQLAlchemy's dialect found lost (``connection_invalidated``) is transient
    even when the driver gave no code for it (psycopg2's "server closed the connection").
    """
    rule = error_rule(exc.orig, url.get_backend_name())
    if rule is None and exc.connection_invalidated:
        rule = LOST_CONNECTION
    return None if rule is None else _classify(rule, exc.orig, exc.statement, url)


def classify_driver_error(
    orig: BaseException | None, statement: Statement, url: URL
) -> CoinfillError | None:
    """The coinfill error for a PyMySQL, psycopg2 or sqlite3 error raised by ``statement``."""
    rule = error_rule(orig, url.get_backend_name())
    return None if rule is None else _classify(rule, orig, statement, url)


def _classify(
    rule: Rule, orig: BaseException | None, statement: Statement, url: URL
) -> CoinfillError:
    kind, what = rule
    privilege, table = statement_target(statement)
    message = _message(_Failure(kind, what, url, privilege, table, _reason(orig)))
    if kind in REFUSED:
        return DatabaseRefusedError(message, table=table, privilege=privilege)
    if kind in TRANSIENT:
        return DatabaseTransientError(message)
    return DatabaseUnavailableError(message)


def classify_cursor_error(
    orig: BaseException, statement: Statement, url: URL
) -> CoinfillError | None:
    """The replacement for an error raised on a raw DBAPI cursor (not under SQLAlchemy),
    already :func:`compatible` with it; None for codes not listed and for a lost connection,
    which stays the driver's error so that the pool recognises and replaces the connection."""
    rule = error_rule(orig, url.get_backend_name())
    if rule is None or rule[0] == "connection":
        return None
    return compatible(_classify(rule, orig, statement, url), orig)


def error_rule(orig: BaseException | None, backend: str) -> Rule | None:
    """The rule for a driver error, from its code alone; None for codes not listed."""
    if orig is None:
        return None
    if backend in ("mysql", "mariadb"):
        code = orig.args[0] if orig.args else None
        return MYSQL.get(code) if isinstance(code, int) else None
    if backend == "postgresql":
        pgcode = getattr(orig, "pgcode", None)
        if not isinstance(pgcode, str):
            return None
        return POSTGRES.get(pgcode) or POSTGRES_CLASSES.get(pgcode[:2])
    if backend == "sqlite":
        code = getattr(orig, "sqlite_errorcode", None)
        return SQLITE.get(code & 0xFF) if isinstance(code, int) else None
    return None


def compatible(error: CoinfillError, like: BaseException) -> CoinfillError:
    """``error`` as an instance of its own class *and* of ``like``'s class, with ``like``'s
    attributes (``orig``, ``statement``, ``connection_invalidated``, PyMySQL's ``args``) so
    that handlers written for the original exception still catch and read it."""
    cls = _combined(type(error), type(like))
    combined: Any = cls.__new__(cls)
    BaseException.__init__(combined, *like.args)
    vars(combined).update(vars(like))
    vars(combined).update(vars(error))
    combined.coinfill_message = str(error)
    result: CoinfillError = combined
    return result


# --- the message ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Failure:
    kind: Kind
    what: str
    url: URL
    privilege: str | None
    table: str | None
    reason: str

    @property
    def backend(self) -> str:
        return self.url.get_backend_name()

    @property
    def user(self) -> str:
        return self.url.username or ("the current role" if self.backend == "postgresql" else "")

    @property
    def where(self) -> str:
        from coinfill.db.engine import safe_url  # engine imports this module

        return safe_url(self.url)

    @property
    def action(self) -> str:
        on = f" on {self.table}" if self.table else ""
        return f"{self.privilege or 'a statement'}{on}"


def _message(f: _Failure) -> str:
    if f.kind == "privilege":
        return _privilege_message(f)
    if f.kind == "needs_privilege":
        return (
            f"database refused {f.action} for user '{f.user}' ({f.where}): {f.reason}; grant "
            "that privilege or set COINFILL_DATABASE_URL to a user that has it"
        )
    if f.kind in ("missing_table", "missing_column"):
        return f"database refused {f.action}: {f.reason} ({f.where}): {UPGRADE}"
    if f.kind == "syntax":
        return (
            f"database refused the SQL of {f.action}: {f.reason} ({f.where}): this server does "
            "not accept SQL coinfill wrote; please report it with the --debug output"
        )
    if f.kind == "local_infile":
        return (
            f"database refused LOAD DATA LOCAL INFILE ({f.what}) for {f.action} ({f.where}): "
            "set local_infile=1 on the server or COINFILL_WRITE_METHOD=statements"
        )
    if f.kind == "read_only":
        return f"database refused {f.action}: {f.what} ({f.where}): {_read_only_fix(f)}"
    if f.kind == "login":
        return (
            f"database refused the login of user '{f.user}' ({f.where}): check the user and "
            "password in COINFILL_DATABASE_URL"
        )
    if f.kind == "database":
        return (
            f"database refused user '{f.user}' the database '{f.url.database}': {f.reason} "
            f"({f.where}): create it or grant access, or fix COINFILL_DATABASE_URL"
        )
    if f.kind == "cannot_open":
        return (
            f"cannot open the SQLite database file '{f.url.database}' ({f.where}): check the "
            "path in COINFILL_DATABASE_URL and that this user may read and write it"
        )
    return (
        f"database {f.what} during {f.action} ({f.where}); the transaction was rolled back "
        "and may be retried"
    )


def _privilege_message(f: _Failure) -> str:
    scope = "a user that may read it" if f.privilege == "SELECT" else "a user that may write"
    if f.backend in ("mysql", "mariadb"):
        grant = f"GRANT {MYSQL_GRANTS} ON {f.url.database}.* TO '{f.user}'@'%'"
        return (
            f"database refused {f.action} for user '{f.user}' ({f.where}): grant it ({grant}) "
            f"or set COINFILL_DATABASE_URL to {scope}"
        )
    if f.backend == "postgresql":
        return (
            f"database refused {f.action} for role '{f.user}' ({f.where}): grant it "
            f"({_postgres_grant(f)}) or set COINFILL_DATABASE_URL to {scope}"
        )
    return (
        f"database refused {f.action} ({f.what}) ({f.where}): set COINFILL_DATABASE_URL to {scope}"
    )


def _postgres_grant(f: _Failure) -> str:
    schema, _, _ = (f.table or "").rpartition(".")
    schema = schema or "public"
    if f.privilege in ("CREATE", "CREATE VIEW"):
        return f"GRANT CREATE ON SCHEMA {schema} TO {f.user}"
    if f.privilege in ("ALTER", "DROP", "INDEX"):
        return f"ALTER TABLE {f.table} OWNER TO {f.user}"
    return (
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {f.user}; "
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO {f.user}"
    )


def _read_only_fix(f: _Failure) -> str:
    if f.backend == "sqlite":
        path = (f.url.database or "").removeprefix("file:")
        return (
            f"make {path} and its directory writable by this user (and drop mode=ro from "
            "COINFILL_DATABASE_URL)"
        )
    return f"{f.reason}; point COINFILL_DATABASE_URL at a writable primary server"


def _reason(orig: BaseException | None) -> str:
    """The server's own message, one line: it names the missing table or column."""
    if orig is None:
        return ""
    diag = getattr(orig, "diag", None)
    primary = getattr(diag, "message_primary", None)
    server = orig.args[1] if len(orig.args) > 1 else None  # PyMySQL: (code, message)
    if isinstance(primary, str) and primary:  # psycopg2: without the LINE/caret lines
        text = primary
    else:
        text = server if isinstance(server, str) else str(orig)
    return " ".join(text.split())[:300]


# --- exceptions of two families ----------------------------------------------------------


class _Compatible:
    """Mixed in first: the coinfill message and pickling as the plain coinfill error."""

    coinfill_base: type[CoinfillError]
    coinfill_message: str

    def __str__(self) -> str:
        return self.coinfill_message

    def __repr__(self) -> str:
        return f"{self.coinfill_base.__name__}({self.coinfill_message!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        state = {k: v for k, v in vars(self).items() if k in ("table", "privilege")}
        return (self.coinfill_base, (self.coinfill_message,), state)


_COMBINED: dict[tuple[type[CoinfillError], type[BaseException]], type[Any]] = {}


def _combined(error: type[CoinfillError], like: type[BaseException]) -> Any:
    key = (error, like)
    if key not in _COMBINED:
        _COMBINED[key] = type(
            error.__name__,
            (_Compatible, error, like),
            {"coinfill_base": error, "__module__": error.__module__},
        )
    return _COMBINED[key]
