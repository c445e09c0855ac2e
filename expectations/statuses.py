"""The plain values and column names a coverage scope and its suite agree on.

Kept apart from ``expectations.suites`` so that the scope builders (``coinfill.db.scopes``,
``coinfill.db.calendar_scope``) do not import Great Expectations, which takes seconds: only
the runner that validates (``coinfill.validation.gxrun``) pays for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from expectations.contracts import Contract

FILLED = 1
MISSING = 0
PASS = 1
FAIL = 0
# Suite parameters filled at run time (``expectation_parameters``).
NOW = "now"
MIN_ROWS = "min_rows"


def status_column(measured: str) -> str:
    return f"cov_{measured.lower()}"


def order_column(a: str, b: str) -> str:
    """``PASS`` where ``a ≥ b``, ``FAIL`` where not, NULL where either is missing."""
    return f"chk_{a}_ge_{b}"


def value_column(contract: Contract, measured: str) -> str:
    """The scope column holding a measured value (macro: one column per indicator)."""
    return f"v_{measured.lower()}" if contract.split_by else measured
