# The Prefect worker (Helm chart prefect-worker, exact version pinned). It polls the work pool
# of work_pool.tf and starts one Kubernetes Job per flow run from that pool's base job template.
#
# The chart is NOT given a base job template (worker.config.baseJobTemplate stays unset): with
# one, the chart runs `prefect work-pool update --base-job-template` at every worker start and
# would overwrite the template Terraform manages. The template belongs to prefect_work_pool.
#
# Stage 2 only, after the work pool: a worker that finds no pool creates one with Prefect's
# default template, which the prefect_work_pool resource could then not create.
resource "helm_release" "prefect_worker" {
  count = local.prefect_stage ? 1 : 0

  name       = "prefect-worker"
  namespace  = kubernetes_namespace_v1.coinfill.metadata[0].name
  repository = "https://prefecthq.github.io/prefect-helm"
  chart      = "prefect-worker"
  version    = var.prefect_worker_chart_version

  atomic          = true
  cleanup_on_fail = true
  wait            = true
  timeout         = 600

  # Helm provider 3.x: `set` is a list of objects.
  set = [
    { name = "worker.config.workPool", value = prefect_work_pool.coinfill[0].name },
    { name = "worker.config.type", value = "kubernetes" },
    { name = "worker.image.prefectTag", value = local.worker_image_tag },
    { name = "worker.apiConfig", value = local.worker_api_config },
    { name = "worker.cloudApiConfig.apiKeySecret.name", value = local.prefect_api_key_secret },
    { name = "worker.cloudApiConfig.apiKeySecret.key", value = "key" },
    # Pods of a 'restricted' namespace drop every capability.
    { name = "worker.containerSecurityContext.capabilities.drop[0]", value = "ALL" },
  ]

  # Derived from sensitive inputs (the API URL): kept out of plan output and the release metadata.
  set_sensitive = [
    { name = "worker.selfHostedServerApiConfig.apiUrl", value = local.worker_api_url },
    { name = "worker.cloudApiConfig.cloudUrl", value = local.prefect_cloud_url },
    { name = "worker.cloudApiConfig.accountId", value = local.prefect_account_id },
    { name = "worker.cloudApiConfig.workspaceId", value = local.prefect_workspace_id },
  ]

  depends_on = [
    kubernetes_secret_v1.coinfill,
    kubernetes_secret_v1.prefect_api_key,
    helm_release.prefect_server,
  ]
}
