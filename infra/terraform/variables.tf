# Inputs. Secrets are `sensitive = true` and reach only write-only arguments (data_wo) and
# provider configuration, so they are never stored in the state. Pass them through
# TF_VAR_<name> environment variables or an untracked *.tfvars file, never a committed one.
#
# This file and the `locals` blocks of the other files reference no resource: the offline
# tests (tests/infra/test_terraform_eval.py) evaluate them with Terraform itself.

# -- cluster -----------------------------------------------------------------------------------

variable "kubeconfig_path" {
  description = "Kubeconfig used by the Kubernetes and Helm providers (null: KUBE_CONFIG_PATH or in-cluster)."
  type        = string
  default     = "~/.kube/config"
}

variable "kube_context" {
  description = "Kubeconfig context; null uses the file's current context."
  type        = string
  default     = null
}

variable "namespace" {
  description = "Namespace of the worker, the flow-run Jobs, their secret and the optional Prefect server."
  type        = string
  default     = "coinfill"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.namespace))
    error_message = "namespace must be a DNS label: lowercase letters, digits and '-', at most 63 characters."
  }
}

variable "pod_security_level" {
  description = "Pod Security Admission level enforced on the namespace (warn and audit are always 'restricted')."
  type        = string
  default     = "restricted"

  validation {
    condition     = contains(["restricted", "baseline"], var.pod_security_level)
    error_message = "pod_security_level must be 'restricted' or 'baseline'."
  }
}

# -- the flow image and its work pool ------------------------------------------------------------

variable "image" {
  description = "The coinfill flow image the Jobs run (see Dockerfile), with an immutable tag or a digest, e.g. registry.example.com/coinfill:0.1.0."
  type        = string

  validation {
    condition = (
      can(regex("^[a-z0-9][a-z0-9._/:-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})$", var.image))
      && !endswith(var.image, ":latest")
    )
    error_message = "image needs an explicit tag (not 'latest') or an @sha256 digest, e.g. registry.example.com/coinfill:0.1.0."
  }
}

variable "code_dir" {
  description = "Where the flow code is inside the image (Prefect variable coinfill_code_dir, read by prefect.yaml's pull step)."
  type        = string
  default     = "/opt/coinfill"
}

variable "work_pool_name" {
  description = "Name of the Kubernetes work pool (Prefect variable coinfill_work_pool, read by prefect.yaml)."
  type        = string
  default     = "coinfill-k8s"
}

variable "work_pool_concurrency_limit" {
  description = "Flow runs the work pool runs at once; null means no limit (each deployment still has its own limit of 1)."
  type        = number
  default     = null
}

variable "job_secret_name" {
  description = "Kubernetes secret loaded into every flow-run container with envFrom (the base job template's secret_name default)."
  type        = string
  default     = "coinfill-secrets"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", var.job_secret_name))
    error_message = "job_secret_name must be a valid Kubernetes object name."
  }
}

# -- secrets -----------------------------------------------------------------------------------

variable "secrets_version" {
  description = "Version of the write-only secret values: increase it to push changed keys or URLs (write-only values are not compared)."
  type        = number
  default     = 1

  validation {
    condition     = var.secrets_version >= 1 && floor(var.secrets_version) == var.secrets_version
    error_message = "secrets_version must be a whole number >= 1."
  }
}

variable "database_url" {
  description = "SQLAlchemy URL of the coinfill database (COINFILL_DATABASE_URL in the flow-run pods), e.g. mysql+pymysql://user:pw@host:3306/coinfill."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("^(mysql|mariadb|postgresql)(\\+[a-z0-9]+)?://", var.database_url))
    error_message = "database_url must be a MySQL/MariaDB or PostgreSQL SQLAlchemy URL (a SQLite file would live in the pod's /tmp and vanish)."
  }
}

variable "fred_api_key" {
  description = "FRED API key: the Prefect Secret block fred-api-key and COINFILL_FRED_API_KEY."
  type        = string
  sensitive   = true

  validation {
    condition     = length(trimspace(var.fred_api_key)) > 0
    error_message = "fred_api_key must not be empty."
  }
}

variable "coingecko_api_key" {
  description = "Optional CoinGecko demo key: Secret block coingecko-api-key and COINFILL_COINGECKO_API_KEY."
  type        = string
  sensitive   = true
  default     = null
}

variable "messari_api_key" {
  description = "Optional Messari key (Messari answers 401 without one): Secret block messari-api-key and COINFILL_MESSARI_API_KEY."
  type        = string
  sensitive   = true
  default     = null
}

variable "newsapi_key" {
  description = "Optional NewsAPI.org key: Secret block newsapi-key and COINFILL_NEWSAPI_KEY."
  type        = string
  sensitive   = true
  default     = null
}

# -- Prefect API -------------------------------------------------------------------------------

variable "prefect_api_url" {
  description = "Prefect API the Prefect provider uses: a Cloud workspace URL (https://api.prefect.cloud/api/accounts/<id>/workspaces/<id>) or a server's /api URL (for the in-cluster server: http://127.0.0.1:4200/api through kubectl port-forward)."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("^https?://[^/]+", var.prefect_api_url))
    error_message = "prefect_api_url must be an http(s) URL."
  }
}

variable "prefect_api_key" {
  description = "Prefect Cloud API key (provider and worker); null for a self-hosted server."
  type        = string
  sensitive   = true
  default     = null

  validation {
    condition     = var.prefect_api_key != null || !can(regex("/accounts/[^/]+/workspaces/[^/]+", var.prefect_api_url))
    error_message = "A Prefect Cloud workspace URL needs prefect_api_key."
  }
}

variable "worker_prefect_api_url" {
  description = "Prefect API URL the worker uses when it differs from prefect_api_url (self-hosted server outside the cluster); ignored with enable_prefect_server (the worker then uses the in-cluster service) and with Prefect Cloud."
  type        = string
  sensitive   = true
  default     = null
}

variable "prefect_api_reachable" {
  description = "Stage gate. false (stage 1): only the namespace, the secrets and the optional Prefect server. true (stage 2 and every later apply): also the work pool, worker, limits, blocks, variables and automation."
  type        = bool
  default     = true
}

variable "prefect_version" {
  description = "Prefect release of the worker and server images (prefecthq/prefect:<version>-python3.11[-kubernetes]); keep it on the 3.8 line the flows use."
  type        = string
  default     = "3.8.8"

  validation {
    condition     = can(regex("^3\\.8\\.[0-9]+$", var.prefect_version))
    error_message = "prefect_version must be an exact 3.8.x release (the flows pin prefect>=3.8,<3.9)."
  }
}

variable "prefect_worker_chart_version" {
  description = "Exact version of the prefect-worker Helm chart (https://prefecthq.github.io/prefect-helm)."
  type        = string
  default     = "2026.8.18172642"

  validation {
    condition     = can(regex("^[0-9]{4}\\.[0-9]{1,2}\\.[0-9]+$", var.prefect_worker_chart_version))
    error_message = "prefect_worker_chart_version must be an exact chart version (YYYY.M.Dhhmmss), not a range."
  }
}

# -- optional self-hosted Prefect server --------------------------------------------------------

variable "enable_prefect_server" {
  description = "Install the prefect-server Helm chart in the namespace; the worker then uses it through the cluster service."
  type        = bool
  default     = false
}

variable "prefect_server_chart_version" {
  description = "Exact version of the prefect-server Helm chart."
  type        = string
  default     = "2026.8.18172642"

  validation {
    condition     = can(regex("^[0-9]{4}\\.[0-9]{1,2}\\.[0-9]+$", var.prefect_server_chart_version))
    error_message = "prefect_server_chart_version must be an exact chart version (YYYY.M.Dhhmmss), not a range."
  }
}

variable "prefect_server_database_url" {
  description = "PostgreSQL URL of the Prefect server's own database (postgresql+asyncpg://user:pw@host:5432/prefect); required with enable_prefect_server."
  type        = string
  sensitive   = true
  default     = null

  validation {
    condition = (
      !var.enable_prefect_server
      || can(regex("^postgresql\\+asyncpg://", var.prefect_server_database_url))
    )
    error_message = "enable_prefect_server needs prefect_server_database_url, a postgresql+asyncpg:// URL."
  }
}

# -- notifications -------------------------------------------------------------------------------

variable "notification_webhook_url" {
  description = "Webhook URL of a new notification block (type notification_block_type) the backfill automation sends to. Set this or notification_block_id."
  type        = string
  sensitive   = true
  default     = null
}

variable "notification_block_type" {
  description = "Type of the notification block created from notification_webhook_url."
  type        = string
  default     = "slack-webhook"

  validation {
    condition     = contains(["slack-webhook", "ms-teams-webhook"], var.notification_block_type)
    error_message = "notification_block_type must be 'slack-webhook' or 'ms-teams-webhook' (block types whose only required field is url)."
  }
}

variable "notification_block_id" {
  description = "ID of an existing notification block the backfill automation sends to. Set this or notification_webhook_url."
  type        = string
  default     = null

  validation {
    condition     = (var.notification_block_id == null) != (var.notification_webhook_url == null)
    error_message = "Set exactly one of notification_block_id and notification_webhook_url."
  }
}
