# Prefect Variables that prefect.yaml reads when deploying:
#   coinfill_work_pool  the work pool of work_pool.tf
#   coinfill_image      the flow image the Jobs run
#   coinfill_code_dir   where the flow code is in that image (the pull step's directory)
locals {
  deployment_variables = {
    coinfill_work_pool = var.work_pool_name
    coinfill_image     = var.image
    coinfill_code_dir  = var.code_dir
  }
}

resource "prefect_variable" "deployment" {
  for_each = { for name, value in local.deployment_variables : name => value if local.prefect_stage }

  name  = each.key
  value = each.value
  tags  = ["coinfill", "terraform"]

  depends_on = [prefect_work_pool.coinfill]
}
