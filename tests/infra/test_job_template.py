"""The Kubernetes Job a flow run becomes: base-job-template.json as Terraform renders it, filled
with each prefect.yaml deployment's job_variables the way Prefect's Kubernetes worker fills
it, validated with kubernetes-validate in strict mode against pinned Kubernetes versions, and
checked for the hardening the issue asks for. Also: the template is what Prefect's server
accepts (every placeholder declared and defaulted, defaults valid)."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from tests.infra import jobtemplate
from tests.infra.jobtemplate import (
    PREFECT_REQUIRED_POD_SPEC_EXTRAS,
    base_job_template,
    deployments,
    render_job,
    strip_prefect_pod_spec_extras,
)
from tests.infra.tfconfig import BASE_VARS, REPO, evaluate_locals, require

kubernetes_validate = require("kubernetes_validate")

# The oldest Kubernetes minor the template is checked against, and a current one.
KUBERNETES_VERSIONS = ("1.31", "1.35")

# Variables the issue requires the template to offer.
REQUIRED_VARIABLES = {
    "image",
    "namespace",
    "service_account_name",
    "image_pull_policy",
    "finished_job_ttl",
    "active_deadline_seconds",
    "cpu_request",
    "cpu_limit",
    "memory_request",
    "memory_limit",
    "secret_name",
    "env",
    "labels",
    "name",
    "command",
    "backoff_limit",
}

# Used when there is no prefect.yaml: a backfill and a scheduled run's job variables.
REPRESENTATIVE = {
    "backfill": {
        "image": BASE_VARS["image"],
        "secret_name": "coinfill-secrets",
        "cpu_request": "1",
        "cpu_limit": "2",
        "memory_request": "2Gi",
        "memory_limit": "4Gi",
        "finished_job_ttl": 86400,
        "active_deadline_seconds": 21600,
    },
    "scheduled": {
        "image": BASE_VARS["image"],
        "cpu_request": "250m",
        "cpu_limit": "1",
        "memory_request": "512Mi",
        "memory_limit": "1536Mi",
        "finished_job_ttl": 3600,
        "active_deadline_seconds": 1500,
    },
}


def _cases() -> list[tuple[str, dict[str, Any]]]:
    cases: list[tuple[str, dict[str, Any]]] = [("pool-defaults", {})]
    found = deployments()
    if found is None:
        return cases + sorted(REPRESENTATIVE.items())
    for d in found:
        flow = d["entrypoint"].rsplit(":", 1)[-1].replace("_", "-")
        cases.append((f"{flow}/{d['name']}", d["job_variables"]))
    return cases


CASES = _cases()
CASE_IDS = [name for name, _ in CASES]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return base_job_template()


def _placeholders(value: Any) -> set[str]:
    from prefect.utilities.templating import find_placeholders

    return {p.name for p in find_placeholders(json.dumps(value))}


def _expected(template: dict[str, Any], job_variables: dict[str, Any]) -> dict[str, Any]:
    properties = template["variables"]["properties"]
    return {name: spec.get("default") for name, spec in properties.items()} | job_variables


_UNITS = {
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def quantity(value: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?", value)
    assert match, f"not a Kubernetes quantity: {value!r}"
    return float(match.group(1)) * _UNITS.get(match.group(2) or "", 1)


# -- the template itself -------------------------------------------------------------------------


def test_template_has_the_kubernetes_worker_format(template: dict[str, Any]) -> None:
    assert set(template) == {"job_configuration", "variables"}
    config = template["job_configuration"]
    assert {"command", "env", "labels", "name", "namespace", "job_manifest"} <= set(config)
    manifest = config["job_manifest"]
    assert manifest["apiVersion"] == "batch/v1"
    assert manifest["kind"] == "Job"
    pod = manifest["spec"]["template"]["spec"]
    assert pod["containers"][0]["name"] == "prefect-job"
    # prefect-kubernetes rejects a manifest without these (its base manifest has them).
    assert pod["parallelism"] == 1 and pod["completions"] == 1 and pod["restartPolicy"] == "Never"


def test_template_offers_the_required_variables(template: dict[str, Any]) -> None:
    assert set(template["variables"]["properties"]) >= REQUIRED_VARIABLES


def test_every_placeholder_is_a_declared_variable_with_a_default(template: dict[str, Any]) -> None:
    properties = template["variables"]["properties"]
    used = _placeholders(template["job_configuration"])
    assert used <= set(properties), f"undeclared: {used - set(properties)}"
    assert set(properties) <= used, f"declared but never used: {set(properties) - used}"
    for name in used:
        assert "default" in properties[name], f"variable {name} has no default"


def test_terraform_filled_the_defaults(template: dict[str, Any]) -> None:
    properties = template["variables"]["properties"]
    assert properties["namespace"]["default"] == "coinfill"
    assert properties["image"]["default"] == BASE_VARS["image"]
    assert properties["secret_name"]["default"] == "coinfill-secrets"
    assert properties["env"]["default"] == {
        "HOME": "/tmp",
        "PREFECT_HOME": "/tmp/.prefect",
        "XDG_CACHE_HOME": "/tmp/.cache",
        # Heartbeats for the heartbeat-lost automation (test_flow_run_liveness.py).
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
    }


def test_prefect_server_accepts_the_template_and_its_defaults(template: dict[str, Any]) -> None:
    """What the API checks when Terraform creates the pool: the template's shape
    (WorkPoolCreate) and that the defaults match the variables schema."""
    from prefect.server.schemas.actions import WorkPoolCreate
    from prefect.utilities.schema_tools import is_valid_schema, validate

    WorkPoolCreate(name="coinfill-k8s", type="kubernetes", base_job_template=template)
    schema = template["variables"]
    is_valid_schema(schema, preprocess=False)
    defaults = {k: v["default"] for k, v in schema["properties"].items() if "default" in v}
    validate(
        defaults,
        schema,
        raise_on_error=True,
        preprocess=True,
        ignore_required=True,
        allow_none_with_default=True,
    )


def test_prefect_server_rejects_a_placeholder_without_a_variable(template: dict[str, Any]) -> None:
    from prefect.server.schemas.actions import WorkPoolCreate

    broken = copy.deepcopy(template)
    broken["job_configuration"]["job_manifest"]["spec"]["suspend"] = "{{ suspend_jobs }}"
    with pytest.raises(ValueError, match="suspend_jobs"):
        WorkPoolCreate(name="coinfill-k8s", type="kubernetes", base_job_template=broken)


def test_resource_quantities_are_validated_by_the_schema(template: dict[str, Any]) -> None:
    from prefect.utilities.schema_tools import ValidationError, validate

    with pytest.raises(ValidationError):
        validate(
            {"memory_limit": "4GB"},
            template["variables"],
            raise_on_error=True,
            ignore_required=True,
        )


def test_prefect_variables_match_terraform() -> None:
    assert jobtemplate.prefect_variables() == evaluate_locals()["deployment_variables"]


# -- each deployment's Job -----------------------------------------------------------------------


@pytest.mark.parametrize(("case", "job_variables"), CASES, ids=CASE_IDS)
def test_job_variables_are_declared_and_valid(
    case: str, job_variables: dict[str, Any], template: dict[str, Any]
) -> None:
    from prefect.utilities.schema_tools import validate

    schema = template["variables"]
    unknown = set(job_variables) - set(schema["properties"])
    assert not unknown, f"{case}: job variables the template does not have: {unknown}"
    assert "{{" not in str(job_variables), f"{case}: unresolved placeholder"
    validate(
        job_variables,
        schema,
        raise_on_error=True,
        preprocess=True,
        ignore_required=True,
        allow_none_with_default=True,
    )
    merged = _expected(template, job_variables)
    assert quantity(merged["cpu_limit"]) >= quantity(merged["cpu_request"]), case
    assert quantity(merged["memory_limit"]) >= quantity(merged["memory_request"]), case


@pytest.mark.parametrize("kubernetes_version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize(("case", "job_variables"), CASES, ids=CASE_IDS)
def test_job_is_valid_kubernetes_in_strict_mode(
    case: str, job_variables: dict[str, Any], kubernetes_version: str, template: dict[str, Any]
) -> None:
    job = render_job(job_variables, template=template)
    validated = kubernetes_validate.validate(
        strip_prefect_pod_spec_extras(job), desired_version=kubernetes_version, strict=True
    )
    assert validated == kubernetes_version


@pytest.mark.parametrize(("case", "job_variables"), CASES, ids=CASE_IDS)
def test_job_is_hardened(
    case: str, job_variables: dict[str, Any], template: dict[str, Any]
) -> None:
    job = render_job(job_variables, template=template)
    want = _expected(template, job_variables)
    spec = job["spec"]
    assert job["metadata"]["namespace"] == want["namespace"] == "coinfill"
    assert spec["activeDeadlineSeconds"] == want["active_deadline_seconds"]
    assert spec["ttlSecondsAfterFinished"] == want["finished_job_ttl"]
    assert spec["backoffLimit"] == want["backoff_limit"] == 0

    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 1001,
        "runAsGroup": 1001,
        "fsGroup": 1001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": want["tmp_size_limit"]}}]
    assert "hostNetwork" not in pod and "hostPID" not in pod and "hostIPC" not in pod

    (container,) = pod["containers"]
    assert container["image"] == want["image"] == BASE_VARS["image"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert container["resources"] == {
        "requests": {"cpu": want["cpu_request"], "memory": want["memory_request"]},
        "limits": {"cpu": want["cpu_limit"], "memory": want["memory_limit"]},
    }
    assert container["envFrom"] == [{"secretRef": {"name": want["secret_name"], "optional": False}}]
    assert want["secret_name"] == "coinfill-secrets"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["HOME"] == "/tmp"
    assert env["PREFECT_HOME"] == "/tmp/.prefect"
    assert env["XDG_CACHE_HOME"] == "/tmp/.cache"
    assert not any(re.search(r"KEY|PASSWORD|DATABASE_URL", name) for name in env), (
        "secrets via envFrom only"
    )


@pytest.mark.parametrize(("case", "job_variables"), CASES, ids=CASE_IDS)
def test_pod_meets_pod_security_restricted(
    case: str, job_variables: dict[str, Any], template: dict[str, Any]
) -> None:
    """The checks of the Pod Security Standard 'restricted' (the namespace enforces it)."""
    pod = render_job(job_variables, template=template)["spec"]["template"]["spec"]
    allowed_volumes = {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
    for volume in pod.get("volumes", []):
        assert set(volume) - {"name"} <= allowed_volumes, volume
    pod_sc = pod.get("securityContext", {})
    for container in pod["containers"] + pod.get("initContainers", []):
        sc = container.get("securityContext", {})
        assert sc.get("privileged") in (None, False)
        assert sc.get("allowPrivilegeEscalation") is False
        assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True
        assert sc.get("runAsUser", pod_sc.get("runAsUser")) != 0
        assert "ALL" in sc.get("capabilities", {}).get("drop", [])
        assert set(sc.get("capabilities", {}).get("add", [])) <= {"NET_BIND_SERVICE"}
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {}))
        assert seccomp.get("type") in ("RuntimeDefault", "Localhost")
        assert not container.get("ports") or all("hostPort" not in p for p in container["ports"])


def test_the_image_runs_as_the_templates_user() -> None:
    dockerfile = REPO / "Dockerfile"
    if not dockerfile.exists():
        pytest.skip("no Dockerfile yet")
    users = re.findall(r"^USER\s+(\S+)", dockerfile.read_text(), re.M)
    assert users and users[-1] == "1001:1001"


# -- the checks can fail ---------------------------------------------------------------------------


def test_strict_validation_rejects_an_unknown_field(template: dict[str, Any]) -> None:
    job = strip_prefect_pod_spec_extras(render_job({}, template=template))
    job["spec"]["template"]["spec"]["containers"][0]["securityContext"][
        "readOnlyRootFileSystem"
    ] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, desired_version=KUBERNETES_VERSIONS[0], strict=True)


def test_only_prefects_required_pod_spec_fields_are_unknown_to_kubernetes(
    template: dict[str, Any],
) -> None:
    """The API server drops `parallelism`/`completions` from the pod spec (Prefect's worker
    insists on them there); they are the only fields strict validation is spared."""
    job = render_job({}, template=template)
    kubernetes_validate.validate(job, desired_version=KUBERNETES_VERSIONS[0], strict=False)
    with pytest.raises(kubernetes_validate.ValidationError) as failure:
        kubernetes_validate.validate(job, desired_version=KUBERNETES_VERSIONS[0], strict=True)
    assert any(field in str(failure.value) for field in PREFECT_REQUIRED_POD_SPEC_EXTRAS)
    for field in PREFECT_REQUIRED_POD_SPEC_EXTRAS:
        job["spec"]["template"]["spec"].pop(field)
    kubernetes_validate.validate(job, desired_version=KUBERNETES_VERSIONS[0], strict=True)


def test_a_deployment_env_keeps_the_default_env(template: dict[str, Any]) -> None:
    job = render_job({"env": {"COINFILL_LOG_LEVEL": "DEBUG"}}, template=template)
    env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["COINFILL_LOG_LEVEL"] == "DEBUG"
    assert env["HOME"] == "/tmp" and env["PREFECT_HOME"] == "/tmp/.prefect"


def test_overrides_reach_the_manifest(template: dict[str, Any]) -> None:
    job = render_job(
        {
            "active_deadline_seconds": 600,
            "finished_job_ttl": None,
            "tmp_size_limit": "4Gi",
            "name": "coinfill-macro",
        },
        template=template,
    )
    assert job["spec"]["activeDeadlineSeconds"] == 600
    # finished_job_ttl=None renders as null, as Prefect renders it: Kubernetes keeps the Job.
    assert job["spec"]["ttlSecondsAfterFinished"] is None
    assert job["spec"]["template"]["spec"]["volumes"][0]["emptyDir"] == {"sizeLimit": "4Gi"}
    assert job["metadata"]["generateName"] == "coinfill-macro-"


# -- against the real worker ---------------------------------------------------------------------


def test_render_matches_the_prefect_kubernetes_worker(template: dict[str, Any]) -> None:
    """render_job against KubernetesWorkerJobConfiguration itself, for every case
    (prefect-kubernetes is not a dependency of the project: skipped without it). The worker's
    PREFECT_* env depends on the process's settings and is left out of the comparison."""
    import asyncio
    import uuid

    worker = pytest.importorskip("prefect_kubernetes.worker")
    from prefect.client.schemas.objects import FlowRun

    class NoClient:  # the template holds no block or variable reference, so none is asked for
        pass

    def comparable(manifest: dict[str, Any]) -> dict[str, Any]:
        manifest = copy.deepcopy(manifest)
        container = manifest["spec"]["template"]["spec"]["containers"][0]
        container["env"] = sorted(
            (e["name"], e.get("value"))
            for e in container["env"]
            if not e["name"].startswith("PREFECT_")
        )
        return manifest

    for case, job_variables in CASES:
        config = asyncio.run(
            worker.KubernetesWorkerJobConfiguration.from_template_and_values(
                copy.deepcopy(template), job_variables, client=NoClient()
            )
        )
        flow_run = FlowRun(
            id=uuid.UUID(jobtemplate.FLOW_RUN_ID),
            flow_id=uuid.uuid4(),
            name=jobtemplate.FLOW_RUN_NAME,
        )
        config.prepare_for_flow_run(flow_run)
        mine = render_job(job_variables, template=template)
        assert comparable(config.job_manifest) == comparable(mine), case


def test_cases_cover_prefect_yaml() -> None:
    found = deployments()
    if found is None:
        pytest.skip("no prefect.yaml yet: representative job variables are used")
    assert len(CASES) == len(found) + 1
    for d in found:
        assert d["work_pool"] == "coinfill-k8s", d
