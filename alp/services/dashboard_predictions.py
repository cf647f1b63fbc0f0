"""The dashboard's predictions gallery: one page of a pool's images that have a stored
on-demand prediction (``POST /pools/{id}/predictions``), any image, selected or not.
The thumbnails draw the boxes (``thumbnails.image_thumbnail``); this lists what to show
(reads only; one page of rows per request, independent of pool size)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alp.db import Cycle, Image, Prediction
from alp.errors import BadRequest
from alp.services.pools import get_pool

MAX_PER_PAGE = 100


class PredictedImage(BaseModel):
    image_id: int
    filename: str
    width: int
    height: int
    image_state: str
    split: str
    n_boxes: int
    labels: dict[str, int]  # boxes per label name, most frequent first
    top_score: float | None
    cycle_index: int | None  # whose model predicted (None: its cycle is gone)
    created_at: datetime


class PredictionGallery(BaseModel):
    total: int
    page: int
    per_page: int
    pages: int
    items: list[PredictedImage]


def has_model(db: Session, pool_id: int) -> bool:
    """Whether a cycle of the pool trained a model (predictions can be requested)."""
    q = select(Cycle.id).where(Cycle.pool_id == pool_id, Cycle.checkpoint_key.is_not(None))
    return db.scalar(q.limit(1)) is not None


def predictions_gallery(db: Session, pool_id: int, page: int = 1, per_page: int = 24
                        ) -> PredictionGallery:  # fmt: skip
    """One page (1-based) of the pool's predicted images, most recently predicted first
    (ties by image id). ``NotFound`` for an unknown pool, ``BadRequest`` for a bad page."""
    if page < 1:
        raise BadRequest("page must be >= 1")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise BadRequest(f"per_page must be between 1 and {MAX_PER_PAGE}")
    get_pool(db, pool_id)
    total = int(db.scalar(select(func.count()).where(Prediction.pool_id == pool_id)) or 0)
    rows = db.execute(
        select(Prediction, Image, Cycle.index)
        .join(Image, Image.id == Prediction.image_id)
        .outerjoin(Cycle, Cycle.id == Prediction.cycle_id)
        .where(Prediction.pool_id == pool_id)
        .order_by(Prediction.created_at.desc(), Image.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    items = []
    for pred, image, cycle_index in rows:
        boxes = [b for b in pred.boxes or [] if isinstance(b, dict)]
        scores = [float(b["score"]) for b in boxes if isinstance(b.get("score"), int | float)]
        labels = Counter(str(b.get("label", "")) for b in boxes)
        items.append(
            PredictedImage(
                image_id=image.id, filename=image.filename, width=image.width,
                height=image.height, image_state=image.state, split=image.split,
                n_boxes=len(boxes), labels=dict(labels.most_common()),
                top_score=max(scores) if scores else None, cycle_index=cycle_index,
                created_at=pred.created_at,
            )
        )  # fmt: skip
    pages = -(-total // per_page)
    return PredictionGallery(total=total, page=page, per_page=per_page, pages=pages, items=items)
