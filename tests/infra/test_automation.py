"""The backfill automation, checked with Prefect's own server models: the trigger and action
Terraform sends (as Terraform evaluates them) are a valid automation; the trigger covers the
flow-run events Prefect emits for a failed, crashed or timed-out run of a `backfill`
deployment of each collector (a coverage miss is a Failed run) and nothing else; the
notification renders with the run's state message."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from tests.infra.jobtemplate import deployments
from tests.infra.tfconfig import REPO, evaluate_locals

BACKFILL_FLOWS = [
    "technical-indicators",
    "macro-indicators",
    "crypto-prices",
    "onchain-metrics",
    "news-sentiment",
    "ml-features",
]
COVERAGE_MISS = "prices suite missed after the run: BTC bars 91.2% < 95%"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    values = evaluate_locals()
    return {
        "trigger": values["backfill_failure_trigger"],
        "subject": values["backfill_failure_subject"],
        "body": values["backfill_failure_body"],
    }


@pytest.fixture(scope="module")
def automation(spec: dict[str, Any]) -> Any:
    """The automation as the Prefect API would store it (the provider sends these fields)."""
    from prefect.server.events.schemas.automations import AutomationCore

    trigger = dict(
        spec["trigger"], type="event", within=timedelta(seconds=spec["trigger"]["within"])
    )
    return AutomationCore(
        name="coinfill-backfill-failed",
        trigger=trigger,
        actions=[
            {
                "type": "send-notification",
                "block_document_id": str(uuid.uuid4()),
                "subject": spec["subject"],
                "body": spec["body"],
            }
        ],
    )


def _event(state: str, flow: str, deployment: str | None, message: str = "") -> Any:
    """A flow-run state-change event as Prefect's server builds it."""
    from prefect.server.events.schemas.events import ReceivedEvent
    from prefect.server.models.events import _as_resource_data, _resource_data_as_related_resources

    def obj(name: str, **extra: Any) -> SimpleNamespace:
        return SimpleNamespace(**{"id": uuid.uuid4(), "name": name, "tags": [], **extra})

    flow_run = obj("calm-heron", tags=["coinfill"])
    data = _as_resource_data(
        flow_run,
        obj(flow),
        obj(deployment) if deployment else None,
        obj("default"),
        obj("coinfill-k8s", type="kubernetes"),
    )
    return ReceivedEvent(
        occurred="2026-11-21T12:00:00Z",
        event=f"prefect.flow-run.{state}",
        resource={
            "prefect.resource.id": f"prefect.flow-run.{flow_run.id}",
            "prefect.resource.name": flow_run.name,
            "prefect.state-message": message,
            "prefect.state-name": state,
        },
        related=_resource_data_as_related_resources(data, excluded_kinds=["flow-run"]),
        id=uuid.uuid4(),
    )


def test_terraform_trigger_is_a_valid_prefect_automation(automation: Any) -> None:
    trigger = automation.trigger
    assert trigger.posture == "Reactive"
    assert trigger.immediate
    assert trigger.expect == {
        "prefect.flow-run.Failed",
        "prefect.flow-run.Crashed",
        "prefect.flow-run.TimedOut",
    }
    (action,) = automation.actions
    assert action.type == "send-notification"


@pytest.mark.parametrize("flow", BACKFILL_FLOWS)
def test_a_coverage_miss_of_each_backfill_notifies(automation: Any, flow: str) -> None:
    assert automation.trigger.covers(_event("Failed", flow, "backfill", COVERAGE_MISS))


@pytest.mark.parametrize("state", ["Failed", "Crashed", "TimedOut"])
def test_a_broken_backfill_notifies(automation: Any, state: str) -> None:
    assert automation.trigger.covers(_event(state, "crypto-prices", "backfill", "chunk 3 failed"))


@pytest.mark.parametrize(
    ("state", "flow", "deployment"),
    [
        ("Completed", "crypto-prices", "backfill"),
        ("Running", "ml-features", "backfill"),
        ("Cancelled", "ml-features", "backfill"),
        ("Failed", "crypto-prices", "scheduled"),
        ("Failed", "someone-elses-flow", "backfill"),
        ("Failed", "crypto-prices", None),
    ],
)
def test_other_runs_do_not_notify(
    automation: Any, state: str, flow: str, deployment: str | None
) -> None:
    assert not automation.trigger.covers(_event(state, flow, deployment))


def test_notification_says_which_run_failed_and_why(spec: dict[str, Any]) -> None:
    from prefect.server.events.jinja_filters import all_filters
    from prefect.server.utilities.user_templates import (
        register_user_template_filters,
        render_user_template_sync,
    )

    register_user_template_filters(all_filters)
    run = SimpleNamespace(
        name="prices-2024-01-01..2024-02-01",
        parameters={"start": "2024-01-01", "end": "2024-02-01"},
        state=SimpleNamespace(
            name="Failed", message=COVERAGE_MISS, timestamp="2026-11-21T12:00:00Z"
        ),
    )
    context = {
        "flow_run": run,
        "flow": SimpleNamespace(name="crypto-prices"),
        "deployment": SimpleNamespace(name="backfill"),
    }
    subject = render_user_template_sync(spec["subject"], context)
    body = render_user_template_sync(spec["body"], context)
    assert subject == "coinfill backfill Failed: crypto-prices (prices-2024-01-01..2024-02-01)"
    assert (
        "Backfill crypto-prices/backfill, run prices-2024-01-01..2024-02-01, ended Failed" in body
    )
    assert f"Why: {COVERAGE_MISS}" in body
    assert "'start': '2024-01-01'" in body


def test_watched_flows_are_the_backfill_deployments_of_prefect_yaml(spec: dict[str, Any]) -> None:
    related = spec["trigger"]["match_related"]
    assert related[0] == {
        "prefect.resource.role": "deployment",
        "prefect.resource.name": "backfill",
    }
    assert related[1]["prefect.resource.name"] == BACKFILL_FLOWS
    found = deployments()
    if found is None:
        pytest.skip("no prefect.yaml yet")
    names = set()
    for d in found:
        if d["name"] != "backfill":
            continue
        path = REPO / d["entrypoint"].split(":", 1)[0]
        flow_name = re.search(r'^FLOW_NAME = "([^"]+)"', path.read_text(), re.M)
        assert flow_name, f"{path}: no FLOW_NAME"
        names.add(flow_name.group(1))
    assert names == set(BACKFILL_FLOWS)
