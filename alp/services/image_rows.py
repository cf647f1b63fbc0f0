"""Image rows: race-safe bulk insert with dedupe by ``(pool_id, sha256)``.

On PostgreSQL rows are inserted in one canonical order (by SHA-256), so two transactions
never wait on each other's keys in a cycle, with ids still ascending in upload order; the
insert runs in a savepoint that is retried (bounded, with jitter) on a deadlock or
serialization failure.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from alp.db import Image
from alp.db.chunks import execute_in

log = logging.getLogger("alp.services.ingest")

INSERT_ATTEMPTS = 5  # PostgreSQL: tries of the insert savepoint on deadlock/serialization
RETRY_SQLSTATES = {"40P01", "40001"}  # deadlock_detected, serialization_failure


def _insert_ignoring_duplicates(db: Session, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert ``rows``; return ``{sha256: id}`` of the rows this statement inserted."""
    if not rows:
        return {}
    dialect = db.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise RuntimeError(f"unsupported database dialect {dialect}")
    stmt = (
        insert(Image)
        .on_conflict_do_nothing(index_elements=["pool_id", "sha256"])
        .returning(Image.sha256, Image.id)
    )
    conn = db.connection()  # executemany on the session's transaction: cached compile
    return {sha: image_id for sha, image_id in conn.execute(stmt, rows)}


def _retryable(exc: DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in RETRY_SQLSTATES


def insert_new_rows(db: Session, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert ``rows`` (ids ascending in their order); ``{sha256: id}`` of those inserted.

    SQLite has one writer at a time: rows are inserted as given. On PostgreSQL the ids are
    taken from the sequence first (in the given order) and the rows are inserted in
    SHA-256 order inside a savepoint; a deadlock or serialization failure rolls back to it
    (releasing the locks it took) and retries after a random pause, up to
    ``INSERT_ATTEMPTS`` times, then re-raises.
    """
    if not rows or db.get_bind().dialect.name != "postgresql":
        return _insert_ignoring_duplicates(db, rows)
    seq = "SELECT nextval(pg_get_serial_sequence('images', 'id')) FROM generate_series(1, :n)"
    ids = sorted(db.execute(text(seq), {"n": len(rows)}).scalars())
    rows = sorted(
        ({**r, "id": i} for r, i in zip(rows, ids, strict=True)), key=lambda r: r["sha256"]
    )
    for attempt in range(1, INSERT_ATTEMPTS + 1):
        try:
            with db.begin_nested():
                return _insert_ignoring_duplicates(db, rows)
        except DBAPIError as exc:
            if not _retryable(exc) or attempt == INSERT_ATTEMPTS:
                raise
            log.warning("image insert attempt %d failed (%s); retrying", attempt, exc.orig)
            time.sleep(random.uniform(0.01, 0.05) * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def existing_ids(db: Session, pool_id: int, shas: Sequence[str]) -> dict[str, int]:
    """``{sha256: image_id}`` for the given hashes that already exist in the pool."""
    rows = execute_in(
        db,
        shas,
        lambda chunk: select(Image.sha256, Image.id).where(
            Image.pool_id == pool_id, Image.sha256.in_(chunk)
        ),
    )
    return {sha: image_id for sha, image_id in rows}
