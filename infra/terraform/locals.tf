# Values derived from the variables that several files use. Like every `locals` block here, it
# references no resource, so the offline tests evaluate it with Terraform itself.
locals {
  # Stage 2 on/off: everything that talks to the Prefect API (and the worker, which must not
  # start before its work pool exists: a worker creates a missing pool with Prefect's default
  # base job template).
  prefect_stage = var.prefect_api_reachable

  # A Prefect Cloud workspace URL carries its account and workspace IDs; the worker chart wants
  # them separately.
  prefect_cloud_parts = try(
    regex("^(https://[^/]+/api)/accounts/([0-9a-fA-F-]{36})/workspaces/([0-9a-fA-F-]{36})/?$", var.prefect_api_url),
    null,
  )
  prefect_cloud        = local.prefect_cloud_parts != null
  prefect_cloud_url    = local.prefect_cloud ? local.prefect_cloud_parts[0] : ""
  prefect_account_id   = local.prefect_cloud ? local.prefect_cloud_parts[1] : ""
  prefect_workspace_id = local.prefect_cloud ? local.prefect_cloud_parts[2] : ""

  # The API the worker (and, through it, every flow-run pod) talks to.
  in_cluster_server_url = "http://prefect-server.${var.namespace}.svc.cluster.local:4200/api"
  worker_api_config     = local.prefect_cloud ? "cloud" : "selfHostedServer"
  worker_api_url = (
    var.enable_prefect_server ? local.in_cluster_server_url
    : local.prefect_cloud ? ""
    : coalesce(var.worker_prefect_api_url, var.prefect_api_url)
  )

  # The chart's Cloud mode reads the API key from this secret (secrets.tf creates it).
  prefect_api_key_secret = "prefect-api-key"

  worker_image_tag = "${var.prefect_version}-python3.11-kubernetes"
  server_image_tag = "${var.prefect_version}-python3.11"

  common_labels = {
    "app.kubernetes.io/part-of"    = "coinfill"
    "app.kubernetes.io/managed-by" = "terraform"
  }
}
