"""The arguments each provider accepts, for the resources and provider blocks infra/terraform
uses: a snapshot, because `terraform validate` needs provider plugins that cannot be
downloaded here. It guards against misspelt or invented arguments; it is not the full schema
(types and nesting below the listed levels are not checked).

Read from the providers' sources and generated docs at the pinned versions:
- prefecthq/prefect v3.4.1: docs/resources/{work_pool,global_concurrency_limit,block,
  automation,variable}.md, docs/index.md, internal/provider/resources/*.go
- hashicorp/kubernetes v3.2.1: docs/resources/{namespace_v1,secret_v1}.md, docs/index.md,
  kubernetes/resource_kubernetes_secret_v1.go (data_wo, data_wo_revision)
- hashicorp/helm v3.1.2: helm/resource_helm_release.go, helm/provider.go (set/set_sensitive
  are list-nested attributes, `kubernetes` a single nested attribute)

Moving a provider to another minor version (versions.tf) means re-reading these.
"""

from __future__ import annotations

META_ARGUMENTS = frozenset({"count", "for_each", "depends_on", "lifecycle", "provider"})

# resource type -> {argument path: allowed names}; "" is the resource body itself.
RESOURCES: dict[str, dict[str, frozenset[str]]] = {
    "prefect_work_pool": {
        "": frozenset(
            {
                "name",
                "account_id",
                "base_job_template",
                "concurrency_limit",
                "description",
                "paused",
                "type",
                "workspace_id",
            }
        ),
    },
    "prefect_global_concurrency_limit": {
        "": frozenset(
            {
                "name",
                "limit",
                "account_id",
                "active",
                "active_slots",
                "slot_decay_per_second",
                "workspace_id",
            }
        ),
    },
    "prefect_block": {
        "": frozenset(
            {
                "name",
                "type_slug",
                "account_id",
                "data",
                "data_wo",
                "data_wo_version",
                "workspace_id",
            }
        ),
    },
    "prefect_variable": {
        "": frozenset({"name", "value", "account_id", "tags", "workspace_id"}),
    },
    "prefect_automation": {
        "": frozenset(
            {
                "name",
                "trigger",
                "account_id",
                "actions",
                "actions_on_resolve",
                "actions_on_trigger",
                "description",
                "enabled",
                "workspace_id",
            }
        ),
        "trigger": frozenset({"compound", "event", "metric", "sequence"}),
        "trigger.event": frozenset(
            {
                "posture",
                "after",
                "expect",
                "for_each",
                "match",
                "match_related",
                "threshold",
                "within",
            }
        ),
        "actions[]": frozenset(
            {
                "type",
                "automation_id",
                "block_document_id",
                "body",
                "deployment_id",
                "emails",
                "job_variables",
                "message",
                "name",
                "parameters",
                "payload",
                "schedule_id",
                "source",
                "state",
                "subject",
                "work_pool_id",
                "work_queue_id",
            }
        ),
    },
    "kubernetes_namespace_v1": {
        "": frozenset({"metadata", "timeouts", "wait_for_default_service_account"}),
        "metadata[]": frozenset({"annotations", "generate_name", "labels", "name"}),
    },
    "kubernetes_secret_v1": {
        "": frozenset(
            {
                "metadata",
                "binary_data",
                "data",
                "binary_data_wo",
                "binary_data_wo_revision",
                "data_wo",
                "data_wo_revision",
                "immutable",
                "timeouts",
                "type",
                "wait_for_service_account_token",
            }
        ),
        "metadata[]": frozenset({"annotations", "generate_name", "labels", "name", "namespace"}),
    },
    "helm_release": {
        "": frozenset(
            {
                "atomic",
                "chart",
                "cleanup_on_fail",
                "create_namespace",
                "dependency_update",
                "description",
                "devel",
                "disable_crd_hooks",
                "disable_openapi_validation",
                "disable_webhooks",
                "force_update",
                "keyring",
                "lint",
                "max_history",
                "name",
                "namespace",
                "pass_credentials",
                "postrender",
                "recreate_pods",
                "render_subchart_notes",
                "replace",
                "repository",
                "repository_ca_file",
                "repository_cert_file",
                "repository_key_file",
                "repository_password",
                "repository_username",
                "reset_values",
                "reuse_values",
                "set",
                "set_list",
                "set_sensitive",
                "set_wo",
                "set_wo_revision",
                "skip_crds",
                "take_ownership",
                "timeout",
                "upgrade_install",
                "values",
                "verify",
                "version",
                "wait",
                "wait_for_jobs",
            }
        ),
        "set[]": frozenset({"name", "value", "type"}),
        "set_sensitive[]": frozenset({"name", "value", "type"}),
    },
}

PROVIDERS: dict[str, dict[str, frozenset[str]]] = {
    "prefect": {
        "": frozenset(
            {
                "account_id",
                "api_key",
                "basic_auth_key",
                "csrf_enabled",
                "custom_headers",
                "endpoint",
                "profile",
                "profile_file",
                "workspace_id",
            }
        ),
    },
    "kubernetes": {
        "": frozenset(
            {
                "host",
                "username",
                "password",
                "insecure",
                "tls_server_name",
                "client_certificate",
                "client_key",
                "cluster_ca_certificate",
                "config_path",
                "config_paths",
                "config_context",
                "config_context_auth_info",
                "config_context_cluster",
                "token",
                "proxy_url",
                "exec",
                "ignore_annotations",
                "ignore_labels",
            }
        ),
    },
    "helm": {
        "": frozenset(
            {
                "debug",
                "plugins_path",
                "registry_config_path",
                "repository_config_path",
                "repository_cache",
                "helm_driver",
                "burst_limit",
                "kubernetes",
                "registries",
                "experiments",
                "qps",
            }
        ),
        "kubernetes": frozenset(
            {
                "host",
                "username",
                "password",
                "insecure",
                "tls_server_name",
                "client_certificate",
                "client_key",
                "cluster_ca_certificate",
                "config_paths",
                "config_path",
                "config_context",
                "config_context_auth_info",
                "config_context_cluster",
                "token",
                "proxy_url",
                "exec",
            }
        ),
    },
}

# Nested attributes that the provider declares as attributes (`x = {…}` / `x = [{…}]`), not
# blocks (`x {…}`): writing them as blocks is a Terraform error.
ATTRIBUTE_SYNTAX: dict[str, frozenset[str]] = {
    "helm_release": frozenset({"set", "set_sensitive", "set_list", "set_wo", "postrender"}),
    "prefect_automation": frozenset(
        {"trigger", "actions", "actions_on_trigger", "actions_on_resolve"}
    ),
}
PROVIDER_ATTRIBUTE_SYNTAX: dict[str, frozenset[str]] = {
    "helm": frozenset({"kubernetes", "registries", "experiments"}),
}
# Nested blocks (`metadata {…}`) in the SDKv2 kubernetes provider.
BLOCK_SYNTAX: dict[str, frozenset[str]] = {
    "kubernetes_namespace_v1": frozenset({"metadata", "timeouts"}),
    "kubernetes_secret_v1": frozenset({"metadata", "timeouts"}),
}
