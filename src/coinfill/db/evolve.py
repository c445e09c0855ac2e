"""Bring a database to the shape of :mod:`coinfill.db.schema` without touching its data.

Used by the Alembic migrations. A database of the system coinfill replaces already has most
tables: those are kept as they are; only missing tables, missing (nullable) columns and the
unique keys the upsert path needs are added. Every step is idempotent.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, Table, inspect, text
from sqlalchemy.schema import CreateColumn, UniqueConstraint

from coinfill.db.schema import ONCHAIN_VIEW, crypto_onchain_data, metadata
from coinfill.errors import ConfigurationError

log = logging.getLogger(__name__)


def ensure_schema(conn: Connection) -> list[str]:
    """Create what is missing; return a line per change made (for the CLI to show)."""
    changes: list[str] = []
    existing = set(inspect(conn).get_table_names())
    for table in metadata.sorted_tables:
        if table.name not in existing:
            table.create(conn)
            changes.append(f"created table {table.name}")
            continue
        changes += _add_missing_columns(conn, table)
        changes += _ensure_unique_keys(conn, table)
        changes += _ensure_indexes(conn, table)
    changes += _ensure_onchain_view(conn)
    return changes


def _add_missing_columns(conn: Connection, table: Table) -> list[str]:
    present = {col["name"] for col in inspect(conn).get_columns(table.name)}
    changes = []
    for column in table.columns:
        if column.name in present:
            continue
        if not column.nullable and not column.primary_key:
            raise ConfigurationError(
                f"table {table.name} lacks the required column {column.name}; add it by hand "
                "(coinfill will not invent values for existing rows)"
            )
        ddl = CreateColumn(column).compile(dialect=conn.dialect)
        conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {ddl}"))
        changes.append(f"added column {table.name}.{column.name}")
    return changes


def _ensure_unique_keys(conn: Connection, table: Table) -> list[str]:
    inspector = inspect(conn)
    have = {tuple(uc["column_names"]) for uc in inspector.get_unique_constraints(table.name)}
    have |= {
        tuple(str(c) for c in ix["column_names"])
        for ix in inspector.get_indexes(table.name)
        if ix["unique"]
    }
    changes = []
    for constraint in table.constraints:
        if not isinstance(constraint, UniqueConstraint):
            continue
        columns = tuple(str(col.name) for col in constraint.columns)
        if columns in have:
            continue
        try:
            # Plain DDL on purpose: SQLAlchemy's AddConstraint marks the shared Constraint
            # object as "not inline", so later CREATE TABLEs in the process would lose it.
            if conn.dialect.name == "sqlite":  # SQLite cannot ALTER TABLE ADD CONSTRAINT
                ddl = (
                    f"CREATE UNIQUE INDEX {constraint.name} ON {table.name} ({', '.join(columns)})"
                )
            else:
                ddl = (
                    f"ALTER TABLE {table.name} ADD CONSTRAINT {constraint.name} "
                    f"UNIQUE ({', '.join(columns)})"
                )
            conn.execute(text(ddl))
        except Exception as exc:  # duplicates in an old table: say which key, keep the data
            raise ConfigurationError(
                f"cannot add the unique key ({', '.join(columns)}) to {table.name}: {exc}. "
                "Remove the duplicate rows first; nothing was changed."
            ) from None
        changes.append(f"added unique key {table.name}({', '.join(columns)})")
    return changes


def _ensure_indexes(conn: Connection, table: Table) -> list[str]:
    """Plain (non-unique) indexes of the schema, by name (the feature refresh's ``updated_at``)."""
    have = {ix["name"] for ix in inspect(conn).get_indexes(table.name)}
    changes = []
    for index in table.indexes:
        if index.unique or index.name in have:
            continue
        index.create(conn)
        changes.append(f"added index {index.name} on {table.name}")
    return changes


def _ensure_onchain_view(conn: Connection) -> list[str]:
    """``onchain_metrics`` selects every column of ``crypto_onchain_data``; a view made before
    columns were added is made again (a view holds no data)."""
    inspector = inspect(conn)
    wanted = [col.name for col in crypto_onchain_data.columns]
    if ONCHAIN_VIEW in inspector.get_view_names():
        have = {col["name"] for col in inspector.get_columns(ONCHAIN_VIEW)}
        if set(wanted) <= have:
            return []
        conn.execute(text(f"DROP VIEW {ONCHAIN_VIEW}"))
        change = f"re-created view {ONCHAIN_VIEW} with the new columns"
    else:
        change = f"created view {ONCHAIN_VIEW}"
    columns = ", ".join(wanted)
    conn.execute(
        text(f"CREATE VIEW {ONCHAIN_VIEW} AS SELECT {columns} FROM {crypto_onchain_data.name}")
    )
    return [change]
