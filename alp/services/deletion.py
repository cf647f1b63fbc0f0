"""Deleting images and pools: rows now (in the caller's transaction), blobs later.

The rows go with the database's ``ON DELETE CASCADE`` (annotations and their history,
selections, cycles, jobs, the Label Studio connection). The blobs (image files, previews,
thumbnails, checkpoints) are removed by the ``alp.blobs.delete`` task, enqueued to be sent
after the commit (``alp.outbox``), so a rolled-back delete never loses a file. That task
re-checks the database and leaves any blob a row names again (SQLite may reuse the id of
the last row; the same bytes may be uploaded again meanwhile).

Both are refused (409) while a cycle of the pool is active; the pool row is locked first
(the lock cycle starts take), so a delete and a cycle start cannot both succeed. Label
Studio tasks of deleted images are left in place but marked: their ids and the pool's
connection are read before the rows go and handed to ``alp.labelstudio.mark_deleted``
(after the commit), which sets ``alp_deleted: true`` in each task's data and meta; syncs
ignore those tasks (and any whose image is gone).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from alp import jobs, outbox
from alp.db import Cycle, Image, LabelStudioConnection, Pool, Selection
from alp.errors import Conflict, NotFound
from alp.services import cycles, thumbnails
from alp.storage import thumbnail_key

Blob = tuple[str, int]  # (storage key, id of the image it belonged to)


def _refuse_if_active(db: Session, pool_id: int, what: str) -> None:
    active = cycles.active_cycle(db, pool_id)
    if active is not None:
        raise Conflict(
            f"cannot delete {what}: cycle #{active.index} (id {active.id}) of pool {pool_id} "
            f"is {active.state}; cancel it or wait until it finishes"
        )


def image_blobs(db: Session, image: Image) -> list[Blob]:
    """Every storage key derived from ``image``: the file, its preview, its thumbnails."""
    keys = [image.storage_key, thumbnails.preview_key(image.pool_id, image.id)]
    sel_ids = db.scalars(select(Selection.id).where(Selection.image_id == image.id))
    for sel in sel_ids:
        keys += [thumbnail_key(image.pool_id, image.id, f"s{sel}-{px}") for px in thumbnails.SIZES]
    return [(k, image.id) for k in keys]


class _Secret(str):
    """A token that stays a plain JSON string but reads ``'***'`` in logs (outbox warnings)."""

    def __repr__(self) -> str:
        return "'***'"


def _mark_tasks_later(db: Session, pool_id: int, image_id: int | None = None) -> None:
    """Queue the marking of the Label Studio tasks of ``image_id`` (of every image of the
    pool when None), if the pool is connected; call before deleting the rows."""
    conn = db.get(LabelStudioConnection, pool_id)
    if conn is None:
        return
    q = (
        select(Selection.ls_task_id)
        .join(Cycle, Cycle.id == Selection.cycle_id)
        .where(Cycle.pool_id == pool_id, Selection.ls_task_id.is_not(None))
        .order_by(Selection.ls_task_id)
    )
    if image_id is not None:
        q = q.where(Selection.image_id == image_id)
    task_ids = list(db.scalars(q.distinct()))
    if task_ids:
        outbox.enqueue(
            db, jobs.LS_MARK_DELETED, conn.url, _Secret(conn.token), conn.project_id, task_ids
        )


def delete_image(db: Session, image_id: int) -> None:
    """Delete one image and everything of it; ``NotFound``, or ``Conflict`` while a cycle
    of its pool is active. Flushes; the blobs go after the caller commits."""
    pool_id = db.scalar(select(Image.pool_id).where(Image.id == image_id))
    if pool_id is None:
        raise NotFound(f"image {image_id} not found")
    cycles._lock_pool(db, pool_id)
    _refuse_if_active(db, pool_id, f"image {image_id}")
    image = db.get(Image, image_id, populate_existing=True)
    if image is None:  # deleted meanwhile
        raise NotFound(f"image {image_id} not found")
    blobs = image_blobs(db, image)
    _mark_tasks_later(db, pool_id, image_id)
    db.execute(delete(Image).where(Image.id == image_id))
    db.expunge(image)
    outbox.enqueue(db, jobs.BLOBS_DELETE, [list(b) for b in blobs], [])


def delete_pool(db: Session, pool_id: int) -> None:
    """Delete a pool with all its images, cycles, jobs and annotations; ``NotFound``, or
    ``Conflict`` while one of its cycles is active. Flushes; blobs go after the commit."""
    cycles._lock_pool(db, pool_id)
    _refuse_if_active(db, pool_id, f"pool {pool_id}")
    blobs = [
        [key, image_id]
        for key, image_id in db.execute(
            select(Image.storage_key, Image.id).where(Image.pool_id == pool_id)
        )
    ]
    _mark_tasks_later(db, pool_id)
    db.execute(delete(Pool).where(Pool.id == pool_id))
    db.expire_all()
    outbox.enqueue(db, jobs.BLOBS_DELETE, blobs, [pool_id])


def remove_blobs(db: Session, storage: Any, blobs: list[list[Any]], pool_ids: list[int]) -> int:
    """The ``alp.blobs.delete`` task's work: delete each (key, image id) blob unless an
    image row of that id exists again or names that key; delete ``pools/<id>`` of each
    pool that does not exist (again). Idempotent; returns the number of keys handled."""
    done = 0
    for key, image_id in blobs:
        back = db.scalar(
            select(Image.id).where((Image.id == image_id) | (Image.storage_key == key)).limit(1)
        )
        if back is None:
            storage.delete(key)
            done += 1
    for pool_id in pool_ids:
        if db.get(Pool, pool_id) is None:
            storage.delete_prefix(f"pools/{pool_id}")
            done += 1
    return done
