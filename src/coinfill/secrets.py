"""Secrets in one order: explicit value → Prefect blocks → environment → none.

In production the FRED key is a Prefect Secret block (Terraform writes it, write-only), or a
field of the ``coinfill-credentials`` block (``coinfill blocks register``); a laptop sets
``COINFILL_FRED_API_KEY``. Block lookups need a Prefect server; without one, or without the
block, the environment value is used. The value is never logged.
"""

from __future__ import annotations

from pydantic import SecretStr

from coinfill.config import load_block
from coinfill.errors import ConfigurationError


def resolve_secret(
    what: str,
    *,
    explicit: str | None = None,
    block: str | None = None,
    credential: tuple[str, str] | None = None,
    env: SecretStr | None = None,
    env_name: str = "",
) -> str:
    """The secret's value, or a :class:`ConfigurationError` naming every place looked at."""
    value = optional_secret(explicit=explicit, block=block, credential=credential, env=env)
    if value:
        return value
    raise ConfigurationError(
        f"no {what}: set the Prefect Secret block '{block}' or the "
        f"'{credential[1] if credential else 'key'}' field of the coinfill-credentials block "
        f"(production), or {env_name} (local runs)"
    )


def optional_secret(
    *,
    explicit: str | None = None,
    block: str | None = None,
    credential: tuple[str, str] | None = None,
    env: SecretStr | None = None,
) -> str | None:
    """The secret's value from the first place that has one, or ``None`` (keys that only
    raise a limit, like CoinGecko's demo key). ``credential``: (credentials block document,
    field), looked at after the Secret block ``block``."""
    if explicit:
        return explicit
    if block:
        value = _from_block(block)
        if value:
            return value
    if credential:
        from blocks.credentials import CoinfillApiCredentials

        document = load_block(CoinfillApiCredentials, credential[0])
        value = document.key(credential[1]) if document is not None else None
        if value:
            return str(value)
    if env is not None and env.get_secret_value():
        return env.get_secret_value()
    return None


def _from_block(name: str) -> str | None:
    from prefect.blocks.system import Secret

    secret = load_block(Secret, name)
    value = secret.get() if secret is not None else None
    return value if isinstance(value, str) and value else None
