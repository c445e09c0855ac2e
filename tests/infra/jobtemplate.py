"""Render the Kubernetes Job a flow run becomes, from infra/terraform/base-job-template.json, the
way Prefect's Kubernetes worker does, offline.

    from tests.infra.jobtemplate import render_job
    job = render_job({"cpu_limit": "2", "active_deadline_seconds": 3600})

1. The template is the one Terraform sends to the work pool: ``templatefile()`` of the JSON
   file with the namespace, image and secret name, evaluated by Terraform itself
   (tfconfig.evaluate_locals).
2. Job variables are merged as ``BaseJobConfiguration.from_template_and_values`` does
   (prefect 3.8): the schema's defaults (None dropped), overridden by the deployment's
   ``job_variables``, ``env`` merged key by key over the default env; placeholders are filled
   by Prefect's own ``apply_values`` (a placeholder without a value removes its key).
3. What ``KubernetesWorkerJobConfiguration.prepare_for_flow_run`` (prefect-kubernetes) then
   does to the manifest: the env dict becomes the container's env list (with the worker's
   PREFECT_* variables), the SIGTERM behaviour for backoffLimit, Prefect's labels on the Job
   and the pod, a command when none is set, a generateName.

test_job_template.py checks this against the real prefect-kubernetes worker when that package
is installed.
"""

from __future__ import annotations

import copy
import re
import shlex
from pathlib import Path
from typing import Any

from tests.infra import tfconfig

FLOW_RUN_ID = "2f5e2a1c-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
FLOW_RUN_NAME = "calm-heron"
WORKER_API_URL = "http://prefect-server.coinfill.svc.cluster.local:4200/api"

# Fields Prefect's worker requires inside the pod spec (its manifest check compares against a
# base manifest that has them there) but that are Job fields, unknown to a PodSpec: the API
# server drops them with a warning (fieldValidation defaults to Warn), so strict validation
# must be told about exactly these.
PREFECT_REQUIRED_POD_SPEC_EXTRAS = ("parallelism", "completions")


def base_job_template(**terraform_overrides: Any) -> dict[str, Any]:
    """The base job template as Terraform renders it (BASE_VARS + overrides)."""
    rendered = tfconfig.evaluate_locals(**terraform_overrides)["base_job_template"]
    return copy.deepcopy(rendered)


def _schema_defaults(template: dict[str, Any]) -> dict[str, Any]:
    properties = template["variables"].get("properties", {})
    return {
        name: copy.deepcopy(attrs["default"])
        for name, attrs in properties.items()
        if attrs.get("default") is not None
    }


def render_job_configuration(
    job_variables: dict[str, Any], template: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The job configuration (job_manifest, env, labels, ...) after the variables are applied,
    as BaseJobConfiguration.from_template_and_values computes it before validation."""
    from prefect.utilities.collections import deep_merge, set_in_dict
    from prefect.utilities.templating import apply_values

    template = copy.deepcopy(template if template is not None else base_job_template())
    base_config = template["job_configuration"]
    variables = _schema_defaults(template)

    if variables.get("env"):
        if isinstance(base_config.get("env"), dict):
            base_config["env"] = base_config["env"] | variables["env"]
        else:
            base_config["env"] = variables["env"]

    transformed: dict[str, Any] = {}
    for key, value in job_variables.items():
        if "." in key:
            set_in_dict(transformed, key, value)
    for key, value in job_variables.items():
        if "." not in key:
            if isinstance(transformed.get(key), dict) and isinstance(value, dict):
                transformed[key] = deep_merge(transformed[key], value)
            else:
                transformed[key] = value
    variables.update(transformed)

    if isinstance(base_config.get("env"), dict) and variables.get("env"):
        base_config["env"] = base_config["env"] | variables["env"]

    return dict(apply_values(template=base_config, values=variables))


def _slug_label_value(value: str) -> str:
    slug = re.sub(r"[^a-zA-Z0-9._-]+", "-", value).strip("-._")
    return slug[:63].rstrip("-._")


def render_job(
    job_variables: dict[str, Any],
    *,
    template: dict[str, Any] | None = None,
    flow_run_name: str = FLOW_RUN_NAME,
    api_url: str = WORKER_API_URL,
) -> dict[str, Any]:
    """The Kubernetes Job manifest the worker submits for a flow run of a deployment with
    these ``job_variables`` (prefect.yaml's ``{{ prefect.variables.* }}`` already resolved)."""
    import prefect

    config = render_job_configuration(job_variables, template)
    manifest = copy.deepcopy(config["job_manifest"])
    pod_spec = manifest["spec"]["template"]["spec"]
    container = pod_spec["containers"][0]

    # BaseJobConfiguration.prepare_for_flow_run: the worker's env under the job's.
    env: dict[str, Any] = {
        "PREFECT_API_URL": api_url,
        "PREFECT__FLOW_RUN_ID": FLOW_RUN_ID,
        **(config.get("env") if isinstance(config.get("env"), dict) else {}),
    }
    # _configure_eviction_handling
    if manifest["spec"].get("backoffLimit") == 0:
        env.setdefault("PREFECT_FLOW_RUN_EXECUTE_SIGTERM_BEHAVIOR", "reschedule")
    else:
        env["PREFECT_FLOW_RUN_EXECUTE_SIGTERM_BEHAVIOR"] = "relinquish"
    # _populate_env_in_manifest
    env_list = [{"name": k, "value": str(v)} for k, v in env.items() if v is not None]
    if isinstance(container.get("env"), list):
        names = {e["name"] for e in env_list}
        env_list += [e for e in container["env"] if e.get("name") not in names]
    container["env"] = env_list

    # _slugify_labels / _propagate_labels_to_pod
    version = _slug_label_value(prefect.__version__.split("+")[0])
    labels = {
        "prefect.io/flow-run-id": FLOW_RUN_ID,
        "prefect.io/flow-run-name": flow_run_name,
        "prefect.io/version": version,
        "app.kubernetes.io/managed-by": "prefect",
        "app.kubernetes.io/part-of": "prefect",
        "app.kubernetes.io/version": version,
        **(config.get("labels") or {}),
    }
    manifest["metadata"]["labels"] = {
        k: _slug_label_value(str(v))
        for k, v in {**manifest["metadata"].get("labels", {}), **labels}.items()
    }
    pod_meta = manifest["spec"]["template"].setdefault("metadata", {})
    pod_meta["labels"] = {**pod_meta.get("labels", {}), **manifest["metadata"]["labels"]}
    annotations = {
        **manifest["metadata"].get("annotations", {}),
        **(config.get("annotations") or {}),
    }
    manifest["metadata"]["annotations"] = annotations
    if annotations:
        pod_meta["annotations"] = {**pod_meta.get("annotations", {}), **annotations}

    # _populate_command_if_not_present
    command = container.get("args")
    if command is None:
        container["args"] = ["prefect", "flow-run", "execute"]
    elif isinstance(command, str):
        container["args"] = shlex.split(command)

    # _populate_generate_name_if_not_present
    generate_name = manifest["metadata"].get("generateName", "")
    if not generate_name or "{{" in generate_name or generate_name in ("-", "None-"):
        name = config.get("name") or flow_run_name
        manifest["metadata"]["generateName"] = f"{_slug_label_value(name) or 'prefect-job'}-"
    return manifest


def strip_prefect_pod_spec_extras(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest as the API server keeps it: without the pod-spec fields that Prefect
    requires and Kubernetes drops (PREFECT_REQUIRED_POD_SPEC_EXTRAS)."""
    stored = copy.deepcopy(manifest)
    pod_spec = stored["spec"]["template"]["spec"]
    for field in PREFECT_REQUIRED_POD_SPEC_EXTRAS:
        pod_spec.pop(field, None)
    return stored


def prefect_variables() -> dict[str, str]:
    """The Prefect Variables Terraform creates (prefect_variables.tf), from the variables'
    defaults and the test inputs (test_job_template.py checks them against Terraform's own
    evaluation)."""
    declared = tfconfig.variables()
    return {
        "coinfill_work_pool": declared["work_pool_name"]["default"],
        "coinfill_image": tfconfig.BASE_VARS["image"],
        "coinfill_code_dir": declared["code_dir"]["default"],
    }


def deployments(prefect_yaml: Path = tfconfig.REPO / "prefect.yaml") -> list[dict[str, Any]] | None:
    """prefect.yaml's deployments with their job_variables, ``{{ prefect.variables.X }}``
    resolved with the Prefect Variables Terraform creates; None when there is no prefect.yaml."""
    if not prefect_yaml.exists():
        return None
    import yaml

    document = yaml.safe_load(prefect_yaml.read_text())
    known = prefect_variables()

    def resolve(value: Any) -> Any:
        if isinstance(value, str):
            for name, replacement in known.items():
                value = re.sub(
                    r"\{\{\s*prefect\.variables\." + name + r"\s*\}\}", replacement, value
                )
            return value
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    found = []
    for deployment in document.get("deployments") or []:
        work_pool = deployment.get("work_pool") or {}
        found.append(
            {
                "name": deployment["name"],
                "entrypoint": deployment.get("entrypoint", ""),
                "work_pool": resolve(work_pool.get("name")),
                "job_variables": resolve(work_pool.get("job_variables") or {}),
            }
        )
    return found
