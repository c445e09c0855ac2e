"""Create or update the providers' global concurrency limits on the configured Prefect server.

    PREFECT_API_URL=http://127.0.0.1:4200/api python -m coinfill.cli.ratelimits

Used by ``make up``; production gets the same limits from Terraform.
"""

from __future__ import annotations

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
)
from prefect.exceptions import ObjectNotFound

from coinfill.sources.limits import PROVIDER_LIMITS


def ensure_limits() -> list[str]:
    lines = []
    with get_client(sync_client=True) as client:
        for name, spec in PROVIDER_LIMITS.items():
            try:
                client.read_global_concurrency_limit_by_name(name)
            except ObjectNotFound:
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(
                        name=name, limit=spec.slots, active=True,
                        slot_decay_per_second=spec.slot_decay_per_second,
                    )
                )  # fmt: skip
                lines.append(f"created {name}: {spec.why}")
                continue
            client.update_global_concurrency_limit(
                name,
                GlobalConcurrencyLimitUpdate(
                    limit=spec.slots, active=True, slot_decay_per_second=spec.slot_decay_per_second
                ),
            )
            lines.append(f"updated {name}: {spec.why}")
    return lines


def main() -> None:
    for line in ensure_limits():
        print(f"  {line}")


if __name__ == "__main__":
    main()
