# Kubernetes secrets, all written with write-only `data_wo`: Terraform sends the values to the
# cluster and keeps none of them in its state. data_wo_revision = var.secrets_version: increase
# it to push a changed value.

locals {
  # Loaded into every flow-run container with envFrom (base-job-template.json, secret_name).
  # Optional keys are left out when unset, so the settings' defaults apply.
  job_secret_data = {
    for name, value in {
      COINFILL_DATABASE_URL      = var.database_url
      COINFILL_FRED_API_KEY      = var.fred_api_key
      COINFILL_COINGECKO_API_KEY = var.coingecko_api_key
      COINFILL_MESSARI_API_KEY   = var.messari_api_key
      COINFILL_NEWSAPI_KEY       = var.newsapi_key
    } : name => value if value != null
  }
}

resource "kubernetes_secret_v1" "coinfill" {
  metadata {
    name      = var.job_secret_name
    namespace = kubernetes_namespace_v1.coinfill.metadata[0].name
    labels    = local.common_labels
  }

  type             = "Opaque"
  data_wo          = local.job_secret_data
  data_wo_revision = var.secrets_version
}

# Prefect Cloud only: the worker chart reads PREFECT_API_KEY from this secret (key "key") and
# hands flow-run pods a secretKeyRef to it, never the value.
resource "kubernetes_secret_v1" "prefect_api_key" {
  count = local.prefect_cloud ? 1 : 0

  metadata {
    name      = local.prefect_api_key_secret
    namespace = kubernetes_namespace_v1.coinfill.metadata[0].name
    labels    = local.common_labels
  }

  type             = "Opaque"
  data_wo          = { key = var.prefect_api_key }
  data_wo_revision = var.secrets_version
}

# The self-hosted Prefect server's database URL (server.tf reads it through
# externalDatabase.existingSecret).
resource "kubernetes_secret_v1" "prefect_server_database" {
  count = var.enable_prefect_server ? 1 : 0

  metadata {
    name      = "prefect-server-database"
    namespace = kubernetes_namespace_v1.coinfill.metadata[0].name
    labels    = local.common_labels
  }

  type             = "Opaque"
  data_wo          = { "connection-string" = var.prefect_server_database_url }
  data_wo_revision = var.secrets_version
}
