"""Run a table's Great Expectations suite in the database and read back the numbers.

One GX 1.x ephemeral context per run: a SQL datasource on the configured database (MariaDB/
MySQL, PostgreSQL, SQLite), a query asset holding the window's scope (``coinfill.db.scopes``)
and the table's suite. The first pass asks only for counts (``partial_unexpected_count=0``
keeps GX from fetching sample rows); a second pass over just the failed expectations asks for
a few offending rows by key. Nothing is loaded into pandas.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import great_expectations as gx
from great_expectations.core.expectation_validation_result import (
    ExpectationSuiteValidationResult,
    ExpectationValidationResult,
)
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from coinfill.db.calendar_scope import (
    calendar_scope_sql,
    create_calendar,
    create_eligibility,
    drop_calendar,
    eligibility_scope_sql,
)
from coinfill.db.scopes import create_view, drop_view, enforced_unique_key, scope_sql, table_exists
from coinfill.db.warmup import create_cutoffs, drop_cutoffs
from coinfill.errors import InputError
from coinfill.validation.report import (
    ColumnCoverage,
    RuleResult,
    SuiteReport,
    overall_coverage,
)
from coinfill.validation.scope_plan import plan_scope
from expectations.contracts import Contract, resolve_targets
from expectations.suites import MIN_ROWS, NOW, build_suite, unique_rule

COUNTS_ONLY: dict[str, Any] = {"result_format": "BASIC", "partial_unexpected_count": 0}
EXAMPLES = 5
logger = logging.getLogger(__name__)


def new_context(docs_dir: Path | None = None) -> Any:
    """An in-memory GX context, analytics and progress bars off; Data Docs to ``docs_dir``."""
    sites: dict[str, Any] = {}
    if docs_dir is not None:
        sites["coinfill"] = {
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir.resolve()),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        data_docs_sites=sites,
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def validate(
    engine: Engine,
    contract: Contract,
    start: datetime | None,
    end: datetime | None,
    symbols: Sequence[str] | None,
    now: datetime,
    target_overrides: Mapping[str, float] | None = None,
    context: Any = None,
    calendar_dates: Mapping[str, Sequence[date]] | None = None,
    expected_rows: int | None = None,
    eligible_days: Mapping[str, Mapping[str, Sequence[date]]] | None = None,
) -> SuiteReport:
    """Coverage and validity of ``contract``'s table over ``[start, end)`` and ``symbols``.

    A contract whose rows follow a calendar (macro) needs ``calendar_dates``: per category, the
    dates that should have a row (see ``coinfill.macro.coverage``); one whose rows follow a bar
    grid (prices) needs ``expected_rows`` (see ``coinfill.prices.coverage``); one whose rows
    follow what sources can serve (on-chain) needs ``eligible_days``: per column, per symbol,
    the days some source could fill (see ``coinfill.onchain.coverage``).
    """
    if not table_exists(engine, contract.table):
        raise InputError(
            f"table {contract.table} does not exist yet in this database; "
            "run `coinfill db upgrade` first"
        )
    targets = resolve_targets(contract, target_overrides or {})
    parameters: dict[str, Any] = {NOW: now.strftime("%Y-%m-%d %H:%M:%S")}
    expected, row_target = 0, contract.target
    plan = plan_scope(engine, contract, start, end, symbols)
    if contract.rows_follow_prices:
        expected = plan.expected_rows
        row_target = float((target_overrides or {}).get(contract.name, contract.target))
        parameters[MIN_ROWS] = math.ceil(expected * row_target / 100.0)
    if contract.rows_follow_bars:
        if expected_rows is None:
            raise ValueError(f"the {contract.name} suite needs the number of expected bars")
        expected = expected_rows
        row_target = float((target_overrides or {}).get(contract.name, contract.target))
        parameters[MIN_ROWS] = math.ceil(expected * row_target / 100.0)
    if contract.rows_follow_calendar and calendar_dates is None:
        raise ValueError(f"the {contract.name} suite needs its calendar of expected dates")
    if contract.rows_follow_availability and eligible_days is None:
        raise ValueError(f"the {contract.name} suite needs the days its sources can serve")
    key = enforced_unique_key(engine, contract.table, contract.keys)
    context = context or new_context()
    suite = context.suites.add(build_suite(contract, targets, check_unique=key is None))
    url = engine.url.render_as_string(hide_password=False)
    sources = context.data_sources
    add = sources.add_sqlite if engine.dialect.name == "sqlite" else sources.add_sql
    source = add(f"coinfill-{contract.name}", connection_string=url)
    suffix = uuid4().hex[:10]
    view, calendar, cut = f"coinfill_gx_{contract.name}_{suffix}", None, None
    try:
        if calendar_dates is not None and contract.rows_follow_calendar:
            calendar = create_calendar(
                engine, f"coinfill_gx_cal_{suffix}", contract, calendar_dates
            )
            query = calendar_scope_sql(engine, contract, calendar, start, end)
        elif eligible_days is not None and contract.rows_follow_availability:
            calendar = create_eligibility(
                engine, f"coinfill_gx_cal_{suffix}", contract, eligible_days
            )
            query = eligibility_scope_sql(engine, contract, calendar, start, end, symbols)
        else:
            name, warmups = f"coinfill_gx_cut_{suffix}", contract.warmup_lengths
            cut = create_cutoffs(engine, name, warmups, plan.cutoffs)
            query = scope_sql(engine, contract, start, end, plan.symbols, cut)
        try:
            create_view(engine, view, query)
            asset = source.add_table_asset(contract.table, table_name=view)
        except DBAPIError as exc:
            # Without CREATE VIEW GX still works on the query, but reads the whole result once
            # to learn its column names (GX 1.x's reflection fallback for text queries).
            logger.warning("cannot create view %s (%s); validating through a query", view, exc.orig)
            view, asset = "", source.add_query_asset(contract.table, query=query)
        batch = asset.add_batch_definition_whole_table("window")
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"coinfill.{contract.name}", data=batch, suite=suite)
        )
        result: ExpectationSuiteValidationResult = definition.run(
            expectation_parameters=parameters, result_format=COUNTS_ONLY
        )
        examples = _examples(context, batch, contract, result, parameters)
    finally:
        if view:
            drop_view(engine, view)
        if calendar is not None:
            drop_calendar(engine, calendar)
        drop_cutoffs(engine, cut)
    report = _report(contract, start, end, result, targets, (expected, row_target), examples)
    if contract.overall:
        overall = float((target_overrides or {}).get(contract.name, contract.target))
        report.columns.insert(0, overall_coverage(contract.table, report.columns, overall))
    if key is not None:
        # The database enforces the key on every row: the rule covers the rows validated.
        rule = f"{unique_rule(contract)} (database key {key})"
        report.rules.insert(0, RuleResult(contract.table, rule, scope_rows(result), 0, True))
    return report


def scope_rows(result: ExpectationSuiteValidationResult) -> int:
    """How many rows the suite validated: the batch's row count, which every column
    expectation reports as ``element_count`` (each suite has one: "not in the future")."""
    for r in result.results:
        count = r.result.get("element_count")
        if count is not None:
            return int(count)
    return 0


def _examples(
    context: Any,
    batch: Any,
    contract: Contract,
    result: ExpectationSuiteValidationResult,
    parameters: Mapping[str, Any],
) -> dict[str, list[dict[str, Any]]]:
    """A few offending rows, by key, for each failed rule or coverage column."""
    failed = [
        r.expectation_config
        for r in result.results
        if not r.success and _meta(r)["kind"] != "rows" and r.expectation_config is not None
    ]
    if not failed:
        return {}
    suite = gx.ExpectationSuite(name=f"coinfill.{contract.name}.examples")
    for config in failed:
        suite.add_expectation_configuration(config)
    suite = context.suites.add(suite)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"coinfill.{contract.name}.examples", data=batch, suite=suite)
    )
    rerun = definition.run(
        expectation_parameters=dict(parameters),
        result_format={
            "result_format": "SUMMARY",
            "partial_unexpected_count": EXAMPLES,
            "unexpected_index_column_names": list(contract.keys),
        },
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rerun.results:
        rows = r.result.get("partial_unexpected_index_list") or [
            value if isinstance(value, dict) else {"value": value}
            for value in r.result.get("partial_unexpected_list") or []
        ]
        out[_meta(r)["name"]] = [{k: _plain(v) for k, v in row.items()} for row in rows][:EXAMPLES]
    return out


def _report(
    contract: Contract,
    start: datetime | None,
    end: datetime | None,
    result: ExpectationSuiteValidationResult,
    targets: Mapping[str, float],
    rows: tuple[int, float],
    examples: Mapping[str, list[dict[str, Any]]],
) -> SuiteReport:
    """``rows`` = (expected rows, percent target) for tables whose rows follow prices."""
    columns: list[ColumnCoverage] = []
    rules: list[RuleResult] = []
    for r in result.results:
        meta, res, ok = _meta(r), r.result, bool(r.success)
        name = meta["name"]
        if meta["kind"] == "coverage":
            total = int(res["element_count"])
            eligible = total - int(res.get("missing_count") or 0)
            non_null = eligible - int(res.get("unexpected_count") or 0)
            # Under an overall target a column without its own is reported, not judged.
            judged = not (contract.overall and targets[name] == 0.0)
            columns.append(
                ColumnCoverage(
                    contract.table,
                    name,
                    total,
                    eligible,
                    non_null,
                    targets[name] if judged else None,
                    ok if judged else None,
                    examples.get(name, []),
                )
            )
        elif meta["kind"] == "rows":
            expected, target = rows
            observed = int(res["observed_value"])
            columns.insert(
                0,
                ColumnCoverage(contract.table, name, expected, expected, observed, target, ok),
            )
        else:
            checked = int(res.get("element_count") or 0) - int(res.get("missing_count") or 0)
            unexpected = int(res.get("unexpected_count") or 0)
            rules.append(
                RuleResult(contract.table, name, checked, unexpected, ok, examples.get(name, []))
            )
    return SuiteReport(contract.name, contract.table, start, end, columns, rules)


def _meta(result: ExpectationValidationResult) -> dict[str, str]:
    config = result.expectation_config
    meta = (config.meta or {}) if config is not None else {}
    return dict(meta.get("coinfill") or {"kind": "other", "name": "?"})


def _plain(value: Any) -> Any:
    return value.isoformat(sep=" ") if isinstance(value, datetime) else value
