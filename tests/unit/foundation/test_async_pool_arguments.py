"""How the API's asyncpg pool reads a libpq DSN and psycopg2-style queries (no I/O)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from supportes.db.async_pool import connect_arguments, numbered
from supportes.errors import ConfigError


def test_positional_placeholders_are_numbered_and_percent_signs_kept() -> None:
    assert numbered("SELECT * FROM t WHERE a = %s AND b = %s") == (
        "SELECT * FROM t WHERE a = $1 AND b = $2"
    )
    assert numbered("SELECT '100%%' WHERE x = %s") == "SELECT '100%' WHERE x = $1"


def test_named_placeholders_are_refused() -> None:
    with pytest.raises(ValueError, match="named placeholders"):
        numbered("SELECT %(a)s")


def _query(arguments: dict[str, object]) -> dict[str, list[str]]:
    return parse_qs(urlsplit(str(arguments["dsn"])).query)


def test_a_uri_dsn_keeps_its_parameters_and_the_session_is_read_only() -> None:
    arguments = connect_arguments(
        "postgresql://api@127.0.0.1:5432/supportes?passfile=/s/pgpass&sslmode=verify-full"
        "&application_name=supportes-api&connect_timeout=3",
        "SUPPORTES_PG_API_DSN",
        10.0,
    )
    query = _query(arguments)
    assert query["host"] == ["127.0.0.1"]
    assert query["port"] == ["5432"]
    assert query["user"] == ["api"]
    assert query["dbname"] == ["supportes"]
    assert query["passfile"] == ["/s/pgpass"]
    assert query["sslmode"] == ["verify-full"]
    assert arguments["timeout"] == 3.0
    assert arguments["server_settings"] == {
        "default_transaction_read_only": "on",
        "application_name": "supportes-api",
    }


def test_a_key_value_dsn_is_read_by_libpq() -> None:
    query = _query(connect_arguments("host=/run/pg dbname=x user=y", "SUPPORTES_PG_DSN", 5.0))
    assert query == {"host": ["/run/pg"], "dbname": ["x"], "user": ["y"]}


def test_a_malformed_dsn_names_the_setting() -> None:
    with pytest.raises(ConfigError, match="SUPPORTES_PG_API_DSN is not a valid"):
        connect_arguments("host=a = b", "SUPPORTES_PG_API_DSN", 5.0)


def test_a_parameter_asyncpg_cannot_honour_is_refused_naming_it() -> None:
    with pytest.raises(ConfigError, match="SUPPORTES_PG_DSN: the connection parameter 'options'"):
        connect_arguments("host=a options='-c x=1'", "SUPPORTES_PG_DSN", 5.0)
