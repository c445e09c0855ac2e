"""The bench harness (bench/process.py, bench/common.py) measures a command from its outside."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import common
import process

FLOW = [
    "23:59:58.500 | INFO    | Flow run 'x' - Beginning flow run 'x' for flow 'technical'",
    "23:59:59.000 | INFO    | Task run 'chunk-1' - Finished in state Completed()",
    "00:00:01.250 | INFO    | Flow run 'x' - Finished in state Completed()",
    "| column | eligible |",
]


def test_in_flow_runs_from_the_first_flow_line_to_the_flow_runs_finish_across_midnight() -> None:
    assert process.in_flow_seconds(FLOW) == 2.75


def test_in_flow_is_none_without_a_finished_flow_run() -> None:
    assert process.in_flow_seconds(FLOW[:2]) is None
    assert process.in_flow_seconds(["plain text"]) is None


def test_a_command_is_timed_from_outside(tmp_path: Path) -> None:
    script = tmp_path / "fake.py"
    script.write_text(
        "import sys, time\n"
        "time.sleep(0.3)\n"
        f"print({FLOW[0]!r})\n"
        "buffer = bytearray(64 << 20)\n"  # the peak must show it
        "time.sleep(0.2)\n"
        f"print({FLOW[2]!r})\n"
        "print('error: one line', file=sys.stderr)\n"
        "sys.exit(3)\n"
    )
    env = process.clean_env(COINFILL_X="1")
    run = process.run_command(Path(sys.executable), [str(script)], env, "own")
    assert run.exit == 3
    assert run.stderr == ["error: one line"]
    assert run.first_line_s is not None and 0.3 <= run.first_line_s < run.whole_s
    assert run.whole_s >= 0.5
    assert run.in_flow_s == 2.75  # from the log's own stamps
    assert run.peak_rss >= 64 << 20
    assert run.brief()["exit"] == 3


def test_the_callers_coinfill_and_prefect_settings_never_reach_the_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COINFILL_DATABASE_URL", "mysql://prod")
    monkeypatch.setenv("PREFECT_API_URL", "http://prod/api")
    env = process.clean_env(PREFECT_HOME="/tmp/x")
    assert "COINFILL_DATABASE_URL" not in env and "PREFECT_API_URL" not in env
    assert env["PREFECT_HOME"] == "/tmp/x" and env["PYTHONUNBUFFERED"] == "1"
    assert env["PATH"] == os.environ["PATH"]


def test_markdown_rows_reads_the_table_with_the_column() -> None:
    lines = ["text", "| a | b |", "|---|---|", "| 1 | 2 |", "", "| seconds | scored |",
             "|---|---|", "| 4.5 | 10 |", "| 1.0 | 3 |", "after"]  # fmt: skip
    assert common.markdown_rows(lines, "scored") == [
        {"seconds": "4.5", "scored": "10"},
        {"seconds": "1.0", "scored": "3"},
    ]
    assert common.markdown_rows(lines, "missing") == []


def test_ratios_divide_whole_and_in_flow_by_the_basis() -> None:
    row = common.Row("full", "own", 30.0, 20.0, basis="floor", basis_s=10.0)
    assert (row.ratio, row.ratio_in_flow) == (3.0, 2.0)
    assert common.Row("help", "–", 0.2, None).ratio is None


def test_a_scratch_database_without_bench_in_its_name_is_never_dropped() -> None:
    with pytest.raises(SystemExit, match="must contain 'bench'"):
        common.recreate_database("mysql+pymysql://root@127.0.0.1:1/coinfill")
