"""The shared chunk runner on its fault path: what it retries, and a database refusal that
stops the run with the real cause (DESIGN §10)."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.states import Failed

from coinfill.errors import DatabaseRefusedError, DatabaseTransientError
from flows.chunks import retry_if_it_can_help
from flows.technical_indicators import technical_indicators
from tests.helpers import real_prices, select_only_user, store_prices


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (DatabaseTransientError("deadlock; rolled back"), True),
        (
            DatabaseRefusedError("database refused INSERT on t", table="t", privilege="INSERT"),
            False,
        ),
        (RuntimeError("a bug no one classified"), True),
    ],
)
def test_a_chunk_is_retried_only_when_another_attempt_can_help(
    error: Exception, retried: bool
) -> None:
    state = Failed(data=error)
    assert retry_if_it_can_help(None, None, state) is retried  # type: ignore[arg-type]


@pytest.fixture
def read_only(
    mysql_database: str, real_bars: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    from tests.conftest import _fresh_server_database

    engine = _fresh_server_database(mysql_database)
    store_prices(engine, real_prices(real_bars, ["BTC", "ETH", "LTC", "XRP"], hours=300))
    engine.dispose()
    with select_only_user(mysql_database) as url:
        monkeypatch.setenv("COINFILL_DATABASE_URL", url)
        monkeypatch.setenv("COINFILL_CHUNK_SYMBOLS", "1")
        monkeypatch.setenv("COINFILL_MAX_PARALLEL_CHUNKS", "1")
        yield


@pytest.mark.mysql
def test_given_a_select_only_user_then_the_first_refused_write_ends_the_run_naming_it(
    read_only: None,
) -> None:
    state = technical_indicators(days=0, symbols=["BTC", "ETH", "LTC", "XRP"], return_state=True)
    refused = state.result(raise_on_failure=False)
    assert isinstance(refused, DatabaseRefusedError)
    # The real cause, not a later DELETE on coverage_history; named in the state message too.
    assert refused.privilege == "INSERT"
    assert refused.table == "technical_indicators"
    assert "GRANT" in str(refused)
    assert state.is_failed() and state.message == str(refused)
    # Not retried, and no chunk started after it: one chunk task ran, once.
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[state.state_details.flow_run_id])
            )
        )
    chunks = [r for r in runs if r.name.startswith("technical-chunk")]
    assert len(chunks) == 1
    assert chunks[0].run_count == 1
