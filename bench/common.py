"""What the benches share: the scratch database, checks made from the database (not from what a
flow returns), one result row per timed command, and the results file ``bench/summary.py``
prints.

A result row holds the whole-process figure and the in-flow figure side by side, and both
divided by the phase's basis: the floor (technical: one ``LOAD DATA`` of the same rows), the
time the providers' rate limits require (macro, prices, on-chain) or the target itself (the
rest). Targets are judged on the whole process, what users wait for.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
import pymysql
from process import Run
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

BENCH = Path(__file__).resolve().parent
HOUR_MS = 3_600_000
MIB, GIB = 1 << 20, 1 << 30
TSV = pacsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")


def recreate_database(url: str, create: bool = True) -> None:
    """Drop (and create) the scratch database; its name must contain "bench". SQLite: the file."""
    parsed = make_url(url)
    name = parsed.database or ""
    if "bench" not in name:
        raise SystemExit(f"refusing to drop database {name!r}: its name must contain 'bench'")
    if not url.startswith("mysql"):
        Path(name).unlink(missing_ok=True)
        return
    conn = pymysql.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 3306,
        user=parsed.username or "root",
        password=parsed.password or "",
    )
    with conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        if create:
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    conn.close()


def fresh_database(url: str) -> Engine:
    """An empty scratch database at the current schema."""
    from coinfill.db.engine import make_engine
    from coinfill.db.migrate import upgrade

    recreate_database(url)
    engine: Engine = make_engine(url)
    upgrade(engine)
    return engine


def drop_database(url: str) -> None:
    recreate_database(url, create=False)


def execute(engine: Engine, sql: str, params: Any = None) -> int:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        rows = int(cursor.execute(sql, params))
        raw.commit()
        return rows
    finally:
        raw.close()


def load_sql(into: str, columns: str, sets: str) -> str:
    return (
        f"LOAD DATA LOCAL INFILE %s INTO TABLE `{into}` CHARACTER SET utf8mb4 FIELDS "
        f"TERMINATED BY '\\t' ESCAPED BY '' LINES TERMINATED BY '\\n' ({columns}) SET {sets}"
    )


def utc_now() -> datetime:
    """What the flows stamp ``updated_at`` with (naive UTC), to the second."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def scalar(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def markdown_rows(lines: list[str], column: str) -> list[dict[str, str]]:
    """The rows of the first markdown table in ``lines`` whose header has ``column`` (what a
    command prints for people; missing or changed, the caller gets [])."""
    for i, line in enumerate(lines):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.lstrip().startswith("|") and column in cells:
            found = []
            for body in lines[i + 2 :]:
                if not body.lstrip().startswith("|"):
                    break
                values = [c.strip() for c in body.strip().strip("|").split("|")]
                found.append(dict(zip(cells, values, strict=False)))
            return found
    return []


@dataclass(frozen=True)
class State:
    """A table as the database holds it: a re-run that wrote nothing leaves it equal."""

    rows: int
    max_updated_at: str
    checksum: str


def table_state(engine: Engine, table: str) -> State:
    with engine.connect() as conn:
        rows, newest = conn.execute(text(f"SELECT COUNT(*), MAX(updated_at) FROM {table}")).one()
        if engine.dialect.name == "mysql":
            checksum = str(conn.execute(text(f"CHECKSUM TABLE {table}")).one()[1])
        else:
            digest = hashlib.sha1()
            for row in conn.execute(text(f"SELECT * FROM {table} ORDER BY id")):
                digest.update(repr(tuple(row)).encode())
            checksum = digest.hexdigest()
    return State(int(rows), str(newest), checksum)


def written_since(engine: Engine, table: str, since: datetime) -> int:
    """Rows inserted or updated at or after ``since`` (from ``updated_at``)."""
    return int(scalar(engine, f"SELECT COUNT(*) FROM {table} WHERE updated_at >= :t", t=since))


@dataclass
class Row:
    """One timed command (or, for floors and in-process figures, one timed step)."""

    phase: str
    mode: str
    whole_s: float | None
    in_flow_s: float | None
    basis: str = ""
    basis_s: float | None = None
    target: str = ""
    ok: bool | None = None
    first_line_s: float | None = None
    peak_rss_mib: int | None = None
    exit: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        return _ratio(self.whole_s, self.basis_s)

    @property
    def ratio_in_flow(self) -> float | None:
        return _ratio(self.in_flow_s, self.basis_s)


def _ratio(value: float | None, basis: float | None) -> float | None:
    return round(value / basis, 3) if value is not None and basis else None


def row(run: Run, phase: str, **fields: Any) -> Row:
    return Row(
        phase, run.mode, round(run.whole_s, 2), run.in_flow_s,
        first_line_s=None if run.first_line_s is None else round(run.first_line_s, 2),
        peak_rss_mib=round(run.peak_rss / MIB), exit=run.exit, **fields,
    )  # fmt: skip


class Checks:
    """Correctness checks on the database; a failed one fails the bench (after its report)."""

    def __init__(self) -> None:
        self.failed: list[str] = []
        self.passed = 0

    def expect(self, condition: bool, message: str) -> bool:
        if condition:
            self.passed += 1
        else:
            self.failed.append(message)
            print(f"  CHECK FAILED: {message}", flush=True)
        return condition

    def ran(self, run: Run, what: str, exit_code: int = 0) -> bool:
        return self.expect(
            run.exit == exit_code,
            f"{what}: exit {run.exit}, expected {exit_code}; stderr: {run.stderr[:3]}; "
            f"stdout tail: {run.stdout[-3:]}",
        )


def fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def mark(ok: bool | None) -> str:
    return "" if ok is None else ("ok" if ok else "MISSED")


def ratios(r: dict[str, Any]) -> str:
    whole, in_flow = r.get("ratio"), r.get("ratio_in_flow")
    if whole is None and in_flow is None:
        return "–"
    return f"{fmt(whole, 2)}× (in flow {fmt(in_flow, 2)}×)"


def print_rows(title: str, rows: list[dict[str, Any]]) -> None:
    """A markdown table; a "collector" column when the rows carry one (the summary)."""
    collector = any("collector" in r for r in rows)
    print(f"\n{title}")
    print(("| collector " if collector else "") + "| phase | API | whole s | in flow s | to first "
          "flow line s | peak MiB | ÷ basis (whole, in flow) | basis | target | |")  # fmt: skip
    print(("|---" if collector else "") + "|---|---|---:|---:|---:|---:|---:|---|---|---|")
    for r in rows:
        basis = f"{r['basis']} {fmt(r['basis_s'])} s" if r.get("basis_s") else ""
        if r.get("basis_s") and "sum_of_limits_s" in r.get("detail", {}):
            basis += f" (sum {fmt(r['detail']['sum_of_limits_s'])} s)"
        print(
            (f"| {r.get('collector', '')} " if collector else "")
            + f"| {r['phase']} | {r['mode']} | {fmt(r['whole_s'])} | {fmt(r['in_flow_s'])} "
            f"| {fmt(r.get('first_line_s'))} | {fmt(r.get('peak_rss_mib'), 0)} | {ratios(r)} "
            f"| {basis} | {r['target']} | {mark(r['ok'])} |"
        )


def report(name: str, rows: list[Row], checks: Checks, path: Path, **extra: Any) -> None:
    """Print the bench's table, write its results file, exit 1 if a check failed."""
    dumped = [asdict(r) | {"ratio": r.ratio, "ratio_in_flow": r.ratio_in_flow} for r in rows]
    results = {
        "bench": name,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        **extra,
        "rows": dumped,
        "checks_passed": checks.passed,
        "checks_failed": checks.failed,
    }
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print_rows(f"{name} bench ({os.cpu_count()} CPUs)", dumped)
    print(f"checks on the database: {checks.passed} passed, {len(checks.failed)} failed")
    for message in checks.failed:
        print(f"  FAILED: {message}")
    print(f"results written to {path}")
    if checks.failed:
        sys.exit(1)
