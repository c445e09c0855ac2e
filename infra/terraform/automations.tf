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

# A flow run whose pod vanished (node lost, OOM kill, the worker gone while the Job died) stays
# Running forever: nothing reports its end. Every flow-run process sends a
# `prefect.flow-run.heartbeat` event (prefect 3.8, PREFECT_FLOWS_HEARTBEAT_FREQUENCY; the base
# job template sets it to flow_run_heartbeat_seconds) but the Prefect server does not act on
# missing ones by itself: this automation does. After a heartbeat it expects another event of
# the run (a heartbeat or a state change) within heartbeat_lost_after_seconds, four heartbeats;
# when none comes it proposes Crashed. Not forced: a run that already ended (a late heartbeat
# after Completed) stays as it is.
locals {
  flow_run_heartbeat_seconds   = 30
  heartbeat_lost_after_seconds = 4 * local.flow_run_heartbeat_seconds

  heartbeat_lost_trigger = {
    posture = "Proactive"
    after   = ["prefect.flow-run.heartbeat"]
    expect  = ["prefect.flow-run.*"]
    match   = { "prefect.resource.id" = "prefect.flow-run.*" }
    # Runs of a deployment of one of coinfill's flows: only they are sure to send heartbeats
    # this often (an in-process `coinfill run` sends them every 180 s, Prefect's default, and
    # has no deployment). The flow's heartbeat names its flow but not its deployment.
    match_related = [
      { "prefect.resource.role" = "deployment" },
      { "prefect.resource.role" = "flow", "prefect.resource.name" = local.backfill_flows },
    ]
    for_each  = ["prefect.resource.id"]
    threshold = 1
    within    = local.heartbeat_lost_after_seconds
  }

  heartbeat_lost_message = "No heartbeat for ${local.heartbeat_lost_after_seconds} s: the flow-run pod is gone (node lost, OOM-killed or deleted). Marked Crashed by the coinfill-flow-run-heartbeat-lost automation."
}

resource "prefect_automation" "flow_run_heartbeat_lost" {
  count = local.prefect_stage ? 1 : 0

  name        = "coinfill-flow-run-heartbeat-lost"
  description = "Mark a coinfill deployment's flow run Crashed when its heartbeats stop (managed by Terraform)."
  enabled     = true

  trigger = {
    event = {
      posture       = local.heartbeat_lost_trigger.posture
      after         = local.heartbeat_lost_trigger.after
      expect        = local.heartbeat_lost_trigger.expect
      match         = jsonencode(local.heartbeat_lost_trigger.match)
      match_related = jsonencode(local.heartbeat_lost_trigger.match_related)
      for_each      = local.heartbeat_lost_trigger.for_each
      threshold     = local.heartbeat_lost_trigger.threshold
      within        = local.heartbeat_lost_trigger.within
    }
  }

  actions = [
    {
      type    = "change-flow-run-state"
      state   = "CRASHED"
      message = local.heartbeat_lost_message
    },
  ]
}
