"""The dashboard's selection gallery: one page of the latest cycle's selection (reads only;
one cycle's selection rows per page, independent of pool size)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from alp.db import Cycle, Image, LabelStudioConnection, Prediction, Selection
from alp.errors import BadRequest
from alp.services.pools import get_pool

MAX_PER_PAGE = 100


class GalleryItem(BaseModel):
    selection_id: int
    image_id: int
    filename: str
    width: int
    height: int
    image_state: str
    rank: int
    score: float
    components: dict[str, Any]
    n_boxes: int
    ls_boxes: int | None  # boxes pre-drawn in the Label Studio task (None: not pushed)
    ls_task_url: str | None
    has_prediction: bool = False  # a stored on-demand prediction (image thumbnail route)


class Gallery(BaseModel):
    cycle_id: int | None
    cycle_index: int | None
    total: int
    page: int
    per_page: int
    pages: int
    items: list[GalleryItem]


def gallery_cycle(db: Session, pool_id: int) -> int | None:
    """Id of the latest cycle of the pool that has a selection (None if none has)."""
    has_sel = exists(select(Selection.id).where(Selection.cycle_id == Cycle.id))
    return db.scalar(
        select(Cycle.id)
        .where(Cycle.pool_id == pool_id, has_sel)
        .order_by(Cycle.index.desc())
        .limit(1)
    )


def ls_task_url(conn: LabelStudioConnection | None, task_id: int | None) -> str | None:
    """Browser link to a Label Studio task (None when not connected or not pushed)."""
    if conn is None or task_id is None:
        return None
    return f"{conn.url.rstrip('/')}/projects/{conn.project_id}/data?task={task_id}"


def gallery(db: Session, pool_id: int, page: int = 1, per_page: int = 24) -> Gallery:
    """One page (1-based) of the current selection, best rank first."""
    if page < 1:
        raise BadRequest("page must be >= 1")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise BadRequest(f"per_page must be between 1 and {MAX_PER_PAGE}")
    get_pool(db, pool_id)
    cycle_id = gallery_cycle(db, pool_id)
    if cycle_id is None:
        return Gallery(
            cycle_id=None,
            cycle_index=None,
            total=0,
            page=page,
            per_page=per_page,
            pages=0,
            items=[],
        )
    total = (
        db.scalar(select(func.count()).select_from(Selection).where(Selection.cycle_id == cycle_id))
        or 0
    )
    conn = db.get(LabelStudioConnection, pool_id)
    offset = (page - 1) * per_page
    rows: list[Any] = []
    if offset < total:  # past the end: no query (a huge offset would overflow the driver)
        rows = list(
            db.execute(
                select(Selection, Image.filename, Image.width, Image.height, Image.state)
                .join(Image, Image.id == Selection.image_id)
                .where(Selection.cycle_id == cycle_id)
                .order_by(Selection.rank, Selection.id)
                .limit(per_page)
                .offset(offset)
            ).all()
        )
    page_ids = [s.image_id for s, *_ in rows]
    predicted = (
        set(db.scalars(select(Prediction.image_id).where(Prediction.image_id.in_(page_ids))))
        if page_ids
        else set()
    )
    items = [
        GalleryItem(
            selection_id=s.id,
            image_id=s.image_id,
            filename=fn,
            width=w,
            height=h,
            image_state=st,
            rank=s.rank,
            score=s.score,
            components=dict(s.components or {}),
            n_boxes=len((s.prediction or {}).get("boxes") or []),
            ls_boxes=s.ls_boxes if s.ls_task_id is not None else None,
            ls_task_url=ls_task_url(conn, s.ls_task_id),
            has_prediction=s.image_id in predicted,
        )
        for s, fn, w, h, st in rows
    ]
    return Gallery(
        cycle_id=cycle_id,
        cycle_index=db.scalar(select(Cycle.index).where(Cycle.id == cycle_id)),
        total=total,
        page=page,
        per_page=per_page,
        pages=-(-total // per_page),
        items=items,
    )
