"""Blob removal after deletions (``alp.services.deletion``); io queue."""

from __future__ import annotations

from typing import Any

from alp import jobs
from alp.services import deletion
from worker import context
from worker.registry import task


@task(name=jobs.BLOBS_DELETE)
def delete_blobs(blobs: list[list[Any]], pool_ids: list[int]) -> int:
    """Delete the blobs of deleted images/pools (idempotent; keeps any a row uses again)."""
    with context.session() as db:
        return deletion.remove_blobs(db, context.storage(), blobs, pool_ids)
