# Optional self-hosted Prefect server (Helm chart prefect-server, exact version pinned), for
# clusters that do not use Prefect Cloud. Its database is an external PostgreSQL (the chart's
# bundled one keeps no data by default); the URL comes from the prefect-server-database secret.
# The worker then talks to http://prefect-server.<namespace>.svc.cluster.local:4200/api.
# Stage 1: it must be up before stage 2 can create the work pool and the rest through its API.
resource "helm_release" "prefect_server" {
  count = var.enable_prefect_server ? 1 : 0

  name       = "prefect-server"
  namespace  = kubernetes_namespace_v1.coinfill.metadata[0].name
  repository = "https://prefecthq.github.io/prefect-helm"
  chart      = "prefect-server"
  version    = var.prefect_server_chart_version

  atomic          = true
  cleanup_on_fail = true
  wait            = true
  timeout         = 900

  set = [
    { name = "global.prefect.image.prefectTag", value = local.server_image_tag },
    { name = "postgresql.enabled", value = "false" },
    { name = "externalDatabase.existingSecret", value = kubernetes_secret_v1.prefect_server_database[0].metadata[0].name },
    { name = "externalDatabase.connectionStringSecretKey", value = "connection-string" },
    { name = "server.containerSecurityContext.capabilities.drop[0]", value = "ALL" },
  ]
}
