"""The database connection as a Prefect Block: host, port, database, user, password (secret)."""

from __future__ import annotations

from typing import ClassVar

from prefect.blocks.core import Block
from pydantic import Field, SecretStr
from sqlalchemy.engine import URL, make_url

DATABASE_DOCUMENT = "coinfill-database"


class CoinfillDatabase(Block):
    """Where coinfill keeps its tables (MySQL/MariaDB, PostgreSQL or a SQLite file)."""

    _block_type_name: ClassVar[str] = "coinfill database"
    _block_type_slug: ClassVar[str] = "coinfill-database"
    _description: ClassVar[str] = (
        "The SQLAlchemy connection coinfill's flows write to; the password is stored encrypted."
    )

    driver: str = Field(
        default="mysql+pymysql", description="SQLAlchemy driver: mysql+pymysql, postgresql, sqlite"
    )
    host: str | None = Field(default=None, description="Server host (none for SQLite)")
    port: int | None = Field(default=None, description="Server port")
    database: str = Field(description="Database name, or the SQLite file path")
    username: str | None = None
    password: SecretStr | None = Field(default=None, description="Never shown or logged")
    query: dict[str, str] = Field(default_factory=dict, description="URL options, e.g. charset")

    def url(self) -> str:
        """The full URL, password included (pass it to ``make_engine``, never to a log)."""
        return URL.create(
            self.driver,
            username=self.username,
            password=self.password.get_secret_value() if self.password else None,
            host=self.host,
            port=self.port,
            database=self.database,
            query=self.query,
        ).render_as_string(hide_password=False)

    @classmethod
    def from_url(cls, raw: str) -> CoinfillDatabase:
        url = make_url(raw)
        return cls(
            driver=url.drivername,
            host=url.host,
            port=url.port,
            database=url.database or "",
            username=url.username,
            password=SecretStr(url.password) if url.password else None,
            query={k: str(v) for k, v in url.query.items()},
        )
