# The namespace of the worker, the flow-run Jobs and (optionally) the Prefect server. Pod
# Security Admission enforces var.pod_security_level ('restricted' by default): the base job
# template and both charts' pods, as configured here, meet it.
resource "kubernetes_namespace_v1" "coinfill" {
  metadata {
    name = var.namespace
    labels = merge(local.common_labels, {
      "pod-security.kubernetes.io/enforce" = var.pod_security_level
      "pod-security.kubernetes.io/warn"    = "restricted"
      "pod-security.kubernetes.io/audit"   = "restricted"
    })
  }
}
