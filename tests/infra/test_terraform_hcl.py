"""Invariants of infra/terraform, read from its HCL with python-hcl2 (no provider plugins are
needed): pinned providers, Helm 3 syntax, the work pool's template, the worker release not
touching it, sensitive variables reaching only write-only arguments, one rate limit per API
provider at the code's rates, Secret blocks written write-only, the automation on Failed runs,
every prefect_* resource behind the stage gate, and arguments the providers actually have."""

from __future__ import annotations

import re
from typing import Any

import pytest

from coinfill.settings import Settings
from coinfill.sources.limits import PROVIDER_LIMITS
from tests.infra import provider_schemas as schemas
from tests.infra.tfconfig import (
    BLOCK,
    TF_DIR,
    arguments,
    expr,
    is_block,
    locals_,
    number,
    parse,
    providers,
    required_providers,
    resource,
    resources,
    terraform_settings,
    tf_files,
    variables,
    walk,
)

# The issue's table (DESIGN §8): name -> (limit, slot_decay_per_second).
EXPECTED_LIMITS = {
    "fred": (1, 1.0),
    "binance": (6000, 100.0),
    "coingecko": (1, 10 / 60),
    "coinmetrics": (10, 10 / 6),
    "blockchain-info": (1, 0.1),
    "messari": (1, 20 / 60),
    "news-feeds": (1, 2.0),
    "newsapi": (1, 1.0),
}
SECRET_BLOCKS = {"fred-api-key", "coingecko-api-key", "messari-api-key", "newsapi-key"}
BACKFILL_FLOWS = [
    "technical-indicators",
    "macro-indicators",
    "crypto-prices",
    "onchain-metrics",
    "news-sentiment",
    "ml-features",
]
SENSITIVE_VARIABLES = {
    "database_url",
    "fred_api_key",
    "coingecko_api_key",
    "messari_api_key",
    "newsapi_key",
    "prefect_api_url",
    "prefect_api_key",
    "worker_prefect_api_url",
    "prefect_server_database_url",
    "notification_webhook_url",
}
# Names that look secret but hold none: a version number, a block type, a secret's name.
NOT_SECRETS = {"secrets_version", "notification_block_type", "job_secret_name"}
SECRETISH = re.compile(r"(key|secret|password|token|database_url|webhook|api_url)", re.I)
# Arguments through which a secret may reach a resource: write-only ones, Helm's sensitive
# values, and instance counts (only whether a value is set).
SECRET_SINKS = {"data_wo", "set_sensitive", "count", "for_each"}
EXPECTED_FILES = {
    "versions.tf",
    "providers.tf",
    "variables.tf",
    "locals.tf",
    "namespace.tf",
    "secrets.tf",
    "worker.tf",
    "server.tf",
    "work_pool.tf",
    "prefect_variables.tf",
    "concurrency.tf",
    "blocks.tf",
    "automations.tf",
    "outputs.tf",
}


def refs(value: Any) -> str:
    """All expressions in a parsed value, joined: for reference searches."""
    return " ".join(v for _, v in walk(value) if isinstance(v, str))


def test_one_file_per_concern() -> None:
    assert {p.name for p in tf_files()} == EXPECTED_FILES
    assert (TF_DIR / "base-job-template.json").is_file()
    assert (TF_DIR / "README.md").is_file()


# -- versions and providers --------------------------------------------------------------------


def test_terraform_version_supports_write_only_arguments() -> None:
    assert terraform_settings()["required_version"] == ">= 1.11.0, < 2.0.0"


@pytest.mark.parametrize(
    ("name", "source", "major"),
    [
        ("prefect", "prefecthq/prefect", 3),
        ("kubernetes", "hashicorp/kubernetes", 3),
        ("helm", "hashicorp/helm", 3),
    ],
)
def test_provider_is_pinned_to_one_minor_release(name: str, source: str, major: int) -> None:
    spec = required_providers()[name]
    assert spec["source"] == source
    match = re.fullmatch(r"~> (\d+)\.(\d+)\.(\d+)", spec["version"])
    assert match, f"{name}: {spec['version']!r} is not '~> X.Y.Z' (patch releases only)"
    assert int(match.group(1)) == major


def test_exactly_the_pinned_providers_are_required() -> None:
    assert set(required_providers()) == {"prefect", "kubernetes", "helm"}
    assert set(providers()) == {"prefect", "kubernetes", "helm"}


def test_helm_provider_uses_v3_attribute_syntax() -> None:
    helm = providers()["helm"]
    assert isinstance(helm["kubernetes"], dict), "helm 3: kubernetes = { ... }"
    assert BLOCK not in helm["kubernetes"], "helm 3: `kubernetes` is an attribute, not a block"
    for release in resources("helm_release"):
        for attribute in ("set", "set_sensitive"):
            value = release.body.get(attribute, [])
            assert isinstance(value, list)
            assert not is_block(value), f"{release.name}.{attribute} must be `= [{{...}}]`"
            assert all(set(item) <= {"name", "value", "type"} for item in value)


# -- arguments exist in the providers' schemas ----------------------------------------------------


def _check_arguments(kind: str, body: dict[str, Any], schema: dict[str, frozenset[str]]) -> None:
    unknown = arguments(body) - schema[""] - schemas.META_ARGUMENTS
    assert not unknown, f"{kind}: unknown arguments {sorted(unknown)}"
    for path, allowed in schema.items():
        if not path:
            continue
        if path.endswith("[]"):
            items = body.get(path[:-2], [])
            nested = [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
        else:
            value: Any = body
            for part in path.split("."):
                value = value.get(part, {}) if isinstance(value, dict) else {}
            nested = [value] if isinstance(value, dict) else []
        for item in nested:
            unknown = arguments(item) - allowed
            assert not unknown, f"{kind}.{path}: unknown arguments {sorted(unknown)}"


def test_every_resource_uses_only_arguments_its_provider_has() -> None:
    found = resources()
    assert {r.type for r in found} <= set(schemas.RESOURCES), (
        "a resource type has no schema snapshot"
    )
    for r in found:
        _check_arguments(f"{r.type}.{r.name}", r.body, schemas.RESOURCES[r.type])
        for name in schemas.ATTRIBUTE_SYNTAX.get(r.type, ()):
            assert name not in r.body or not is_block(r.body[name]), (
                f"{r.type}.{name} is an attribute"
            )
        for name in schemas.BLOCK_SYNTAX.get(r.type, ()):
            assert name not in r.body or is_block(r.body[name]), f"{r.type}.{name} is a block"


def test_provider_blocks_use_only_known_arguments() -> None:
    for name, body in providers().items():
        _check_arguments(f"provider {name}", body, schemas.PROVIDERS[name])


# -- variables -----------------------------------------------------------------------------------


def test_secret_variables_are_sensitive() -> None:
    declared = variables()
    assert set(declared) >= SENSITIVE_VARIABLES
    sensitive = {name for name, body in declared.items() if body.get("sensitive") is True}
    assert sensitive == SENSITIVE_VARIABLES
    for name in declared:
        if SECRETISH.search(name) and name not in NOT_SECRETS:
            assert name in sensitive, f"variable {name} looks secret but is not sensitive"


def test_sensitive_variables_have_no_real_default() -> None:
    for name in SENSITIVE_VARIABLES:
        assert variables()[name].get("default", None) is None, name


def test_every_variable_is_typed_and_described() -> None:
    for name, body in variables().items():
        assert body.get("type"), f"variable {name} has no type"
        assert len(body.get("description", "")) > 20, f"variable {name} has no description"


def test_defaults_the_code_and_prefect_yaml_rely_on() -> None:
    declared = variables()
    assert declared["work_pool_name"]["default"] == "coinfill-k8s"
    assert declared["job_secret_name"]["default"] == "coinfill-secrets"
    assert declared["namespace"]["default"] == "coinfill"
    assert declared["code_dir"]["default"] == "/opt/coinfill"
    assert declared["enable_prefect_server"]["default"] is False
    assert "default" not in declared["image"], "the flow image has no default: pass a pinned one"


def test_secrets_reach_resources_only_through_write_only_arguments() -> None:
    pattern = re.compile(r"\bvar\.(" + "|".join(sorted(SENSITIVE_VARIABLES)) + r")\b")
    for r in resources():
        for argument in arguments(r.body):
            text = refs(r.body[argument])
            if pattern.search(text):
                assert argument in SECRET_SINKS, f"{r.type}.{r.name}.{argument} carries a secret"
    # The locals that hold secret values are used by write-only arguments only.
    for local in ("job_secret_data", "secret_block_values"):
        for r in resources():
            for argument in arguments(r.body):
                if f"local.{local}" in refs(r.body[argument]):
                    assert argument == "data_wo", f"{r.type}.{r.name}.{argument} uses {local}"


# -- namespace and secrets --------------------------------------------------------------------------


def test_namespace_enforces_pod_security() -> None:
    labels = expr(resource("kubernetes_namespace_v1", "coinfill").body["metadata"][0]["labels"])
    assert labels is not None
    assert '"pod-security.kubernetes.io/enforce" = var.pod_security_level' in labels
    assert '"pod-security.kubernetes.io/warn" = "restricted"' in labels
    assert variables()["pod_security_level"]["default"] == "restricted"


def test_job_secret_is_write_only_and_named_for_the_template() -> None:
    secret = resource("kubernetes_secret_v1", "coinfill").body
    assert secret["metadata"][0]["name"] == "${var.job_secret_name}"
    assert secret["data_wo"] == "${local.job_secret_data}"
    assert secret["data_wo_revision"] == "${var.secrets_version}"
    assert "data" not in secret
    keys = refs(locals_()["job_secret_data"])
    for env_name, field in [
        ("COINFILL_DATABASE_URL", "database_url"),
        ("COINFILL_FRED_API_KEY", "fred_api_key"),
        ("COINFILL_COINGECKO_API_KEY", "coingecko_api_key"),
        ("COINFILL_MESSARI_API_KEY", "messari_api_key"),
        ("COINFILL_NEWSAPI_KEY", "newsapi_key"),
    ]:
        assert field in Settings.model_fields, field  # the env name is COINFILL_<FIELD>
        assert f"{env_name} = var.{field}" in keys


def test_every_kubernetes_secret_is_write_only() -> None:
    for r in resources("kubernetes_secret_v1"):
        assert "data" not in r.body and "binary_data" not in r.body, r.name
        assert "data_wo" in r.body and r.body["data_wo_revision"] == "${var.secrets_version}", (
            r.name
        )


# -- work pool ---------------------------------------------------------------------------------------


def test_work_pool_is_kubernetes_with_the_committed_template() -> None:
    pool = resource("prefect_work_pool", "coinfill").body
    assert pool["type"] == "kubernetes"
    assert pool["name"] == "${var.work_pool_name}"
    assert pool["base_job_template"] == "${jsonencode(local.base_job_template)}"
    template = expr(locals_()["base_job_template"])
    assert template is not None
    assert re.fullmatch(
        r'jsondecode\(templatefile\("\$\{path\.module\}/base-job-template\.json", \{.*\}\)\)',
        template,
        re.S,
    ), template


# -- Helm releases --------------------------------------------------------------------------------


def _set_values(release: dict[str, Any]) -> dict[str, Any]:
    items = release.get("set", []) + release.get("set_sensitive", [])
    names = [i["name"] for i in items]
    assert len(names) == len(set(names)), f"a value is set twice: {names}"
    return {i["name"]: i.get("value") for i in items}


def test_worker_release_pins_its_chart() -> None:
    worker = resource("helm_release", "prefect_worker").body
    assert worker["chart"] == "prefect-worker"
    assert worker["repository"] == "https://prefecthq.github.io/prefect-helm"
    assert worker["version"] == "${var.prefect_worker_chart_version}"
    assert re.fullmatch(
        r"\d{4}\.\d{1,2}\.\d+", variables()["prefect_worker_chart_version"]["default"]
    )


def test_worker_release_does_not_set_a_base_job_template() -> None:
    worker = resource("helm_release", "prefect_worker").body
    for path, leaf in walk(worker):
        if isinstance(leaf, str):
            squashed = re.sub(r"[^a-z]", "", leaf.lower())
            assert "basejobtemplate" not in squashed, f"prefect_worker{path}: {leaf!r}"
    assert "values" not in worker, "worker values go through `set`, where this test sees them"


def test_worker_release_polls_the_terraform_work_pool() -> None:
    worker = resource("helm_release", "prefect_worker").body
    values = _set_values(worker)
    assert values["worker.config.workPool"] == "${prefect_work_pool.coinfill[0].name}"
    assert values["worker.config.type"] == "kubernetes"
    assert values["worker.apiConfig"] == "${local.worker_api_config}"
    assert values["worker.selfHostedServerApiConfig.apiUrl"] == "${local.worker_api_url}"
    assert values["worker.cloudApiConfig.apiKeySecret.name"] == "${local.prefect_api_key_secret}"
    assert values["worker.containerSecurityContext.capabilities.drop[0]"] == "ALL"


def test_server_release_is_optional_pinned_and_uses_the_database_secret() -> None:
    server = resource("helm_release", "prefect_server").body
    assert server["count"] == "${var.enable_prefect_server ? 1 : 0}"
    assert server["chart"] == "prefect-server"
    assert server["version"] == "${var.prefect_server_chart_version}"
    values = _set_values(server)
    assert values["postgresql.enabled"] == "false"
    assert values["externalDatabase.connectionStringSecretKey"] == "connection-string"
    assert "prefect_server_database" in values["externalDatabase.existingSecret"]
    assert not any("password" in name.lower() for name in values)


# -- global concurrency limits ---------------------------------------------------------------------


def _terraform_limits() -> dict[str, tuple[float, float]]:
    table = locals_()["provider_rate_limits"]
    return {
        name: (number(spec["limit"]), number(spec["slot_decay_per_second"]))
        for name, spec in table.items()
    }


def test_one_global_concurrency_limit_per_provider_at_the_issue_rates() -> None:
    limits = _terraform_limits()
    assert set(limits) == set(EXPECTED_LIMITS)
    for name, (limit, decay) in EXPECTED_LIMITS.items():
        assert limits[name][0] == limit, name
        assert limits[name][1] == pytest.approx(decay, rel=1e-12), name


def test_terraform_limits_equal_the_codes_table() -> None:
    limits = _terraform_limits()
    assert set(limits) == set(PROVIDER_LIMITS)
    for name, spec in PROVIDER_LIMITS.items():
        assert limits[name] == (spec.slots, pytest.approx(spec.slot_decay_per_second, rel=1e-12))


def test_concurrency_limit_resource_creates_every_entry() -> None:
    gcl = resource("prefect_global_concurrency_limit", "provider").body
    assert gcl["for_each"] == (
        "${{for name, rate in local.provider_rate_limits : name => rate if local.prefect_stage}}"
    )
    assert gcl["name"] == "${each.key}"
    assert gcl["limit"] == "${each.value.limit}"
    assert gcl["slot_decay_per_second"] == "${each.value.slot_decay_per_second}"
    assert gcl["active"] is True


# -- Secret blocks ---------------------------------------------------------------------------------


def test_secret_blocks_use_write_only_data() -> None:
    for r in resources("prefect_block"):
        assert "data" not in r.body, f"prefect_block.{r.name} must use data_wo"
        assert "data_wo" in r.body
        assert r.body["data_wo_version"] == "${var.secrets_version}"
    block = resource("prefect_block", "secret").body
    assert block["type_slug"] == "secret"
    assert block["data_wo"] == "${jsonencode({value = local.secret_block_values[each.key]})}"


def test_secret_block_names_are_the_ones_the_code_reads() -> None:
    names = locals_()["secret_block_names"]
    assert set(names.values()) == SECRET_BLOCKS
    fields = {
        "fred": "fred_api_key_block",
        "coingecko": "coingecko_api_key_block",
        "messari": "messari_api_key_block",
        "newsapi": "newsapi_key_block",
    }
    for key, field in fields.items():
        assert names[key] == Settings.model_fields[field].default
    assert set(locals_()["secret_block_values"]) == set(names)


# -- automation ------------------------------------------------------------------------------------


def test_automation_notifies_on_failed_backfill_runs() -> None:
    trigger = locals_()["backfill_failure_trigger"]
    assert trigger["posture"] == "Reactive"
    assert "prefect.flow-run.Failed" in trigger["expect"]
    assert trigger["match"] == {"prefect.resource.id": "prefect.flow-run.*"}
    deployment, flow = trigger["match_related"]
    assert deployment == {
        "prefect.resource.role": "deployment",
        "prefect.resource.name": "backfill",
    }
    assert flow == {
        "prefect.resource.role": "flow",
        "prefect.resource.name": "${local.backfill_flows}",
    }
    assert locals_()["backfill_flows"] == BACKFILL_FLOWS

    automation = resource("prefect_automation", "backfill_failed").body
    event = automation["trigger"]["event"]
    for field in ("posture", "expect", "for_each", "threshold", "within"):
        assert event[field] == f"${{local.backfill_failure_trigger.{field}}}"
    assert event["match"] == "${jsonencode(local.backfill_failure_trigger.match)}"
    assert event["match_related"] == "${jsonencode(local.backfill_failure_trigger.match_related)}"
    (action,) = automation["actions"]
    assert action["type"] == "send-notification"
    assert "var.notification_block_id" in action["block_document_id"]
    assert "prefect_block.notification" in action["block_document_id"]
    assert "{{ flow_run.state.message }}" in locals_()["backfill_failure_body"]


# -- two stages --------------------------------------------------------------------------------------


def test_everything_that_needs_the_prefect_api_waits_for_stage_two() -> None:
    gated = [r for r in resources() if r.type.startswith("prefect_")]
    gated.append(resource("helm_release", "prefect_worker"))
    for r in gated:
        gate = r.body.get("count", "") + r.body.get("for_each", "")
        assert "local.prefect_stage" in gate, f"{r.type}.{r.name} is not behind the stage gate"
    assert locals_()["prefect_stage"] == "${var.prefect_api_reachable}"
    assert variables()["prefect_api_reachable"]["default"] is True
    for stage_one in ("kubernetes_namespace_v1", "kubernetes_secret_v1"):
        for r in resources(stage_one):
            assert "prefect_stage" not in refs(r.body), f"{r.type}.{r.name} belongs to stage 1"
    assert "prefect_stage" not in refs(resource("helm_release", "prefect_server").body)


def test_worker_starts_only_after_its_work_pool_exists() -> None:
    worker = resource("helm_release", "prefect_worker").body
    assert "prefect_work_pool.coinfill" in refs(worker["set"])


# -- README ------------------------------------------------------------------------------------------


def test_readme_documents_every_variable_and_file() -> None:
    readme = (TF_DIR / "README.md").read_text()
    for name in variables():
        assert f"`{name}`" in readme, f"README.md does not document variable {name}"
    for path in tf_files():
        assert f"`{path.name}`" in readme, f"README.md does not describe {path.name}"
    assert "`base-job-template.json`" in readme


def test_parse_sees_every_file() -> None:
    for path in tf_files():
        assert parse(path), f"{path.name} parsed to nothing"
