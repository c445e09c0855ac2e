# Prefect Secret blocks the code reads its API keys from (src/coinfill/settings.py,
# *_api_key_block), written with the write-only `data_wo`: the keys go to the Prefect API and
# never into the Terraform state. Increase var.secrets_version to push a changed key
# (data_wo_version). An optional key that is not set gets no block: the code then runs without
# it (or, for Messari, says that it needs one).
locals {
  secret_block_names = {
    fred      = "fred-api-key"
    coingecko = "coingecko-api-key"
    messari   = "messari-api-key"
    newsapi   = "newsapi-key"
  }
  secret_block_values = {
    fred      = var.fred_api_key
    coingecko = var.coingecko_api_key
    messari   = var.messari_api_key
    newsapi   = var.newsapi_key
  }
  # Which keys are set is not secret; the keys themselves are.
  secret_blocks = {
    for key, name in local.secret_block_names : key => name
    if nonsensitive(local.secret_block_values[key] != null)
  }
}

resource "prefect_block" "secret" {
  for_each = { for key, name in local.secret_blocks : key => name if local.prefect_stage }

  name            = each.value
  type_slug       = "secret"
  data_wo         = jsonencode({ value = local.secret_block_values[each.key] })
  data_wo_version = var.secrets_version
}

# The notification block the backfill automation sends to, unless an existing one is given
# (var.notification_block_id).
resource "prefect_block" "notification" {
  count = local.prefect_stage && var.notification_block_id == null ? 1 : 0

  name            = "coinfill-alerts"
  type_slug       = var.notification_block_type
  data_wo         = jsonencode({ url = var.notification_webhook_url })
  data_wo_version = var.secrets_version
}
