# Provider configuration.
#
# Kubernetes and Helm use the same kubeconfig and context. The Prefect provider talks to the
# Prefect API at var.prefect_api_url: a Prefect Cloud workspace URL
# (https://api.prefect.cloud/api/accounts/<id>/workspaces/<id>, with var.prefect_api_key) or a
# self-hosted server (no key). Configuring the Prefect provider does not contact the API, so
# stage 1 (prefect_api_reachable = false) plans and applies before any server exists.

provider "kubernetes" {
  config_path    = var.kubeconfig_path
  config_context = var.kube_context
}

# Helm provider 3.x: `kubernetes` is an attribute (an object), not a block.
provider "helm" {
  kubernetes = {
    config_path    = var.kubeconfig_path
    config_context = var.kube_context
  }
}

provider "prefect" {
  endpoint = var.prefect_api_url
  api_key  = var.prefect_api_key
}
