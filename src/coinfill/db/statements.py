"""The privilege and the table of one of coinfill's own SQL statements: what a database
refusal names (``database refused INSERT on technical_indicators``)."""

from __future__ import annotations

import re

Statement = str | bytes | bytearray | None  # PyMySQL and psycopg2 may run bytes

_ID = r'(?:`[^`]+`|"[^"]+"|\[[^\]]+\]|[\w$]+)'
_NAME = rf"({_ID}(?:\s*\.\s*{_ID})?)"
_IF = r"(?:IF\s+(?:NOT\s+)?EXISTS\s+)?"
_TEMP = r"(?:LOCAL\s+|GLOBAL\s+)?TEMP(?:ORARY)?"
_VIEW_OPTIONS = r"(?:(?:ALGORITHM|DEFINER|SQL\s+SECURITY)\s*=?\s*\S+\s+)*"
_TARGETS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (privilege, re.compile(pattern, re.IGNORECASE | re.DOTALL))
    for privilege, pattern in (
        ("INSERT", rf"^(?:INSERT|REPLACE)\s+(?:(?:LOW_PRIORITY|DELAYED|IGNORE)\s+)*INTO\s+{_NAME}"),
        ("INSERT", rf"^LOAD\s+DATA\b.*?\bINTO\s+TABLE\s+{_NAME}"),
        ("INSERT", rf"^COPY\s+{_NAME}.*?\bFROM\b"),
        ("UPDATE", rf"^UPDATE\s+(?:(?:LOW_PRIORITY|IGNORE|ONLY)\s+)*{_NAME}"),
        ("DELETE", rf"^DELETE\s+(?:(?:LOW_PRIORITY|QUICK|IGNORE)\s+)*FROM\s+(?:ONLY\s+)?{_NAME}"),
        ("CREATE TEMPORARY TABLES", rf"^CREATE\s+{_TEMP}\s+TABLE\s+{_IF}{_NAME}"),
        ("CREATE", rf"^CREATE\s+TABLE\s+{_IF}{_NAME}"),
        ("INDEX", rf"^(?:CREATE\s+(?:UNIQUE\s+)?|DROP\s+)INDEX\s+{_IF}{_ID}\s+ON\s+{_NAME}"),
        ("CREATE VIEW", rf"^CREATE\s+(?:OR\s+REPLACE\s+)?{_VIEW_OPTIONS}VIEW\s+{_IF}{_NAME}"),
        ("ALTER", rf"^ALTER\s+TABLE\s+(?:ONLY\s+)?{_NAME}"),
        ("DROP", rf"^DROP\s+(?:TEMPORARY\s+)?(?:TABLE|VIEW)\s+{_IF}{_NAME}"),
        ("DROP", rf"^TRUNCATE\s+(?:TABLE\s+)?{_NAME}"),
        ("ANALYZE", rf"^ANALYZE\s+(?:TABLE\s+)?{_NAME}"),
        ("SELECT", rf"^(?:SELECT|WITH)\b.*?\bFROM\s+{_NAME}"),
    )
)
HEAD = 4_000
_COMMENTS = re.compile(r"^(?:\s+|--[^\n]*\n|/\*.*?\*/)+", re.DOTALL)


def statement_target(statement: Statement) -> tuple[str | None, str | None]:
    """``(privilege, table)`` of one of coinfill's own statements, from its first keyword
    and its target table; ``(first keyword, None)`` for statements of other shapes."""
    if statement is None:
        return None, None
    head = statement[:HEAD]  # the target is named early; a batch statement may be megabytes
    text = head if isinstance(head, str) else bytes(head).decode("utf-8", "replace")
    text = _COMMENTS.sub("", text, count=1)
    for privilege, pattern in _TARGETS:
        match = pattern.match(text)
        if match:
            return privilege, _unquote(match.group(1))
    first = text.split(None, 1)
    return (first[0].upper() if first else None), None


def _unquote(name: str) -> str:
    parts = re.split(r"\s*\.\s*(?=(?:[`\"\[\w$]))", name)
    return ".".join(part.strip('`"[]') for part in parts)
