"""Migration 0004_annotations_unique: duplicate annotation rows without an external id (left by the
old read-then-insert race) are reduced to the most recently updated one per (image,
source), then the partial unique index refuses new duplicates; on both engines."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from alp.db import make_engine
from tests.support import databases

REVISION = "0004_annotations_unique"


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    if databases.postgres_base_url() is None:
        databases.skip_or_fail(databases.PG_ENV)
    with databases.private_postgres_database() as pg_url:
        yield pg_url


def _insert(conn, image_id: int, source: str, ext: str | None, boxes: str, ts: str) -> None:
    conn.execute(
        text(
            "INSERT INTO annotations (image_id, boxes, source, external_id, created_at, "
            "updated_at) VALUES (:i, :b, :s, :e, :t, :t)"
        ),
        {"i": image_id, "b": boxes, "s": source, "e": ext, "t": ts},
    )


def test_duplicates_are_reduced_to_the_latest_then_refused(url: str) -> None:
    cfg, _ = databases.upgrade_to_before(url, REVISION)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO pools (name, classes, settings, created_at, updated_at) "
                 "VALUES ('p', '[]', '{}', '2030-01-01', '2030-01-01')")
        )  # fmt: skip
        for sha in ("a", "b"):
            conn.execute(
                text(
                    "INSERT INTO images (pool_id, sha256, storage_key, filename, content_type, "
                    "size_bytes, width, height, state, split, created_at, updated_at) VALUES "
                    "(1, :s, :s, :s, 'image/png', 1, 4, 4, 'labeled', 'train', "
                    "'2030-01-01', '2030-01-01')"
                ),
                {"s": sha},
            )
        _insert(conn, 1, "api", None, '["old"]', "2030-01-01 10:00:00")
        _insert(conn, 1, "api", None, '["newest"]', "2030-01-01 12:00:00")
        _insert(conn, 1, "api", None, '["older"]', "2030-01-01 11:00:00")
        _insert(conn, 1, "import", "coco", '["import"]', "2030-01-01 09:00:00")
        _insert(conn, 1, "labelstudio", "7", '["ls7"]', "2030-01-01 09:00:00")
        _insert(conn, 1, "labelstudio", "8", '["ls8"]', "2030-01-01 09:00:00")
        _insert(conn, 2, "api", None, '["only"]', "2030-01-01 09:00:00")
    command.upgrade(cfg, "head")
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT image_id, source, external_id, boxes FROM annotations "
                 "ORDER BY image_id, source, external_id")
        ).all()  # fmt: skip
    got = [(i, s, e, str(b)) for i, s, e, b in rows]
    assert [(i, s, e) for i, s, e, _ in got] == [
        (1, "api", None),
        (1, "import", "coco"),
        (1, "labelstudio", "7"),
        (1, "labelstudio", "8"),
        (2, "api", None),
    ]
    assert "newest" in got[0][3]
    with pytest.raises(IntegrityError), engine.begin() as conn:
        _insert(conn, 2, "api", None, '["dup"]', "2030-01-02 09:00:00")
    engine.dispose()
