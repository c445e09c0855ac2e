import pytest

from coinfill.db.engine import make_engine
from coinfill.errors import ConfigurationError, DatabaseUnavailableError
from coinfill.settings import load_settings


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "is not a database URL"),
        ("oracle://scott:tiger@db/x", "does not support"),
        ("mysql+mysqldb://root@127.0.0.1/x", "through PyMySQL"),
        ("postgresql+nodriver://root@127.0.0.1/x", "cannot use database URL"),
    ],
)
def test_given_malformed_url_when_engine_made_then_configuration_error(
    url: str, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        make_engine(url)


def test_given_unreachable_server_when_engine_made_then_error_names_it_without_password() -> None:
    with pytest.raises(DatabaseUnavailableError) as caught:
        make_engine("mysql+pymysql://root:s3cret@127.0.0.1:1/coinfill")
    assert "127.0.0.1:1" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_given_bad_setting_when_loaded_then_message_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COINFILL_CHUNK_SYMBOLS", "zero")
    with pytest.raises(ConfigurationError, match="COINFILL_CHUNK_SYMBOLS"):
        load_settings()


def test_default_database_is_embedded_sqlite_under_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COINFILL_DATABASE_URL", raising=False)
    assert load_settings().database_url.get_secret_value() == "sqlite:///data/coinfill.db"
    assert "data/coinfill.db" not in repr(load_settings())  # secret stays hidden in reprs
