# Terraform and provider versions. Every provider is pinned to one minor release with `~>`
# (patch releases only): a provider's minor release can change its schema, so moving to the
# next minor is a reviewed change here, with a fresh `.terraform.lock.hcl`.
#
# Terraform >= 1.11: write-only arguments (prefect_block.data_wo, kubernetes_secret_v1.data_wo)
# keep the database URL and the API keys out of the state.
terraform {
  required_version = ">= 1.11.0, < 2.0.0"

  required_providers {
    prefect = {
      source  = "prefecthq/prefect"
      version = "~> 3.4.1"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 3.2.1"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "~> 3.1.2"
    }
  }
}
