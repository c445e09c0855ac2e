"""Build the GX 1.x ``ExpectationSuite`` of a table from its contract.

The suites run on a *scope* query (``coinfill.db.scopes``): the table's rows in the backfill's
window and symbols, plus one coverage status column per measured column, ``cov_<column>``:

- ``'filled'``  — eligible and non-NULL,
- ``'missing'`` — eligible and NULL,
- ``NULL``      — not eligible (a technical warm-up row, another macro indicator's row).

``expect_column_values_to_be_in_set(['filled'], mostly=target)`` on a status column then *is*
coverage = non-NULL ÷ eligible: GX skips NULLs (ineligible rows) and counts ``'missing'`` as
unexpected. Every column's coverage and every validity rule is an aggregate over the same
batch, so GX computes them all in one bundled query — the database does the counting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe

from expectations.contracts import Bounds, Contract
from expectations.statuses import (
    FAIL,
    FILLED,
    MIN_ROWS,
    MISSING,
    NOW,
    PASS,
    order_column,
    status_column,
    value_column,
)

# Re-exported: the runner and older callers import these names from here.
__all__ = [
    "FAIL",
    "FILLED",
    "MIN_ROWS",
    "MISSING",
    "NOW",
    "PASS",
    "build_suite",
    "order_column",
    "status_column",
    "unique_rule",
    "value_column",
]


def _meta(kind: str, name: str) -> dict[str, Any]:
    return {"coinfill": {"kind": kind, "name": name}}


def unique_rule(contract: Contract) -> str:
    return f"unique {', '.join(contract.keys)}"


def _bounds_name(bound: Bounds) -> str:
    if bound.high is None:
        return f"{bound.column} {'>' if bound.strict_low else '≥'} {bound.low:g}"
    if bound.low is None:
        return f"{bound.column} ≤ {bound.high:g}"
    return f"{bound.column} within [{bound.low:g}, {bound.high:g}]"


def build_suite(
    contract: Contract, targets: Mapping[str, float], *, check_unique: bool = True
) -> gx.ExpectationSuite:
    """``check_unique=False`` when the database enforces the key (the runner records that)."""
    suite = gx.ExpectationSuite(name=f"coinfill.{contract.name}")
    for column in contract.coverage:
        target = targets[column]
        suite.add_expectation(
            gxe.ExpectColumnValuesToBeInSet(
                column=status_column(column),
                value_set=[FILLED],
                mostly=target / 100.0,
                description=f"{column} is filled on ≥ {target:g} % of eligible rows",
                meta=_meta("coverage", column),
            )
        )
    if contract.rows_follow_prices or contract.rows_follow_bars:
        what = "valid price row" if contract.rows_follow_prices else "expected bar"
        suite.add_expectation(
            gxe.ExpectTableRowCountToBeBetween(
                min_value={"$PARAMETER": MIN_ROWS},
                description=f"a row exists for every {what} in the window",
                meta=_meta("rows", "(rows)" if contract.rows_follow_prices else "(bars)"),
            )
        )
    keys = list(contract.keys)
    unique = unique_rule(contract)
    if check_unique and len(keys) > 1:
        suite.add_expectation(
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=keys, description=unique, meta=_meta("validity", unique)
            )
        )
    elif check_unique:
        suite.add_expectation(
            gxe.ExpectColumnValuesToBeUnique(
                column=keys[0], description=unique, meta=_meta("validity", unique)
            )
        )
    future = f"{contract.time_column} not in the future"
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(
            column=contract.time_column,
            max_value={"$PARAMETER": NOW},
            description=future,
            meta=_meta("validity", future),
        )
    )
    for bound in contract.bounds:
        name = _bounds_name(bound)
        suite.add_expectation(
            gxe.ExpectColumnValuesToBeBetween(
                column=value_column(contract, bound.column),
                min_value=bound.low,
                max_value=bound.high,
                strict_min=bound.strict_low,
                description=bound.why or name,
                meta=_meta("validity", name),
            )
        )
    for a, b in contract.ordered:
        name = f"{a} ≥ {b}"
        # A check column rather than expect_column_pair_values_a_to_be_greater_than_b: the pair
        # expectation filters rows and costs GX two extra scans; this joins the bundled query.
        suite.add_expectation(
            gxe.ExpectColumnValuesToBeInSet(
                column=order_column(a, b),
                value_set=[PASS],
                description=name,
                meta=_meta("validity", name),
            )
        )
    return suite
