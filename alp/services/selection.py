"""Next batch: the labeling cycle's selected images still to label, best first.

One indexed query: the pool's ``labeling`` cycle (few rows per pool), then its selections
by ``(cycle_id, rank)`` joined to images by primary key, so the cost does not grow with the
pool's size.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alp.config import Settings
from alp.db import Cycle, Image, Pool, Selection
from alp.errors import NotFound, Unprocessable
from alp.schemas import Box
from alp.schemas_cycles import BatchItem, NextBatch
from alp.services import cycles
from alp.services.signing import signed_content_url

MAX_LIMIT = 1000


def _url_maker(settings: Settings) -> Callable[[int], str]:
    """Signed, expiring content URLs (the images API checks the signature)."""
    return lambda image_id: signed_content_url(settings, image_id)


def prediction_boxes(prediction: dict, classes: list[str]) -> list[Box]:
    """Stored prediction ``{"boxes": [[x1,y1,x2,y2]], "labels": [int], "scores": [float]}``
    -> ``Box`` list with class names (unknown indices are dropped)."""
    out: list[Box] = []
    boxes = prediction.get("boxes") or []
    labels = prediction.get("labels") or []
    scores = prediction.get("scores") or [None] * len(boxes)
    for b, lab, sc in zip(boxes, labels, scores, strict=False):
        if 0 <= int(lab) < len(classes):
            out.append(Box(x1=b[0], y1=b[1], x2=b[2], y2=b[3], label=classes[int(lab)], score=sc))
    return out


def next_batch(db: Session, settings: Settings, pool_id: int, limit: int = 20) -> NextBatch:
    """Up to ``limit`` (1..1000) selected, still ``queued`` images of the pool's labeling
    cycle by rank, with score, components, predicted boxes and a signed content URL.
    Empty (``cycle_id`` of the active cycle, or None) when no cycle is labeling.

    Two round trips: pool + labeling cycle, then the page with the number of images still
    to label (a window count, evaluated before the LIMIT).
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise Unprocessable(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    head = db.execute(
        select(Pool.classes, Cycle.id, Cycle.index)
        .outerjoin(Cycle, (Cycle.pool_id == Pool.id) & (Cycle.state == "labeling"))
        .where(Pool.id == pool_id)
        .limit(1)
    ).first()
    if head is None:
        raise NotFound(f"pool {pool_id} not found")
    classes, cycle_id, cycle_index = head
    if cycle_id is None:
        active = cycles.active_cycle(db, pool_id)
        return NextBatch(
            cycle_id=active.id if active else None,
            cycle_index=active.index if active else None,
            cycle_state=active.state if active else None,
            remaining=0,
            items=[],
        )
    rows = db.execute(
        select(Selection, Image, func.count().over().label("remaining"))
        .join(Image, Image.id == Selection.image_id)
        .where(Selection.cycle_id == cycle_id, Image.state == "queued")
        .order_by(Selection.rank)
        .limit(limit)
    ).all()
    url = _url_maker(settings)
    items = [
        BatchItem(
            image_id=img.id,
            cycle_id=cycle_id,
            rank=sel.rank,
            score=sel.score,
            components=sel.components or {},
            boxes=prediction_boxes(sel.prediction or {}, classes),
            width=img.width,
            height=img.height,
            filename=img.filename,
            content_url=url(img.id),
        )
        for sel, img, _ in rows
    ]
    return NextBatch(
        cycle_id=cycle_id,
        cycle_index=cycle_index,
        cycle_state="labeling",
        remaining=int(rows[0][2]) if rows else 0,
        items=items,
    )
