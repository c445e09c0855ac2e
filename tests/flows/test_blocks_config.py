"""Blocks and the one resolution order (explicit → Block → env → default), on the session's
real (temporary) Prefect API: documents saved, read back, secrets kept secret."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from blocks.credentials import CoinfillApiCredentials
from blocks.database import CoinfillDatabase
from coinfill.cli import app
from coinfill.config import database_url
from coinfill.secrets import optional_secret
from coinfill.settings import load_settings

runner = CliRunner()


@pytest.fixture
def names(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Fresh document names per test: the harness's API is shared by the whole session."""
    suffix = uuid.uuid4().hex[:8]
    chosen = {"database": f"db-{suffix}", "credentials": f"cred-{suffix}"}
    monkeypatch.setenv("COINFILL_DATABASE_BLOCK", chosen["database"])
    monkeypatch.setenv("COINFILL_CREDENTIALS_BLOCK", chosen["credentials"])
    yield chosen


def test_database_url_block_then_env_then_default(
    names: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COINFILL_DATABASE_URL", raising=False)
    assert database_url(load_settings()) == "sqlite:///data/coinfill.db"  # the default
    monkeypatch.setenv("COINFILL_DATABASE_URL", "sqlite:////tmp/from-env.db")
    assert database_url(load_settings()) == "sqlite:////tmp/from-env.db"  # env over default
    CoinfillDatabase.from_url("mysql+pymysql://etl:p%40ss:w0rd@db.internal:3307/coinfill").save(
        names["database"]
    )
    from_block = database_url(load_settings())
    assert (
        from_block == "mysql+pymysql://etl:p%40ss%3Aw0rd@db.internal:3307/coinfill"
    )  # block over env
    assert database_url(load_settings(), explicit="sqlite:///x.db") == "sqlite:///x.db"


def test_the_database_block_keeps_its_password_secret(names: dict[str, str]) -> None:
    CoinfillDatabase(host="h", database="d", username="u", password=SecretStr("s3cret")).save(
        names["database"]
    )
    loaded = CoinfillDatabase.load(names["database"])
    assert "s3cret" not in repr(loaded) and "s3cret" not in str(loaded.model_dump())
    assert loaded.url() == "mysql+pymysql://u:s3cret@h/d"


def test_keys_secret_block_then_credentials_block_then_env(names: dict[str, str]) -> None:
    from prefect.blocks.system import Secret

    env = SecretStr("from-env")
    secret_name = f"fred-{names['credentials']}"
    where = {"block": secret_name, "credential": (names["credentials"], "fred_api_key"), "env": env}
    assert optional_secret(**where) == "from-env"  # type: ignore[arg-type]
    CoinfillApiCredentials(fred_api_key=SecretStr("from-credentials")).save(names["credentials"])
    assert optional_secret(**where) == "from-credentials"  # type: ignore[arg-type]
    Secret(value=SecretStr("from-secret-block")).save(secret_name)
    assert optional_secret(**where) == "from-secret-block"  # type: ignore[arg-type]
    assert optional_secret(explicit="explicit", **where) == "explicit"  # type: ignore[arg-type]
    # A field the credentials document leaves empty falls through to the env.
    assert optional_secret(credential=(names["credentials"], "newsapi_key"), env=env) == "from-env"


def test_blocks_register_creates_documents_from_env(
    names: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COINFILL_DATABASE_URL", "postgresql://etl:pw@pg:5432/coinfill")
    monkeypatch.setenv("COINFILL_FRED_API_KEY", "fred-key-1")
    monkeypatch.delenv("COINFILL_NEWSAPI_KEY", raising=False)

    first = runner.invoke(app, ["blocks", "register"])

    assert first.exit_code == 0, first.output
    assert "registered block type coinfill-database" in first.output
    assert f"saved block document {names['database']}" in first.output
    assert "fred-key-1" not in first.output and "pw@" not in first.output
    assert CoinfillDatabase.load(names["database"]).url() == "postgresql://etl:pw@pg:5432/coinfill"
    credentials = CoinfillApiCredentials.load(names["credentials"])
    assert (
        credentials.key("fred_api_key") == "fred-key-1" and credentials.key("newsapi_key") is None
    )

    monkeypatch.setenv("COINFILL_DATABASE_URL", "postgresql://etl:pw@pg2:5432/coinfill")
    kept = runner.invoke(app, ["blocks", "register"])
    assert "exists (kept; --overwrite replaces it)" in kept.output
    assert CoinfillDatabase.load(names["database"]).host == "pg"
    replaced = runner.invoke(app, ["blocks", "register", "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert CoinfillDatabase.load(names["database"]).host == "pg2"
