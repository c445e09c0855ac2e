# One global concurrency limit per API provider, named as the code asks for it
# (src/coinfill/sources/ratelimit.py: rate_limit(name, occupy=cost, strict=True)). With slot
# decay a limit is a rate: `limit` slots let a burst through, then slot_decay_per_second
# requests per second. Every run on every worker draws from the same budget. The rates are
# DESIGN §8's, the same table as src/coinfill/sources/limits.py (a test holds them equal).
locals {
  provider_rate_limits = {
    # FRED: at most ~1 request per second.
    fred = { limit = 1, slot_decay_per_second = 1.0 }
    # Binance: 6,000 request weight per minute per IP (klines cost 2; runs occupy the weight).
    binance = { limit = 6000, slot_decay_per_second = 100 }
    # CoinGecko keyless: ~10 calls per minute.
    coingecko = { limit = 1, slot_decay_per_second = 10 / 60 }
    # CoinMetrics community: 10 requests per 6 seconds.
    coinmetrics = { limit = 10, slot_decay_per_second = 10 / 6 }
    # blockchain.com charts: one request per 10 seconds.
    "blockchain-info" = { limit = 1, slot_decay_per_second = 0.1 }
    # Messari with a free key: ~20 requests per minute.
    messari = { limit = 1, slot_decay_per_second = 20 / 60 }
    # Publishers' RSS/Atom feeds: 2 requests per second in all.
    "news-feeds" = { limit = 1, slot_decay_per_second = 2.0 }
    # NewsAPI.org: 1 request per second.
    newsapi = { limit = 1, slot_decay_per_second = 1.0 }
  }
}

resource "prefect_global_concurrency_limit" "provider" {
  for_each = { for name, rate in local.provider_rate_limits : name => rate if local.prefect_stage }

  name                  = each.key
  limit                 = each.value.limit
  slot_decay_per_second = each.value.slot_decay_per_second
  active                = true
}
