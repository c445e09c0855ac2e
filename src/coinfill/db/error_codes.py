"""Which driver error codes mean what (DESIGN §10): PyMySQL's ``args[0]``, psycopg2's
``pgcode`` (SQLSTATE), sqlite3's primary result code. Codes not listed are left to SQLAlchemy."""

from __future__ import annotations

from typing import Literal

Kind = Literal[
    "privilege",  # a table or column privilege is missing
    "needs_privilege",  # the statement needs a global privilege (SUPER, ...)
    "missing_table",
    "missing_column",
    "syntax",
    "local_infile",  # LOAD DATA LOCAL INFILE refused: bulkwrite falls back on these codes
    "read_only",
    "login",
    "database",
    "cannot_open",
    "lock",
    "connection",
]
Rule = tuple[Kind, str]  # the class, and what happened in a few words

MYSQL: dict[int, Rule] = {
    1044: ("database", "access denied to the database"),
    1045: ("login", "access denied"),
    1049: ("database", "unknown database"),
    1054: ("missing_column", "unknown column"),
    1064: ("syntax", "syntax error"),
    1142: ("privilege", "command denied"),
    1143: ("privilege", "column command denied"),
    1146: ("missing_table", "table does not exist"),
    1148: ("local_infile", "command not allowed"),
    2068: ("local_infile", "LOAD DATA LOCAL INFILE refused by the client"),
    3948: ("local_infile", "loading local data is disabled"),
    4166: ("local_infile", "loading local data is disabled"),
    1227: ("needs_privilege", "privilege needed"),
    1290: ("read_only", "a server option prevents the statement"),
    1836: ("read_only", "the server is read-only"),
    1205: ("lock", "lock wait timeout"),
    1213: ("lock", "deadlock"),
    1467: ("lock", "auto-increment lock failure"),
    1927: ("connection", "connection was killed"),
    2006: ("connection", "server has gone away"),
    2013: ("connection", "lost connection to the server"),
    4031: ("connection", "disconnected for inactivity"),
}
POSTGRES: dict[str, Rule] = {
    "42501": ("privilege", "insufficient privilege"),
    "42P01": ("missing_table", "undefined table"),
    "42703": ("missing_column", "undefined column"),
    "42601": ("syntax", "syntax error"),
    "25006": ("read_only", "read-only transaction"),
    "28000": ("login", "invalid authorization"),
    "28P01": ("login", "invalid password"),
    "3D000": ("database", "database does not exist"),
    "40001": ("lock", "serialization failure"),
    "40P01": ("lock", "deadlock"),
    "55P03": ("lock", "lock not available"),
    "57P01": ("connection", "server shut down the connection"),
    "57P02": ("connection", "server crashed"),
    "57P03": ("connection", "server cannot accept connections yet"),
}
POSTGRES_CLASSES: dict[str, Rule] = {"08": ("connection", "connection failure")}
# Primary result codes (extended codes carry them in their low byte).
SQLITE: dict[int, Rule] = {
    3: ("read_only", "access permission denied"),  # SQLITE_PERM
    5: ("lock", "busy: another connection is writing"),  # SQLITE_BUSY
    6: ("lock", "table locked by another connection"),  # SQLITE_LOCKED
    8: ("read_only", "the database is read-only"),  # SQLITE_READONLY and its extended codes
    14: ("cannot_open", "cannot open the database file"),  # SQLITE_CANTOPEN
    23: ("privilege", "not authorized"),  # SQLITE_AUTH
}

REFUSED: frozenset[Kind] = frozenset(
    (
        "privilege",
        "needs_privilege",
        "missing_table",
        "missing_column",
        "syntax",
        "read_only",
        "local_infile",
    )  # local_infile stays the driver's class too: bulkwrite falls back on it
)
TRANSIENT: frozenset[Kind] = frozenset(("lock", "connection"))
LOST_CONNECTION: Rule = ("connection", "connection lost")
