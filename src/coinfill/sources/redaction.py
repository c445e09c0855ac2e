"""Secrets that travel in URLs (FRED's ``api_key``) or headers never reach a log or an error:
``***`` replaces them, as typed and URL-encoded, in every message of the HTTP path and in
httpx's and httpcore's own log records."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret masked, as typed and as it appears URL-encoded."""
    for secret in secrets:
        if secret:
            for form in {secret, quote(secret, safe=""), quote_plus(secret, safe="")}:
                text = text.replace(form, MASK)
    return text


class _Redactor(logging.Filter):
    """Removes registered secrets from log records of the loggers it is attached to."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            cleaned = redact(message, self.secrets)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


_REDACTOR = _Redactor()
for _name in ("httpx", "httpcore", "coinfill.sources.http"):
    logging.getLogger(_name).addFilter(_REDACTOR)


def register_secrets(secrets: Iterable[str]) -> None:
    """Mask these in every later log record of the HTTP loggers."""
    _REDACTOR.secrets |= {s for s in secrets if s}
