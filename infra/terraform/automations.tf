# An automation that notifies when a backfill fails. A backfill whose coverage suite misses
# after the run ends Failed too (CoverageMissedError: "<suite> suite missed after the run: …"),
# so "a backfill deployment's flow run ended Failed, Crashed or TimedOut" covers both; the
# notification quotes the state message, which says which it was.
locals {
  # The collectors that have a `backfill` deployment (prefect.yaml; a test holds them equal).
  backfill_flows = [
    "technical-indicators",
    "macro-indicators",
    "crypto-prices",
    "onchain-metrics",
    "news-sentiment",
    "ml-features",
  ]

  backfill_failure_trigger = {
    posture = "Reactive"
    expect  = ["prefect.flow-run.Failed", "prefect.flow-run.Crashed", "prefect.flow-run.TimedOut"]
    match   = { "prefect.resource.id" = "prefect.flow-run.*" }
    # Every entry must match one of the run's related resources: the deployment named
    # `backfill` of one of coinfill's flows (a `scheduled` run or another project's flow does
    # not notify).
    match_related = [
      { "prefect.resource.role" = "deployment", "prefect.resource.name" = "backfill" },
      { "prefect.resource.role" = "flow", "prefect.resource.name" = local.backfill_flows },
    ]
    for_each  = ["prefect.resource.id"]
    threshold = 1
    within    = 0
  }

  # Jinja, rendered by Prefect when the automation fires.
  backfill_failure_subject = "coinfill backfill {{ flow_run.state.name }}: {{ flow.name }} ({{ flow_run.name }})"
  backfill_failure_body    = <<-EOT
    Backfill {{ flow.name }}/{{ deployment.name }}, run {{ flow_run.name }}, ended {{ flow_run.state.name }} at {{ flow_run.state.timestamp }}.
    Why: {{ flow_run.state.message }}
    Parameters: {{ flow_run.parameters }}
    Run: {{ flow_run|ui_url }}
    A message "... suite missed after the run" is a coverage miss: the rows written stay, the run's coverage table artifact names the symbols under target.
  EOT
}

resource "prefect_automation" "backfill_failed" {
  count = local.prefect_stage ? 1 : 0

  name        = "coinfill-backfill-failed"
  description = "Notify when a coinfill backfill run fails, crashes, times out or misses its coverage target (managed by Terraform)."
  enabled     = true

  trigger = {
    event = {
      posture       = local.backfill_failure_trigger.posture
      expect        = local.backfill_failure_trigger.expect
      match         = jsonencode(local.backfill_failure_trigger.match)
      match_related = jsonencode(local.backfill_failure_trigger.match_related)
      for_each      = local.backfill_failure_trigger.for_each
      threshold     = local.backfill_failure_trigger.threshold
      within        = local.backfill_failure_trigger.within
    }
  }

  actions = [
    {
      type              = "send-notification"
      block_document_id = coalesce(var.notification_block_id, one(prefect_block.notification[*].id))
      subject           = local.backfill_failure_subject
      body              = local.backfill_failure_body
    },
  ]
}
