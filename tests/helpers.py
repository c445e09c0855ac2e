"""Helpers for tests: real price rows from the bundled bars, stored through the upsert path."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from coinfill.db.schema import price_data_real
from coinfill.db.upsert import upsert
from coinfill.demo import price_rows_from_bars


def real_prices(bars: pd.DataFrame, symbols: list[str], hours: int | None = None) -> pd.DataFrame:
    """``price_data_real`` rows for ``symbols``: the first ``hours`` bars of each."""
    chosen = bars[bars["symbol"].isin(symbols)]
    if hours is not None:
        chosen = chosen.groupby("symbol", group_keys=False).head(hours)
    return price_rows_from_bars(chosen)


def store_prices(engine: Engine, rows: pd.DataFrame) -> None:
    upsert(engine, price_data_real, rows, ("symbol", "timestamp"))


def run_artifacts(flow_run_id: object) -> list[Any]:
    """Every artifact of one flow run (the session's Prefect API holds many runs' artifacts)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    only = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
    with get_client(sync_client=True) as client:
        return list(client.read_artifacts(artifact_filter=only))


@contextmanager
def select_only_user(database_url: str) -> Iterator[str]:
    """The URL of a new MariaDB/MySQL user that may only SELECT in ``database_url``'s
    database (dropped afterwards): the read-only user of DESIGN §10."""
    url = make_url(database_url)
    user, password = f"ro_{uuid.uuid4().hex[:8]}", "ro-pass-1"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'"))
        conn.execute(text(f"GRANT SELECT ON `{url.database}`.* TO '{user}'@'%'"))
    try:
        yield url.set(username=user, password=password).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP USER IF EXISTS '{user}'@'%'"))
        admin.dispose()
