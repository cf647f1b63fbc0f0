"""Alembic: upgrade head / downgrade base on empty SQLite and PostgreSQL; the migrated
schema matches the ORM metadata (autogenerate finds no difference); a database ahead of the
code is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from alp.db import Base, make_engine
from alp.db.migrate import DatabaseAheadError, check_not_ahead, downgrade_base, upgrade
from tests.support import databases


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    if databases.postgres_base_url() is None:
        databases.skip_or_fail(databases.PG_ENV)
    with databases.private_postgres_database() as url:
        yield url


def _diff(url: str) -> list:
    engine = make_engine(url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    return diff


def test_upgrade_matches_metadata_then_downgrade(empty_url: str) -> None:
    upgrade(empty_url)
    assert _diff(empty_url) == []
    engine = make_engine(empty_url)
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    engine.dispose()
    downgrade_base(empty_url)
    engine = make_engine(empty_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()


def test_upgrade_is_idempotent(empty_url: str) -> None:
    upgrade(empty_url)
    upgrade(empty_url)
    assert _diff(empty_url) == []


def test_database_ahead_of_code_is_refused(empty_url: str) -> None:
    upgrade(empty_url)
    engine = make_engine(empty_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'fffffffff999'"))
    engine.dispose()
    with pytest.raises(DatabaseAheadError, match="does not know"):
        check_not_ahead(empty_url)
    with pytest.raises(DatabaseAheadError):
        upgrade(empty_url)
