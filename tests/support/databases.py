"""Per-session throw-away databases: SQLite files and a private PostgreSQL database.

PostgreSQL: a database ``alp_t_<random>`` is created on the server of
``ALP_TEST_POSTGRES_URL`` for the session, migrated once, truncated between tests and
dropped at the end, so concurrent test runs never share state.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from alp.db import Base, make_engine
from alp.db.migrate import alembic_config

PG_ENV = "ALP_TEST_POSTGRES_URL"
REDIS_ENV = "ALP_TEST_REDIS_URL"


REQUIRE_ENV = "ALP_TEST_REQUIRE_SERVICES"


def skip_or_fail(env_name: str) -> None:
    """Skip a test needing an unset service URL, or fail when CI requires every service."""
    import pytest

    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{env_name} must be set ({REQUIRE_ENV}=1): refusing to skip")
    pytest.skip(f"{env_name} not set")


def postgres_base_url() -> str | None:
    return os.environ.get(PG_ENV) or None


def redis_base_url() -> str | None:
    return os.environ.get(REDIS_ENV) or None


@contextmanager
def private_postgres_database(base: str | None = None, prefix: str = "alp_t") -> Iterator[str]:
    """A fresh database on the server of ``base`` (default ``ALP_TEST_POSTGRES_URL``),
    dropped on exit (also used by bench/ scripts)."""
    base = base or postgres_base_url()
    assert base, f"{PG_ENV} is not set"
    url = make_url(base)
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def truncate_all(url: str) -> None:
    """Empty every table (fast isolation between tests on PostgreSQL)."""
    engine = make_engine(url)
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


def upgrade_to_before(url: str, revision: str) -> tuple[Config, str]:
    """Migrate the database at ``url`` to the revision just before ``revision`` (to plant
    old-shaped rows that ``revision`` must carry over); returns the Alembic config and that
    previous revision."""
    cfg = alembic_config(url)
    previous = ScriptDirectory.from_config(cfg).get_revision(revision).down_revision
    command.upgrade(cfg, previous)
    return cfg, previous
