"""How a deployment's flow run ends when its pod does: a SIGTERM (cancellation, pod deletion)
leaves the 15 s graceful shutdown room before Kubernetes kills it, and a pod that vanished
without a word (node lost, OOM kill) stops sending heartbeats, which the
coinfill-flow-run-heartbeat-lost automation turns into Crashed. Checked on the Job as the worker
renders it, on heartbeat events built by Prefect's own flow engine and state-change events built
by its server, and on the trigger and action as Prefect's server models read them."""

from __future__ import annotations

import asyncio
import copy
import uuid
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from tests.infra.jobtemplate import base_job_template, deployments, render_job
from tests.infra.test_automation import BACKFILL_FLOWS, _event
from tests.infra.test_job_template import CASE_IDS, CASES
from tests.infra.tfconfig import evaluate_locals, locals_, resource

GRACEFUL_SHUTDOWN_SECONDS = 15  # DESIGN §10: an interrupted run stops within this
HEARTBEAT_ENV = "PREFECT_FLOWS_HEARTBEAT_FREQUENCY"


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    return evaluate_locals()


@pytest.fixture(scope="module")
def template(values: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(values["base_job_template"])


@pytest.fixture(scope="module")
def automation(values: dict[str, Any]) -> Any:
    """The automation as the Prefect API would store it (the provider sends these fields)."""
    from prefect.server.events.schemas.automations import AutomationCore

    spec = values["heartbeat_lost_trigger"]
    return AutomationCore.model_validate(
        {
            "name": "coinfill-flow-run-heartbeat-lost",
            "trigger": dict(spec, type="event", within=timedelta(seconds=spec["within"])),
            "actions": [
                {
                    "type": "change-flow-run-state",
                    "state": "CRASHED",
                    "message": values["heartbeat_lost_message"],
                }
            ],
        }
    )


def _heartbeat(flow: str, deployment: bool = True) -> Any:
    """A heartbeat event as Prefect's flow engine builds it (flow_engine.py)."""
    from prefect.flow_engine import FlowRunEngine
    from prefect.server.events.schemas.events import ReceivedEvent

    engine = SimpleNamespace(
        flow_run=SimpleNamespace(
            id=uuid.uuid4(),
            name="calm-heron",
            tags=["coinfill", "backfill"],
            flow_id=uuid.uuid4(),
            deployment_id=uuid.uuid4() if deployment else None,
        ),
        flow=SimpleNamespace(name=flow),
    )
    resource_, related = FlowRunEngine._build_heartbeat_event_template(engine)  # type: ignore[arg-type]
    return ReceivedEvent.model_validate(
        {
            "occurred": "2026-11-21T12:00:00Z",
            "event": "prefect.flow-run.heartbeat",
            "resource": resource_,
            "related": [r.model_dump() for r in related],
            "id": uuid.uuid4(),
        }
    )


# -- the Job --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "job_variables"), CASES, ids=CASE_IDS)
def test_sigterm_leaves_room_for_the_graceful_shutdown(
    case: str, job_variables: dict[str, Any], template: dict[str, Any]
) -> None:
    pod = render_job(job_variables, template=template)["spec"]["template"]["spec"]
    grace = pod["terminationGracePeriodSeconds"]
    assert grace == 30, case
    assert grace >= 2 * GRACEFUL_SHUTDOWN_SECONDS, "a margin over the graceful shutdown"


@pytest.mark.parametrize(("case", "job_variables"), CASES, ids=CASE_IDS)
def test_every_flow_run_sends_heartbeats_as_often_as_the_automation_expects(
    case: str, job_variables: dict[str, Any], template: dict[str, Any], values: dict[str, Any]
) -> None:
    container = render_job(job_variables, template=template)["spec"]["template"]["spec"][
        "containers"
    ][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env[HEARTBEAT_ENV] == str(values["flow_run_heartbeat_seconds"]) == "30", case


def test_prefect_reads_the_heartbeat_setting(template: dict[str, Any]) -> None:
    from prefect.settings.models.flows import FlowsSettings

    default_env = template["variables"]["properties"]["env"]["default"]
    settings = FlowsSettings.model_validate({"heartbeat_frequency": default_env[HEARTBEAT_ENV]})
    assert settings.heartbeat_frequency == 30  # Prefect's minimum: ge=30


def test_a_deployment_env_keeps_the_heartbeat_with_the_real_worker(
    template: dict[str, Any],
) -> None:
    worker = pytest.importorskip("prefect_kubernetes.worker")
    from prefect.client.schemas.objects import FlowRun

    class NoClient:
        pass

    config = asyncio.run(
        worker.KubernetesWorkerJobConfiguration.from_template_and_values(
            copy.deepcopy(template), {"env": {"COINFILL_LOG_LEVEL": "DEBUG"}}, client=NoClient()
        )
    )
    config.prepare_for_flow_run(FlowRun(flow_id=uuid.uuid4(), name="calm-heron"))
    pod = config.job_manifest["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env[HEARTBEAT_ENV] == "30" and env["COINFILL_LOG_LEVEL"] == "DEBUG"
    assert pod["terminationGracePeriodSeconds"] == 30


def test_every_deployment_asks_for_heartbeats_on_any_pool(values: dict[str, Any]) -> None:
    """prefect.yaml sets it too: a run of these deployments on a process pool (no base job
    template of ours) must not be taken for a lost pod by the automation."""
    found = deployments()
    if found is None:
        pytest.skip("no prefect.yaml yet")
    for d in found:
        env = d["job_variables"].get("env") or {}
        assert env.get(HEARTBEAT_ENV) == str(values["flow_run_heartbeat_seconds"]), d["name"]


def test_template_default_matches_terraform() -> None:
    default_env = base_job_template()["variables"]["properties"]["env"]["default"]
    assert default_env[HEARTBEAT_ENV] == "30"


# -- the automation -------------------------------------------------------------------------------


def test_trigger_is_a_proactive_heartbeat_watch(automation: Any, values: dict[str, Any]) -> None:
    trigger = automation.trigger
    assert trigger.posture == "Proactive" and not trigger.immediate
    assert trigger.after == {"prefect.flow-run.heartbeat"}
    assert trigger.for_each == {"prefect.resource.id"} and trigger.threshold == 1
    heartbeat = values["flow_run_heartbeat_seconds"]
    # Several heartbeats may be late (a busy event loop, a slow API) before a run is Crashed.
    assert trigger.within == timedelta(seconds=values["heartbeat_lost_after_seconds"])
    assert trigger.within >= timedelta(seconds=3 * heartbeat)


def test_action_proposes_crashed_without_forcing(automation: Any) -> None:
    from prefect.server.schemas.states import StateType

    (action,) = automation.actions
    assert action.type == "change-flow-run-state"
    assert action.state == StateType.CRASHED
    # Not forced: Prefect refuses Crashed for a run that already ended (a late heartbeat).
    assert action.force is False
    assert "No heartbeat for 120 s" in action.message


@pytest.mark.parametrize("flow", BACKFILL_FLOWS)
def test_a_heartbeat_of_each_deployment_run_starts_the_watch(automation: Any, flow: str) -> None:
    event = _heartbeat(flow)
    trigger = automation.trigger
    assert trigger.covers(event)
    # A heartbeat both (re)starts the window and satisfies the previous one.
    assert trigger.starts_after(event.event) and trigger.expects(event.event)


@pytest.mark.parametrize(
    "state", ["Completed", "Failed", "Cancelled", "Crashed", "TimedOut", "AwaitingRetry", "Paused"]
)
@pytest.mark.parametrize("deployment", ["backfill", "scheduled"])
def test_a_state_change_of_the_run_ends_the_watch(
    automation: Any, state: str, deployment: str
) -> None:
    """An ended, rescheduled or paused run sends no more heartbeats: its state change is the
    event the watch expects, and it starts no new window."""
    event = _event(state, "crypto-prices", deployment)
    trigger = automation.trigger
    assert trigger.covers(event) and trigger.expects(event.event)
    assert not trigger.starts_after(event.event)


def test_runs_without_a_deployment_or_of_other_flows_are_not_watched(automation: Any) -> None:
    trigger = automation.trigger
    # `coinfill run` in-process: heartbeats every 180 s (Prefect's default), no deployment.
    assert not trigger.covers(_heartbeat("crypto-prices", deployment=False))
    assert not trigger.covers(_heartbeat("someone-elses-flow"))


def test_terraform_resource_sends_the_locals() -> None:
    body = resource("prefect_automation", "flow_run_heartbeat_lost").body
    assert "local.prefect_stage" in body["count"]
    event = body["trigger"]["event"]
    for field in ("posture", "after", "expect", "for_each", "threshold", "within"):
        assert event[field] == f"${{local.heartbeat_lost_trigger.{field}}}"
    assert event["match"] == "${jsonencode(local.heartbeat_lost_trigger.match)}"
    assert event["match_related"] == "${jsonencode(local.heartbeat_lost_trigger.match_related)}"
    (action,) = body["actions"]
    assert action == {
        "type": "change-flow-run-state",
        "state": "CRASHED",
        "message": "${local.heartbeat_lost_message}",
    }
    assert "flow_run_heartbeat_seconds" in locals_()
