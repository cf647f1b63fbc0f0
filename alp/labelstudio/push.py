"""Push a labeling cycle's selection to Label Studio as tasks with pre-annotations.

Idempotent: a selection row records its ``ls_task_id`` as soon as its batch is imported
(``checkpoint`` commits after every batch), and before importing, tasks that an earlier,
interrupted attempt created without recording (the response was lost) are found in Label
Studio by ``data.alp_cycle`` (the pool's cycle number) and matched on ``data.alp_image_id``.
A retry therefore never creates a duplicate task.

Order: tasks are imported in rank order and the project uses "Sequential sampling", so
Label Studio serves the most informative image first without a prediction score (which
it would show to annotators as a confidence). ``Selection.ls_boxes`` records how many boxes
each task got pre-drawn; a push where no task got any records a cycle issue saying why.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alp.config import Settings
from alp.db import Cycle, Image, LabelStudioConnection, Pool, Selection, utcnow
from alp.errors import NotFound
from alp.labelstudio import mapping
from alp.labelstudio.client import LabelStudioClient
from alp.labelstudio.connect import ClientFactory, default_client
from alp.schemas import PoolSettings
from alp.services import cycles
from alp.services.selection import prediction_boxes
from alp.services.signing import signed_content_url

log = logging.getLogger("alp.labelstudio")
BATCH_SIZE = 500
# Tasks stay open for a long time: their image URLs must outlive the default signed TTL.
TASK_URL_TTL_S = 365 * 24 * 3600


@dataclass
class PushResult:
    cycle_id: int
    created: int = 0
    recovered: int = 0
    already: int = 0
    skipped_reason: str | None = None


def _existing_tasks(client: LabelStudioClient, project_id: int, index: int) -> dict[int, int]:
    """``{alp image id: task id}`` of this cycle's tasks already in the project."""
    flt = {"filter": f"filter:tasks:data.{mapping.CYCLE_KEY}", "operator": "equal",
           "type": "Number", "value": index}  # fmt: skip
    found: dict[int, int] = {}
    for task in client.iter_tasks(project_id, [flt], fields="task_only"):
        image_id = mapping.task_image_id(task)
        if image_id is not None:
            found.setdefault(image_id, int(task["id"]))
    return found


def push_cycle(
    db: Session,
    settings: Settings,
    cycle_id: int,
    *,
    client_factory: ClientFactory = default_client,
    checkpoint: Callable[[], None] | None = None,
    batch_size: int = BATCH_SIZE,
) -> PushResult:
    """Create one task per selected image of a ``labeling`` cycle not yet in Label Studio.

    Sets the project's ``model_version`` to the cycle and its sampling to "Sequential
    sampling" (import order = rank order: best rank first). Raises
    ``LabelStudioError`` (retry when ``retryable``); ``checkpoint`` (e.g. ``db.commit``)
    runs after each imported batch so recorded task ids survive a later failure.
    """
    cycle = db.get(Cycle, cycle_id)
    if cycle is None:
        raise NotFound(f"cycle {cycle_id} not found")
    result = PushResult(cycle_id)
    conn = db.get(LabelStudioConnection, cycle.pool_id)
    if conn is None or cycle.state != "labeling":
        result.skipped_reason = "not connected" if conn is None else f"cycle is {cycle.state}"
        return result
    pool = db.get(Pool, cycle.pool_id)
    assert pool is not None
    save = checkpoint or db.flush
    client = client_factory(conn.url, conn.token)
    version = mapping.model_version(cycle.index)
    rows = db.execute(
        select(Selection, Image)
        .join(Image, Image.id == Selection.image_id)
        .where(Selection.cycle_id == cycle.id)
        .order_by(Selection.rank, Selection.id)
    ).all()
    todo = [(s, img) for s, img in rows if s.ls_task_id is None]
    result.already = len(rows) - len(todo)
    if todo:
        existing = _existing_tasks(client, conn.project_id, cycle.index)
        for sel, _img in todo:
            if sel.image_id in existing:
                sel.ls_task_id = existing[sel.image_id]
                result.recovered += 1
        todo = [(s, img) for s, img in todo if s.ls_task_id is None]
        save()
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        payload = [_task(settings, pool, cycle.index, version, sel, img) for sel, img in batch]
        ids = client.import_tasks(conn.project_id, payload)
        for (sel, _img), task, task_id in zip(batch, payload, ids, strict=True):
            sel.ls_task_id = task_id
            sel.ls_boxes = len(task["predictions"][0]["result"])
        result.created += len(batch)
        conn.last_push_at = utcnow()
        save()
    predicted = [s for s, _img in todo if "scores" in (s.prediction or {})]  # a model ran
    if predicted and not any(s.ls_boxes for s in predicted):
        _report_no_boxes(db, cycle, len(predicted))
    # After the import: Label Studio only accepts a model_version that predictions carry.
    client.update_project(
        conn.project_id, model_version=version, sampling=mapping.SEQUENTIAL_SAMPLING
    )
    conn.last_push_at = utcnow()
    conn.state, conn.last_error = "connected", None
    db.flush()
    log.info("cycle %s: pushed %s task(s) (%s recovered, %s already there)",
             cycle.id, result.created, result.recovered, result.already)  # fmt: skip
    return result


def _task(
    settings: Settings, pool: Pool, index: int, version: str, sel: Selection, img: Image
) -> dict[str, Any]:
    boxes = prediction_boxes(sel.prediction or {}, pool.classes)
    return mapping.task_payload(
        image_url=signed_content_url(settings, img.id, TASK_URL_TTL_S),
        image_id=img.id,
        cycle=index,
        rank=sel.rank,
        width=img.width,
        height=img.height,
        boxes=[b.model_dump() for b in boxes],
        version=version,
        extra={
            "filename": img.filename,
            "alp_score": sel.score if math.isfinite(sel.score) else None,
        },
    )


def _report_no_boxes(db: Session, cycle: Cycle, n: int) -> None:
    """Say on the cycle why the annotators see no pre-drawn boxes (once per message)."""
    limits = PoolSettings.model_fields
    min_score = cycle.config.get(
        "preannotation_min_score", limits["preannotation_min_score"].default
    )
    message = (
        f"none of the {n} task(s) pushed to Label Studio has pre-drawn boxes: the model "
        f"detected nothing scoring >= preannotation_min_score ({min_score}); lower it in "
        "the pool settings if early models should pre-draw more"
    )
    if not any(isinstance(i, dict) and i.get("message") == message for i in cycle.issues or []):
        cycles.record_issue(db, cycle.id, message)
