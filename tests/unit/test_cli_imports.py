"""Start-up is what users wait for (DESIGN §11): `coinfill --help`, a sub-command's help and
an argument error load nothing heavy, and a flow module does not load Great Expectations
(~3 s) before its coverage pass runs. Each case runs in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from coinfill.cli.reports import SUITES
from expectations.contracts import CONTRACTS

HEAVY = ("great_expectations", "prefect", "pandas", "sqlalchemy", "numpy", "pydantic_settings")
FLOWS = (
    "flows.technical_indicators",
    "flows.crypto_prices",
    "flows.macro_indicators",
    "flows.onchain_metrics",
    "flows.ml_features",
    "flows.news_sentiment",
)

CLI = """
import json, sys
from coinfill.cli import app
try:
    app(sys.argv[1:], prog_name="coinfill")
except SystemExit as end:
    code = end.code
print(json.dumps({"exit": code, "heavy": [m for m in %r if m in sys.modules]}))
"""


def loaded_by_cli(*args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", CLI % (HEAVY,), *args], capture_output=True, text=True, timeout=120
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    result["stderr"] = done.stderr
    return result


@pytest.mark.parametrize(
    ("args", "exit_code"),
    [
        (["--help"], 0),
        (["run", "--help"], 0),
        (["run", "technical", "--help"], 0),
        (["coverage", "--help"], 0),
        (["run", "technical", "--days", "soon"], 2),  # typer rejects it
        (["run", "technical", "--symbols", "B@D"], 2),  # coinfill rejects it, before Prefect
        (["run", "macro", "--start", "2024-05-01", "--end", "2024-01-01"], 2),
        (["run", "nothing"], 2),
    ],
)
def test_help_and_argument_errors_load_nothing_heavy(args: list[str], exit_code: int) -> None:
    result = loaded_by_cli(*args)
    assert result["exit"] == exit_code, result["stderr"]
    assert result["heavy"] == [], f"coinfill {' '.join(args)} imported {result['heavy']}"


def test_an_input_error_is_one_line_before_anything_starts() -> None:
    result = loaded_by_cli("run", "technical", "--symbols", "B@D")
    lines = str(result["stderr"]).strip().splitlines()
    assert lines == ["error: not a valid symbol: B@D (letters, digits, . _ - only)"]


@pytest.mark.parametrize("module", FLOWS)
def test_a_flow_module_loads_great_expectations_only_when_it_measures(module: str) -> None:
    code = f"import sys, {module}; print('great_expectations' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_the_help_names_every_suite() -> None:
    assert sorted(SUITES) == sorted(CONTRACTS)
