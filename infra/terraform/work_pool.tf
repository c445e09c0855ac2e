# The Kubernetes work pool and its base job template: the Job every flow run becomes.
#
# The template is the committed base-job-template.json (Prefect's kubernetes worker format:
# job_configuration + a JSON schema of variables), hardened: non-root uid/gid 1001, no
# privilege escalation, every capability dropped, seccomp RuntimeDefault, read-only root
# filesystem with an emptyDir at /tmp, CPU/memory requests and limits, the secret of
# secrets.tf loaded with envFrom, a deadline (active_deadline_seconds) and a TTL for finished
# Jobs. Deployments override the variables per run (prefect.yaml job_variables).
#
# templatefile() fills in the three defaults Terraform knows (${namespace}, ${image},
# ${secret_name}); Prefect's own placeholders ({{ image }}, ...) pass through untouched.
# jsondecode/jsonencode validates the JSON and normalises its whitespace.

locals {
  base_job_template = jsondecode(templatefile("${path.module}/base-job-template.json", {
    namespace   = var.namespace
    image       = var.image
    secret_name = var.job_secret_name
  }))
}

resource "prefect_work_pool" "coinfill" {
  count = local.prefect_stage ? 1 : 0

  name              = var.work_pool_name
  type              = "kubernetes"
  description       = "coinfill flow runs as hardened Kubernetes Jobs in namespace ${var.namespace} (managed by Terraform)."
  paused            = false
  concurrency_limit = var.work_pool_concurrency_limit
  base_job_template = jsonencode(local.base_job_template)
}
