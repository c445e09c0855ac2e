"""Bulk reads into pandas.

MySQL/MariaDB and PostgreSQL go through connectorx (Arrow): 3.3M price rows in ~2 s where
``pandas.read_sql`` over PyMySQL takes ~45 s (DESIGN §9). SQLite, the embedded default, is
read through SQLAlchemy. connectorx takes no bound parameters, so statements are rendered with
literal values; every value reaching them is typed (ints, datetimes) or a validated symbol.
connectorx reports database errors as text only: a failed read is asked again through
SQLAlchemy without rows, so that a refusal is classified by its code (:mod:`coinfill.db.errors`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import connectorx as cx
import pandas as pd
from sqlalchemy import Engine, String
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement, CompoundSelect, Select

from coinfill.errors import CoinfillError

Statement: TypeAlias = Select[Any] | CompoundSelect[Any]
# Stands for the symbol while a per-symbol SELECT is compiled; no symbol holds a \x01.
SYMBOL_SLOT = "\x01symbol\x01"


def read_frame(engine: Engine, statement: Statement) -> pd.DataFrame:
    """Run a SELECT and return a DataFrame with the statement's column names."""
    return read_frames(engine, [statement])


def read_frames(
    engine: Engine, statements: Sequence[Statement | str], names: Sequence[str] = ()
) -> pd.DataFrame:
    """Run SELECTs with the same columns and return their rows as one DataFrame, in no
    particular order between statements.

    A statement may be literal SQL text (from :func:`union_per_symbol`; not on SQLite), then
    ``names`` names the columns. connectorx runs the statements in parallel, one connection
    each: a large read split in two keeps two server cores busy (MariaDB runs a statement on
    one core).
    """
    first = statements[0]
    columns = list(names) if isinstance(first, str) else [c.name for c in first.selected_columns]
    if engine.dialect.name == "sqlite":
        rows = []
        with engine.connect() as conn:
            for statement in statements:
                if isinstance(statement, str):
                    raise TypeError("SQLite reads take SQLAlchemy statements, not SQL text")
                rows += [tuple(row) for row in conn.execute(statement)]
        return pd.DataFrame(rows, columns=columns)
    sqls = [literal_sql(engine, statement) for statement in statements]
    try:
        arrow: Any = cx.read_sql(
            _cx_url(engine), sqls if len(sqls) > 1 else sqls[0], return_type="arrow"
        )
    except RuntimeError:
        for statement in statements:
            _raise_classified(engine, statement)
        raise
    frame: pd.DataFrame = arrow.to_pandas()
    return frame.set_axis(columns, axis=1)


def literal_sql(engine: Engine, statement: ClauseElement | str) -> str:
    """The statement (or expression) as SQL text with its values inline, as connectorx
    takes it."""
    if isinstance(statement, str):
        return statement
    dialect = _literal_dialect(engine)
    return str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def union_per_symbol(
    engine: Engine, terms: Sequence[Callable[[str], Select[Any]]], symbols: Sequence[str]
) -> str:
    """``UNION ALL`` of every ``term(symbol)``, as literal SQL (MySQL, PostgreSQL).

    Each term is compiled once, with a placeholder symbol whose quoted literal is then
    replaced by each symbol's: SQLAlchemy takes ~0.4 ms to build and compile a SELECT, which
    for the 1,500 terms of a 500-symbol incremental chunk was ~0.6 s.
    """
    quote = String().literal_processor(_literal_dialect(engine))  # type: ignore[no-untyped-call]
    assert quote is not None
    slot = quote(SYMBOL_SLOT)
    templates = [literal_sql(engine, term(SYMBOL_SLOT)) for term in terms]
    if any(slot not in template for template in templates):
        raise ValueError("a per-symbol term does not use its symbol")
    parts = [template.replace(slot, quote(s)) for s in symbols for template in templates]
    return parts[0] if len(parts) == 1 else " UNION ALL ".join(f"({p})" for p in parts)


def _raise_classified(engine: Engine, statement: Statement | str) -> None:
    """Raise the classified error the same statement gets through SQLAlchemy, if any."""
    try:
        with engine.connect() as conn:
            if isinstance(statement, str):
                conn.exec_driver_sql(f"SELECT * FROM ({statement}) AS q LIMIT 0")
            else:
                conn.execute(statement.limit(0))
    except CoinfillError:
        raise
    except Exception:  # not classified: the connectorx error stands
        return


def _literal_dialect(engine: Engine) -> Dialect:
    """The engine's dialect with named parameters: PyMySQL's ``format`` style would double
    every ``%`` (``timestamp %% 3600000``), and connectorx sends the text as it is."""
    if engine.dialect.name in ("mysql", "mariadb"):
        dialect: Dialect = type(engine.dialect)(paramstyle="named")  # type: ignore[call-arg]
        dialect.server_version_info = engine.dialect.server_version_info
        dialect.is_mariadb = engine.dialect.is_mariadb  # type: ignore[attr-defined]
        return dialect
    return engine.dialect


def _cx_url(engine: Engine) -> str:
    url = engine.url
    scheme = "mysql" if engine.dialect.name in ("mysql", "mariadb") else "postgresql"
    return url.set(drivername=scheme, query={}).render_as_string(hide_password=False)
