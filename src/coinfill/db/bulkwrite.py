"""Dialect-native bulk writes of already-diffed rows (see :mod:`coinfill.db.diff`).

- MySQL/MariaDB: new rows go straight into the table with ``LOAD DATA LOCAL INFILE`` (the
  database's own floor, DESIGN §9); changed rows are loaded into a temporary table and merged
  with one ``INSERT … SELECT … ON DUPLICATE KEY UPDATE``. When the server refuses
  ``local_infile`` both fall back to batched multi-row ``INSERT … ON DUPLICATE KEY UPDATE``.
- PostgreSQL: ``COPY`` into a temporary table, then ``INSERT … ON CONFLICT DO UPDATE``.
- SQLite: ``executemany`` of ``INSERT … ON CONFLICT DO UPDATE`` (C loop, no SQL building).

Every merge writes ``COALESCE(new, stored)``: a NULL never replaces a stored value, even when
another writer changed the row between the diff and the write. Derived tables rebuilt from
their sources (the feature table) pass ``keep_stored=False``: the new row replaces the stored one.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from pymysql.err import OperationalError as MySQLOperationalError
from sqlalchemy import Engine, Table

from coinfill.errors import ConfigurationError

log = logging.getLogger(__name__)

WriteMethod = Literal["auto", "load_data", "statements"]
Merge = Callable[[str, str], str]  # (new value, stored value) → the SQL that is written
BATCH_ROWS = 5_000
# Server refuses LOCAL INFILE: MySQL 1148/3948, MariaDB 4166, client side 2068.
LOCAL_INFILE_REFUSED = {1148, 2068, 3948, 4166}
SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's storage format for DateTime


def write_rows(
    engine: Engine,
    table: Table,
    inserts: pd.DataFrame,
    updates: pd.DataFrame,
    keys: Sequence[str],
    *,
    now: datetime,
    method: WriteMethod = "auto",
    keep_stored: bool = True,
) -> None:
    """Insert ``inserts`` and merge ``updates`` (both carry key and value columns)."""
    if inserts.empty and updates.empty:
        return
    dialect = engine.dialect.name
    merge = _coalesce if keep_stored else _replace
    if dialect in ("mysql", "mariadb"):
        _write_mysql(engine, table, inserts, updates, keys, now, method, merge)
    elif dialect == "postgresql":
        _write_postgres(engine, table, pd.concat([inserts, updates]), keys, now, merge)
    else:
        _write_sqlite(engine, table, pd.concat([inserts, updates]), keys, now, merge)


def _coalesce(new: str, old: str) -> str:
    return f"COALESCE({new}, {old})"


def _replace(new: str, old: str) -> str:
    return new


# --- MySQL / MariaDB ---------------------------------------------------------------------


def _write_mysql(
    engine: Engine,
    table: Table,
    inserts: pd.DataFrame,
    updates: pd.DataFrame,
    keys: Sequence[str],
    now: datetime,
    method: WriteMethod,
    merge: Merge,
) -> None:
    if method != "statements" and _tsv_safe(inserts) and _tsv_safe(updates):
        try:
            with _transaction(engine) as cursor:
                _mysql_load_and_merge(cursor, table, inserts, updates, keys, now, merge)
            return
        except MySQLOperationalError as exc:
            if exc.args[0] not in LOCAL_INFILE_REFUSED:
                raise
            if method == "load_data":
                raise ConfigurationError(
                    "COINFILL_WRITE_METHOD=load_data but the MySQL server refuses "
                    "LOAD DATA LOCAL INFILE (set local_infile=1 on the server)"
                ) from None
            log.warning("server refuses LOCAL INFILE; writing with batched statements")
    sql = _mysql_upsert_values_sql(table, list(_columns(inserts, updates)), keys, merge)
    with _transaction(engine) as cursor:
        for frame in (inserts, updates):
            for batch in _batches(frame, now):
                cursor.executemany(sql, batch)


def _mysql_load_and_merge(
    cursor: Any,
    table: Table,
    inserts: pd.DataFrame,
    updates: pd.DataFrame,
    keys: Sequence[str],
    now: datetime,
    merge: Merge,
) -> None:
    conflicts = updates
    if not inserts.empty:
        inserted = _load_data(cursor, table.name, inserts, now, ignore=True)
        if inserted < len(inserts):
            # Another writer added some of these rows since the diff: merge them all instead.
            conflicts = pd.concat([inserts, updates])
    if conflicts.empty:
        return
    stage = f"_coinfill_stage_{table.name}"[:64]
    cursor.execute(f"DROP TEMPORARY TABLE IF EXISTS `{stage}`")
    cursor.execute(f"CREATE TEMPORARY TABLE `{stage}` LIKE `{table.name}`")
    _load_data(cursor, stage, conflicts, now, ignore=True)
    cols = [*conflicts.columns, "created_at", "updated_at"]
    names = ", ".join(f"`{c}`" for c in cols)
    cursor.execute(
        f"INSERT INTO `{table.name}` ({names}) SELECT {names} FROM `{stage}` "
        f"ON DUPLICATE KEY UPDATE {_mysql_merge(table, list(conflicts.columns), keys, merge)}"
    )
    cursor.execute(f"DROP TEMPORARY TABLE `{stage}`")


def _load_data(
    cursor: Any, table_name: str, frame: pd.DataFrame, now: datetime, ignore: bool
) -> int:
    tsv = pacsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")
    with _csv_file(frame, tsv) as path:
        variables = ", ".join(f"@v{i}" for i in range(len(frame.columns)))
        assignments = ", ".join(
            f"`{col}` = NULLIF(@v{i}, '')" for i, col in enumerate(frame.columns)
        )
        cursor.execute(
            f"LOAD DATA LOCAL INFILE %s {'IGNORE' if ignore else ''} INTO TABLE `{table_name}` "
            "CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '' "
            f"LINES TERMINATED BY '\\n' ({variables}) "
            f"SET {assignments}, `created_at` = %s, `updated_at` = %s",
            (path, now, now),
        )
        return int(cursor.rowcount)


def _mysql_merge(table: Table, columns: Sequence[str], keys: Sequence[str], merge: Merge) -> str:
    sets = [
        f"`{c}` = {merge(f'VALUES(`{c}`)', f'`{table.name}`.`{c}`')}"
        for c in columns
        if c not in keys
    ]
    return ", ".join([*sets, "`updated_at` = VALUES(`updated_at`)"])


def _mysql_upsert_values_sql(
    table: Table, columns: list[str], keys: Sequence[str], merge: Merge
) -> str:
    cols = [*columns, "created_at", "updated_at"]
    return (
        f"INSERT INTO `{table.name}` ({', '.join(f'`{c}`' for c in cols)}) "
        f"VALUES ({', '.join(['%s'] * len(cols))}) "
        f"ON DUPLICATE KEY UPDATE {_mysql_merge(table, columns, keys, merge)}"
    )


def _tsv_safe(frame: pd.DataFrame) -> bool:
    """LOAD DATA is used without escapes: text holding tabs, newlines or '' cannot pass."""
    for col in frame.columns:
        series = frame[col]
        if pd.api.types.is_string_dtype(series) or series.dtype == object:
            text = series.dropna().astype(str)
            if text.str.contains("[\t\n\r]", regex=True).any() or (text == "").any():
                return False
    return True


# --- PostgreSQL -------------------------------------------------------------------------


def _write_postgres(
    engine: Engine,
    table: Table,
    rows: pd.DataFrame,
    keys: Sequence[str],
    now: datetime,
    merge: Merge,
) -> None:
    stage = f"_coinfill_stage_{table.name}"[:63]
    sets = [
        f'"{c}" = {merge(f"EXCLUDED.{_dq(c)}", f"t.{_dq(c)}")}'
        for c in rows.columns
        if c not in keys
    ]
    sets.append('"updated_at" = EXCLUDED."updated_at"')
    rows = rows.assign(created_at=now, updated_at=now)
    names = ", ".join(f'"{c}"' for c in rows.columns)
    with _transaction(engine) as cursor:
        cursor.execute(
            f'CREATE TEMP TABLE "{stage}" ON COMMIT DROP AS '
            f'SELECT {names} FROM "{table.name}" WITH NO DATA'
        )
        csv = pacsv.WriteOptions(include_header=False)
        with _csv_file(rows, csv) as path, open(path, "rb") as source:
            cursor.copy_expert(
                f"COPY \"{stage}\" ({names}) FROM STDIN WITH (FORMAT csv, NULL '')", source
            )
        cursor.execute(
            f'INSERT INTO "{table.name}" AS t ({names}) SELECT {names} FROM "{stage}" '
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {', '.join(sets)}"
        )


# --- SQLite -----------------------------------------------------------------------------


def _write_sqlite(
    engine: Engine,
    table: Table,
    rows: pd.DataFrame,
    keys: Sequence[str],
    now: datetime,
    merge: Merge,
) -> None:
    cols = [*rows.columns, "created_at", "updated_at"]
    sets = [f'"{c}" = {merge(f"excluded.{_dq(c)}", _dq(c))}' for c in rows.columns if c not in keys]
    sql = (
        f'INSERT INTO "{table.name}" ({", ".join(cols)}) VALUES ({", ".join("?" * len(cols))}) '
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
        f"{', '.join([*sets, 'updated_at = excluded.updated_at'])}"
    )
    stamp = now.strftime(SQLITE_DATETIME)
    with _transaction(engine) as cursor:
        for batch in _batches(rows, stamp, datetime_format=SQLITE_DATETIME):
            cursor.executemany(sql, batch)


# --- shared -----------------------------------------------------------------------------


def _dq(name: str) -> str:
    return f'"{name}"'


@contextmanager
def _transaction(engine: Engine) -> Iterator[Any]:
    """A DBAPI cursor in one transaction: committed on success, rolled back on any error."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        try:
            yield cursor
            raw.commit()
        finally:
            cursor.close()
    except BaseException:
        raw.rollback()
        raise
    finally:
        raw.close()


@contextmanager
def _csv_file(frame: pd.DataFrame, options: pacsv.WriteOptions) -> Iterator[str]:
    """``frame`` written by Arrow's CSV writer to a private temporary file (under /tmp)."""
    handle, path = tempfile.mkstemp(prefix="coinfill-", suffix=".csv")
    os.close(handle)
    try:
        pacsv.write_csv(_for_text(frame), path, options)
        yield path
    finally:
        os.unlink(path)


def _columns(*frames: pd.DataFrame) -> pd.Index:
    return next(frame.columns for frame in frames if not frame.empty)


def _for_text(frame: pd.DataFrame) -> pa.Table:
    """The frame as an Arrow table ready for the CSV writer.

    Booleans become 0/1 (MySQL reads 'true' as 0). String columns are rebuilt from Python
    objects: Arrow's CSV writer emitted NUL bytes for sliced pyarrow-backed string columns
    (pandas 3 ``str`` after ``.loc[mask]``), which the tests caught on PostgreSQL.
    """
    casts: dict[str, str] = {}
    for col in frame.columns:
        if pd.api.types.is_bool_dtype(frame[col]):
            casts[col] = "Int8"
        elif pd.api.types.is_string_dtype(frame[col]):
            casts[col] = "object"
    return pa.Table.from_pandas(frame.astype(casts) if casts else frame, preserve_index=False)


def _batches(
    frame: pd.DataFrame, stamp: object, datetime_format: str | None = None
) -> Iterator[list[tuple[Any, ...]]]:
    """Rows as DBAPI tuples, converted one batch at a time (never the whole frame)."""
    for start in range(0, len(frame), BATCH_ROWS):
        part = frame.iloc[start : start + BATCH_ROWS]
        columns = []
        for col in part.columns:
            series = part[col]
            if pd.api.types.is_datetime64_any_dtype(series) and datetime_format:
                values = series.dt.strftime(datetime_format).to_numpy(dtype=object)
            elif pd.api.types.is_datetime64_any_dtype(series):
                values = np.array(series.dt.to_pydatetime(), dtype=object)
            else:
                values = series.to_numpy(dtype=object, copy=True)
            values[pd.isna(series).to_numpy()] = None
            columns.append(values)
        yield [(*row, stamp, stamp) for row in zip(*columns, strict=True)]
