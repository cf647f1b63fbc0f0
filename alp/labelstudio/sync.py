"""Pull annotations from Label Studio into alp (webhook-triggered or periodic).

Label Studio delivers each webhook once, without retry, so a webhook only queues a sync;
the sync itself reads the project's tasks whose ``updated_at`` is newer than the stored
cursor (minus an overlap for transactions that committed late). Creating, updating,
cancelling ("skip") or deleting an annotation all bump the task's ``updated_at``.

Per image (over ALL its tasks: an image selected again in a later cycle may have two):
each submitted annotation is stored once per Label Studio annotation id (an update
replaces it), annotations deleted in Label Studio are deleted in alp (only when no task of
the image has them), an image whose tasks hold only cancelled annotations is skipped, and
regions alp cannot use (unknown label, malformed) are dropped and reported on the cycle;
the valid boxes are kept. Webhooks (verify, queue a sync): :mod:`alp.labelstudio.webhooks`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alp.db import Annotation, Cycle, Image, LabelStudioConnection, Pool, Selection, utcnow
from alp.errors import Unprocessable
from alp.labelstudio import mapping
from alp.labelstudio.client import LabelStudioClient
from alp.labelstudio.connect import ClientFactory, default_client
from alp.labelstudio.webhooks import (  # noqa: F401 (re-exported: callers use sync.*)
    SYNC_ACTIONS,
    WEBHOOK_COALESCE_S,
    accept_webhook,
    mark_sync_started,
)
from alp.services import annotations, cycles

log = logging.getLogger("alp.labelstudio")
SOURCE = "labelstudio"
CURSOR_OVERLAP = timedelta(seconds=60)


@dataclass
class SyncResult:
    pool_id: int
    tasks_seen: int = 0
    stored: int = 0
    deleted: int = 0
    skipped: int = 0
    issues: int = 0


def _parse_ts(value: Any) -> datetime | None:
    """Label Studio's ISO time (a value without zone is UTC); None when unparseable."""
    if not isinstance(value, str):
        return None
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def _ls_time(ts: datetime) -> str:
    """An aware time (the DB's ``UTCDateTime`` columns are) as Label Studio's filter wants."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _issue(db: Session, cycle_id: int | None, message: str, result: SyncResult) -> None:
    """Record ``message`` on the cycle once (re-syncs must not repeat it)."""
    result.issues += 1
    log.info("cycle %s: %s", cycle_id, message)
    cycle = db.get(Cycle, cycle_id) if cycle_id is not None else None
    if cycle is None:
        return
    if any(isinstance(i, dict) and i.get("message") == message for i in cycle.issues or []):
        return
    cycles.record_issue(db, cycle.id, message)


def _selection(db: Session, image: Image, task: dict[str, Any]) -> Selection | None:
    """The selection row a task was pushed for (by the cycle in its data), else the
    image's latest selection."""
    cycle = mapping.task_cycle(task)
    if cycle is not None:
        kind, number = cycle
        cond = Cycle.index == number if kind == "index" else Cycle.id == number
        sel = db.scalar(
            select(Selection)
            .join(Cycle, Cycle.id == Selection.cycle_id)
            .where(Selection.image_id == image.id, Cycle.pool_id == image.pool_id, cond)
        )
        if sel is not None:
            return sel
    return db.scalar(
        select(Selection).where(Selection.image_id == image.id).order_by(Selection.id.desc())
    )


def image_tasks(
    db: Session, client: LabelStudioClient, project_id: int, image: Image, task: dict[str, Any]
) -> list[dict[str, Any]]:
    """Every Label Studio task of ``image``: ``[task]`` when alp knows of no other task of
    it; otherwise all of them, read from Label Studio (one request)."""
    known = set(
        db.scalars(
            select(Selection.ls_task_id).where(
                Selection.image_id == image.id, Selection.ls_task_id.is_not(None)
            )
        )
    )
    known.discard(task.get("id"))
    if not known:
        return [task]
    flt = {"filter": f"filter:tasks:data.{mapping.IMAGE_ID_KEY}", "operator": "equal",
           "type": "Number", "value": image.id}  # fmt: skip
    found = {t.get("id"): t for t in client.iter_tasks(project_id, [flt])}
    found.setdefault(task.get("id"), task)
    return [t for t in found.values() if mapping.task_image_id(t) == image.id]


def apply_image(
    db: Session, pool: Pool, image: Image, tasks: list[dict[str, Any]], result: SyncResult
) -> None:
    """Make alp's Label Studio annotations of ``image`` agree with ALL its ``tasks``.

    The image's annotations are the union over its tasks, by Label Studio annotation id: an
    annotation is deleted in alp only when no task of the image has it any more (two tasks
    of one image, e.g. from two cycles, never erase each other's annotations). The image is
    skipped only when no task has a submitted annotation and some task was skipped."""
    result.tasks_seen += len(tasks)
    merged: dict[str, tuple[mapping.LabeledAnnotation, int | None, Any]] = {}
    skipped_ids: list[str] = []
    selections: list[Selection] = []
    for task in tasks:
        sel = _selection(db, image, task)
        if sel is not None:
            if sel.ls_task_id is None and isinstance(task.get("id"), int):
                sel.ls_task_id = task["id"]
            selections.append(sel)
        outcome = mapping.task_outcome(task, image.width, image.height, pool.classes)
        for ann in outcome.annotations:
            merged[ann.external_id] = (ann, sel.cycle_id if sel else None, task.get("id"))
        skipped_ids += outcome.skipped_ids
    stored = set(
        db.scalars(
            select(Annotation.external_id).where(
                Annotation.image_id == image.id, Annotation.source == SOURCE
            )
        )
    )
    for ext in sorted(stored - set(merged), key=str):
        annotations.delete_annotation(
            db, image.id, source=SOURCE, external_id=ext, author="labelstudio"
        )
        result.deleted += 1
    for ann, cycle_id, task_id in merged.values():
        for issue in ann.issues:
            _issue(db, cycle_id, f"Label Studio task {task_id}: {issue}", result)
        try:
            annotations.put_annotation(
                db, image.id, ann.boxes, source=SOURCE, external_id=ann.external_id,
                author=ann.author or "labelstudio", only_if_changed=True,
            )  # fmt: skip
            result.stored += 1
        except Unprocessable as exc:
            msg = f"Label Studio task {task_id}, annotation {ann.external_id}: {exc.detail}"
            _issue(db, cycle_id, msg, result)
    skipped = not merged and bool(skipped_ids)
    if skipped:
        annotations.put_annotation(
            db, image.id, [], source=SOURCE, external_id=skipped_ids[0], skipped=True,
            author="labelstudio",
        )  # fmt: skip
        result.skipped += 1
    new = "annotated" if merged else ("skipped" if skipped else None)
    for sel in {s.id: s for s in selections}.values():
        if sel.ls_outcome == "skipped" and new is None and image.state == "skipped":
            _unskip(db, image, sel)
        sel.ls_outcome = new
    db.flush()


def _task_image(db: Session, pool: Pool, task: dict[str, Any]) -> Image | None:
    """The pool's image a task names; None for tasks alp did not create (left alone)."""
    image_id = mapping.task_image_id(task)
    if image_id is None:
        return None
    image = db.get(Image, image_id)
    if image is None or image.pool_id != pool.id:
        log.info("pool %s: task %s names image %s of another pool", pool.id, task.get("id"),
                 image_id)  # fmt: skip
        return None
    return image


def _unskip(db: Session, image: Image, sel: Selection) -> None:
    """The skip was deleted in Label Studio: the image is to be labeled again."""
    has_other = db.scalar(select(Annotation.id).where(Annotation.image_id == image.id).limit(1))
    if has_other is not None:
        image.state = "labeled"
        return
    cycle = db.get(Cycle, sel.cycle_id)
    image.state = "queued" if cycle is not None and cycle.state == "labeling" else "unlabeled"


def sync_pool(
    db: Session,
    pool_id: int,
    *,
    full: bool = False,
    client_factory: ClientFactory = default_client,
) -> SyncResult | None:
    """Ingest the tasks changed since the cursor (all tasks with ``full``). Returns None
    when the pool is not connected. Raises ``LabelStudioError`` (the cursor is not moved)."""
    conn = db.scalar(
        select(LabelStudioConnection)
        .where(LabelStudioConnection.pool_id == pool_id)
        .with_for_update()
    )
    if conn is None:
        return None
    pool = db.get(Pool, pool_id)
    assert pool is not None
    client = client_factory(conn.url, conn.token)
    filters: list[dict[str, Any]] = []
    cursor = conn.sync_cursor
    if cursor is not None and not full:
        since = _ls_time(cursor - CURSOR_OVERLAP)
        filters.append({"filter": "filter:tasks:updated_at", "operator": "greater",
                        "type": "Datetime", "value": since})  # fmt: skip
    result = SyncResult(pool_id)
    done: set[int] = set()  # images whose tasks were all read already in this sync
    for task in client.iter_tasks(conn.project_id, filters):
        image = _task_image(db, pool, task)
        if image is not None and image.id not in done:
            tasks = image_tasks(db, client, conn.project_id, image, task)
            if len(tasks) > 1:
                done.add(image.id)
            apply_image(db, pool, image, tasks, result)
        ts = _parse_ts(task.get("updated_at"))
        if ts is not None and (cursor is None or ts > cursor):
            cursor = ts
    conn.sync_cursor = cursor
    conn.last_sync_at, conn.last_error, conn.state = utcnow(), None, "connected"
    db.flush()
    return result


def record_failure(db: Session, pool_id: int, message: str) -> None:
    """Show a failed push/sync on the connection status (``state="error"``)."""
    conn = db.get(LabelStudioConnection, pool_id)
    if conn is not None:
        conn.state, conn.last_error = "error", message[:2000]
        db.flush()


def pending_push_cycles(db: Session, pool_id: int) -> list[int]:
    """Labeling cycles of the pool with selected images not yet pushed."""
    return list(
        db.scalars(
            select(Cycle.id)
            .join(Selection, Selection.cycle_id == Cycle.id)
            .where(
                Cycle.pool_id == pool_id,
                Cycle.state == "labeling",
                Selection.ls_task_id.is_(None),
            )
            .distinct()
        )
    )


def connected_pools(db: Session) -> list[int]:
    return list(db.scalars(select(LabelStudioConnection.pool_id).order_by("pool_id")))
