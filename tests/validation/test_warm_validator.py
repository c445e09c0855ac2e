"""The warm validator (coinfill.validation.warm): coverage passes in a helper process that
imported Great Expectations while the CLI started — the same report as in-process, errors
as the same class, a fallback when the helper is gone, and no helper outliving its parent."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, delete, update

from coinfill.backfill import Window
from coinfill.db.engine import make_engine
from coinfill.db.migrate import upgrade
from coinfill.db.schema import technical_indicators
from coinfill.errors import DatabaseRefusedError, InputError
from coinfill.technical import backfill_chunk
from coinfill.validation import warm
from coinfill.validation.gxrun import validate as validate_here
from coinfill.validation.warm import WarmValidator, _rebuilt, warm_validator
from expectations.contracts import contract_for
from tests.helpers import real_prices, store_prices

NOW = datetime(2026, 11, 21)
TECH = contract_for("technical")


@pytest.fixture
def db(db_url: str, real_bars: pd.DataFrame) -> Iterator[Engine]:
    engine = make_engine(db_url)
    upgrade(engine)
    store_prices(engine, real_prices(real_bars, ["BTC", "ETH"], hours=700))
    backfill_chunk(engine, ["BTC", "ETH"], Window(None, None, 0), lookback_rows=600, now=NOW)
    t = technical_indicators
    with engine.begin() as conn:  # holes, so the report has misses and examples to carry
        conn.execute(update(t).where(t.c.symbol == "ETH", t.c.id % 7 == 0).values(rsi_14=None))
        conn.execute(delete(t).where(t.c.symbol == "BTC", t.c.id % 11 == 0))
    yield engine
    engine.dispose()


@pytest.fixture
def helper() -> Iterator[WarmValidator]:
    started = WarmValidator()
    yield started
    started.close()


def test_the_helper_reports_exactly_what_this_process_does(
    db: Engine, helper: WarmValidator
) -> None:
    whole = helper.validate(db, (TECH, None, None, None, NOW), {})
    assert whole.as_dict() == validate_here(db, TECH, None, None, None, NOW).as_dict()
    assert not whole.passed  # the holes are seen, with examples, on both sides
    assert any(column.examples for column in whole.columns)
    first = whole.start or datetime(2017, 10, 1)
    window = (TECH, first, first + timedelta(days=10), ["ETH"], NOW)
    assert helper.validate(db, window, {}).as_dict() == validate_here(db, *window).as_dict()
    assert helper.validate(
        db, (TECH, None, None, None, NOW), {"target_overrides": {"technical": 1}}
    ).passed


def test_an_error_in_the_helper_is_the_same_error_here(
    tmp_path: Path, helper: WarmValidator
) -> None:
    empty = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(InputError, match="coinfill db upgrade") as raised:
        helper.validate(empty, (TECH, None, None, None, NOW), {})
    assert any("warm validator" in note for note in raised.value.__notes__)
    assert not helper.broken  # a failed pass is an answer; the helper serves the next one


def test_an_error_with_keyword_arguments_is_rebuilt_whole() -> None:
    original = DatabaseRefusedError("database refused INSERT", table="t", privilege="INSERT")
    copy = _rebuilt(type(original), original.args, vars(original), "")
    assert isinstance(copy, DatabaseRefusedError)
    assert (str(copy), vars(copy)) == (str(original), vars(original))


def test_a_dead_helper_falls_back_to_this_process(db: Engine) -> None:
    started = WarmValidator()
    started._process.kill()
    started._process.wait()
    warm._current = started
    try:
        report = warm.validate(db, TECH, None, None, None, NOW)
    finally:
        warm._current = None
        started.close()
    assert started.broken
    assert report.as_dict() == validate_here(db, TECH, None, None, None, NOW).as_dict()


def test_nothing_is_started_where_great_expectations_is_loaded() -> None:
    assert "great_expectations" in sys.modules
    with warm_validator():
        assert warm._current is None


ORPHAN = textwrap.dedent(
    """
    import os
    from coinfill.validation.warm import WarmValidator
    helper = WarmValidator()
    print(helper._process.pid, flush=True)
    os._exit(0)  # like a kill -9: no clean-up runs
    """
)


def test_the_helper_does_not_outlive_its_parent() -> None:
    done = subprocess.run(
        [sys.executable, "-c", ORPHAN], capture_output=True, text=True, timeout=60
    )
    pid = int(done.stdout.strip())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
