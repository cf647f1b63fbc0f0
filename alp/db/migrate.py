"""Programmatic Alembic: upgrade to head, and refuse a database ahead of the code."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from alp.db.base import make_engine

ROOT = Path(__file__).resolve().parents[2]


class DatabaseAheadError(RuntimeError):
    """The database carries a migration revision this code does not know."""


def alembic_config(url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def current_revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def check_not_ahead(url: str) -> None:
    script = ScriptDirectory.from_config(alembic_config(url))
    rev = current_revision(url)
    if rev is not None and not _known(script, rev):
        raise DatabaseAheadError(
            f"database is at migration {rev!r}, which this version of alp does not know "
            f"(newest known: {script.get_current_head()!r}); upgrade alp instead of "
            "running an older version against this database"
        )


def _known(script: ScriptDirectory, rev: str) -> bool:
    try:
        return script.get_revision(rev) is not None
    except Exception:
        return False


def upgrade(url: str) -> None:
    """Migrate ``url`` to head (creating the schema on an empty database)."""
    check_not_ahead(url)
    command.upgrade(alembic_config(url), "head")


def downgrade_base(url: str) -> None:
    command.downgrade(alembic_config(url), "base")
