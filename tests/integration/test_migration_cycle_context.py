"""Migration 0011_cycle_context: a scoring-context cache stored in the cycle's settings
snapshot (``config["_scoring_context"]``) moves to ``cycles.scoring_context``, the rest of
the snapshot is kept; the downgrade moves it back; on both engines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from alp.db import make_engine
from tests.support import databases

REVISION = "0011_cycle_context"
CONTEXT = {"labeled_class_freq": [0.5, 1.0], "class_quality": None}


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    if databases.postgres_base_url() is None:
        databases.skip_or_fail(databases.PG_ENV)
    with databases.private_postgres_database() as pg_url:
        yield pg_url


def _rows(url: str, with_context: bool) -> dict[int, tuple]:
    engine = make_engine(url)
    extra = ", scoring_context" if with_context else ""
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT id, config{extra} FROM cycles ORDER BY id")).all()
    engine.dispose()
    load = lambda v: json.loads(v) if isinstance(v, str) else v  # noqa: E731 (sqlite: text)
    return {r[0]: tuple(load(v) for v in r[1:]) for r in rows}


def test_the_context_cache_moves_to_its_column_and_back(url: str) -> None:
    cfg, previous = databases.upgrade_to_before(url, REVISION)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO pools (name, classes, settings, created_at, updated_at) "
                 "VALUES ('p', '[\"a\", \"b\"]', '{}', '2030-01-01', '2030-01-01')")
        )  # fmt: skip
        for index, config in enumerate(
            [{"batch_size": 3, "_scoring_context": CONTEXT}, {"batch_size": 4}]
        ):
            conn.execute(
                text(
                    'INSERT INTO cycles (pool_id, "index", state, config, metrics, '
                    "labeled_count, timings, issues, cancel_requested, created_at) VALUES "
                    "(1, :i, 'done', :c, '{}', 0, '{}', '[]', false, '2030-01-01')"
                ),
                {"i": index, "c": json.dumps(config)},
            )
    engine.dispose()

    command.upgrade(cfg, REVISION)
    assert _rows(url, True) == {1: ({"batch_size": 3}, CONTEXT), 2: ({"batch_size": 4}, None)}

    command.downgrade(cfg, previous)
    assert _rows(url, False) == {
        1: ({"batch_size": 3, "_scoring_context": CONTEXT},),
        2: ({"batch_size": 4},),
    }
