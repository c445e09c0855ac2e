"""The local stack end to end: `infra/local/stack.sh up` (what `make up` runs) on a free port,
`prefect deploy --all` of prefect.yaml, the deployments' parameter schemas against the flows'
signatures, one `technical-indicators/backfill` run with `days=3` on the process worker, its
artifacts, then `down`. Nothing is mocked: a real Prefect server and worker, a real database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from coinfill.db.engine import make_engine
from coinfill.db.migrate import upgrade
from tests.helpers import store_prices

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "infra" / "local" / "stack.sh"
BIN = Path(sys.executable).parent
FLOWS = {
    "technical-indicators": "flows.technical_indicators:technical_indicators",
    "macro-indicators": "flows.macro_indicators:macro_indicators",
    "onchain-metrics": "flows.onchain_metrics:onchain_metrics",
    "crypto-prices": "flows.crypto_prices:crypto_prices",
    "news-sentiment": "flows.news_sentiment:news_sentiment",
    "ml-features": "flows.ml_features:ml_features",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    state = tmp_path_factory.mktemp("stack")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "COINFILL_"))},
        "PORT": str(port),
        "STACK_DIR": str(state),
        "BIN": str(BIN),
        "POOL": "coinfill-test-local",
        "COINFILL_DATABASE_URL": f"sqlite:///{state}/coinfill.db",
        "COINFILL_RATE_LIMITER": "local",
    }
    up = subprocess.run([str(STACK), "up"], env=env, cwd=ROOT, capture_output=True, text=True,
                        timeout=600)  # fmt: skip
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        env |= {
            "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
            "PREFECT_HOME": f"{state}/prefect",
        }
        yield env | {"UP_OUTPUT": up.stdout}
    finally:
        down = subprocess.run(
            [str(STACK), "down"], env=env, capture_output=True, text=True, timeout=120
        )
        assert "stopped the worker" in down.stdout and "stopped the server" in down.stdout, (
            down.stdout
        )


def prefect(env: dict[str, str], *args: str, timeout: int = 300) -> str:
    done = subprocess.run([str(BIN / "prefect"), *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def deployments(env: dict[str, str]) -> list[Any]:
    code = (
        "import json; from prefect.client.orchestration import get_client\n"
        "with get_client(sync_client=True) as c:\n"
        "    flows = {f.id: f.name for f in c.read_flows()}\n"
        "    print(json.dumps([{'flow': flows[d.flow_id], 'name': d.name, 'pool': d.work_pool_name,"
        " 'schema': d.parameter_openapi_schema, 'enforce': d.enforce_parameter_schema,"
        " 'schedules': len(d.schedules), 'limit': d.global_concurrency_limit.limit"
        " if d.global_concurrency_limit else None, 'job_variables': d.job_variables}"
        " for d in c.read_deployments()]))"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    import json

    return list(json.loads(done.stdout))


def test_every_deployment_is_created_on_the_local_pool(stack: dict[str, str]) -> None:
    found = deployments(stack)
    names = sorted(f"{d['flow']}/{d['name']}" for d in found)
    assert names == sorted(f"{f}/{kind}" for f in FLOWS for kind in ("backfill", "scheduled"))
    assert {d["pool"] for d in found} == {"coinfill-test-local"}
    assert all(d["enforce"] and d["limit"] == 1 for d in found)
    assert {d["name"]: d["schedules"] for d in found if d["name"] == "backfill"} == {"backfill": 0}
    assert all(d["schedules"] == 1 for d in found if d["name"] == "scheduled")
    backfill = next(d for d in found if d["name"] == "backfill")
    assert backfill["job_variables"]["secret_name"] == "coinfill-secrets"
    assert backfill["job_variables"]["active_deadline_seconds"] == 21600


def test_parameter_schemas_match_the_flow_signatures(stack: dict[str, str]) -> None:
    from prefect.utilities.callables import parameter_schema
    from prefect.utilities.importtools import import_object

    for d in deployments(stack):
        flow = import_object(FLOWS[d["flow"]])
        expected = parameter_schema(flow.fn).model_dump_for_openapi()
        assert d["schema"]["properties"] == expected["properties"], d["flow"]
        assert set(d["schema"].get("required", [])) == set(expected.get("required", []))


def test_prefect_yaml_deployments_say_their_schedule() -> None:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    every = {
        d["entrypoint"].split(":")[1]: d["schedules"][0]
        for d in config["deployments"] if d["name"] == "scheduled"
    }  # fmt: skip
    assert every["technical_indicators"] == {"interval": 1800, "timezone": "UTC"}
    assert every["macro_indicators"]["cron"] == "5 * * * *"  # hourly
    assert every["onchain_metrics"]["cron"] == "15 */4 * * *"  # every 4 h
    assert every["crypto_prices"]["interval"] == 900
    assert every["ml_features"]["interval"] == 1800
    assert every["news_sentiment"]["interval"] == 900


def test_a_backfill_run_with_days_3_completes_with_artifacts(stack: dict[str, str]) -> None:
    engine = make_engine(stack["COINFILL_DATABASE_URL"])
    upgrade(engine)
    first = (datetime.now(UTC) - timedelta(days=5)).replace(
        tzinfo=None, minute=0, second=0, microsecond=0
    )
    hours = [first + timedelta(hours=i) for i in range(5 * 24 - 1)]
    store_prices(engine, pd.DataFrame([
        {"symbol": "BTC", "timestamp": int(t.replace(tzinfo=UTC).timestamp() * 1000),
         "timestamp_iso": t, "current_price": 90_000.0 + 50 * (i % 7), "high_24h": 91_000.0,
         "low_24h": 89_000.0, "volume_usd_24h": 1e9, "data_source": "test"}
        for i, t in enumerate(hours)
    ]))  # fmt: skip

    out = prefect(stack, "deployment", "run", "technical-indicators/backfill", "--param", "days=3",
                  "--param", 'symbols=["BTC"]', "--watch", "--watch-timeout", "300", timeout=400)  # fmt: skip

    assert "Completed" in out, out
    code = (
        "from prefect.client.orchestration import get_client\n"
        "with get_client(sync_client=True) as c:\n"
        "    print(sorted({a.key for a in c.read_artifacts() if a.key}))"
    )
    keys = subprocess.run([sys.executable, "-c", code], env=stack, capture_output=True, text=True,
                          timeout=120).stdout  # fmt: skip
    assert "technical-indicators-coverage" in keys
    with engine.connect() as conn:
        from sqlalchemy import text

        rows = conn.execute(text("SELECT COUNT(*), COUNT(rsi_14) FROM technical_indicators")).one()
    # The last three days of hourly bars (71 or 72, by where the clock is in the hour), each
    # with its RSI: the run warmed the indicators up from the two days before the window.
    assert 71 <= rows[0] <= 72 and rows[1] == rows[0]
