# What the next steps need: `prefect deploy --all` reads the work pool name through the
# Prefect variable coinfill_work_pool; the rest is for operators.

output "namespace" {
  description = "Namespace of the worker, the flow-run Jobs and the optional Prefect server."
  value       = kubernetes_namespace_v1.coinfill.metadata[0].name
}

output "job_secret_name" {
  description = "Secret loaded into flow-run pods with envFrom (job variable secret_name)."
  value       = kubernetes_secret_v1.coinfill.metadata[0].name
}

output "work_pool_name" {
  description = "The Kubernetes work pool (null before stage 2)."
  value       = one(prefect_work_pool.coinfill[*].name)
}

output "global_concurrency_limits" {
  description = "Provider rate limits: name => limit and slot decay per second."
  value       = { for name, gcl in prefect_global_concurrency_limit.provider : name => { limit = gcl.limit, slot_decay_per_second = gcl.slot_decay_per_second } }
}

output "secret_blocks" {
  description = "Names of the Prefect Secret blocks written (their values are write-only)."
  value       = sort([for block in prefect_block.secret : block.name])
}

output "prefect_server_service_url" {
  description = "In-cluster API URL of the self-hosted Prefect server (null without enable_prefect_server)."
  value       = var.enable_prefect_server ? local.in_cluster_server_url : null
}
