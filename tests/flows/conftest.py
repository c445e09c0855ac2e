from __future__ import annotations

from collections.abc import Iterator

import pytest
from prefect.testing.utilities import prefect_test_harness


@pytest.fixture(scope="session", autouse=True)
def prefect_harness() -> Iterator[None]:
    """One throw-away Prefect API (SQLite) for every flow test of the session."""
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COINFILL_CHUNK_RETRY_DELAY_SECONDS", "0")
    monkeypatch.setenv("COINFILL_CHUNK_RETRIES", "1")
