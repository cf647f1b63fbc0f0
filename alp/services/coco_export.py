"""COCO detection export of a pool's labeled images (the format
:func:`alp.services.coco.import_coco` reads back)."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from alp.db import Annotation, AnnotationRevision, Image, utcnow
from alp.db.chunks import execute_in
from alp.services import pools, predictions

Split = Literal["train", "val"]


def _authors(db: Session, ids: list[int]) -> dict[int, str | None]:
    """Author of each image's latest ``put`` revision (who made its current boxes)."""
    out: dict[int, str | None] = {}
    rows = execute_in(
        db,
        ids,
        lambda chunk: (
            select(AnnotationRevision.image_id, AnnotationRevision.author)
            .where(AnnotationRevision.image_id.in_(chunk), AnnotationRevision.action == "put")
            .order_by(AnnotationRevision.image_id, AnnotationRevision.id.desc())
        ),
    )
    for image_id, author in rows:
        out.setdefault(image_id, author)
    return out


def export_coco(
    db: Session,
    pool_id: int,
    split: Split | None = None,
    with_author: bool = False,
    *,
    with_predictions: bool = False,
) -> dict[str, Any]:
    """COCO json of the pool's labeled images (latest annotation each), of one ``split``
    when given. Ids are 1-based; categories follow the pool's class order; each image
    carries ``alp_image_id`` (the link back) and ``alp_split`` (``train`` or ``val``), and
    with ``with_author`` ``alp_author`` (API key name or Label Studio user; None unknown).
    ``with_predictions`` adds the stored on-demand predictions as COCO results
    (:func:`alp.services.predictions.coco_results`)."""
    pool = pools.get_pool(db, pool_id)
    cat_id = {name: i + 1 for i, name in enumerate(pool.classes)}
    q = select(Image).where(Image.pool_id == pool_id, Image.state == "labeled")
    if split is not None:
        q = q.where(Image.split == split)
    rows = list(db.scalars(q.order_by(Image.id)))
    latest: dict[int, list[Any]] = {}
    ids = [r.id for r in rows]
    boxes_rows = execute_in(
        db,
        ids,
        lambda chunk: (
            select(Annotation.image_id, Annotation.boxes)
            .where(Annotation.image_id.in_(chunk))
            .order_by(Annotation.image_id, Annotation.updated_at.desc(), Annotation.id.desc())
        ),
    )
    for image_id, boxes in boxes_rows:
        latest.setdefault(image_id, boxes)
    authors = _authors(db, ids) if with_author else {}
    images, annotations = [], []
    for k, img in enumerate(rows, start=1):
        images.append(
            dict(id=k, file_name=img.filename, width=img.width, height=img.height,
                 alp_image_id=img.id, alp_split=img.split)
        )  # fmt: skip
        if with_author:
            images[-1]["alp_author"] = authors.get(img.id)
        for b in latest.get(img.id, []):
            if b["label"] not in cat_id:
                continue
            w, h = b["x2"] - b["x1"], b["y2"] - b["y1"]
            annotations.append(
                dict(id=len(annotations) + 1, image_id=k, category_id=cat_id[b["label"]],
                     bbox=[b["x1"], b["y1"], w, h], area=w * h, iscrowd=0)
            )  # fmt: skip
    out = {
        "info": {"description": f"alp pool {pool.name}", "date_created": utcnow().isoformat()},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i, "name": n, "supercategory": ""} for n, i in cat_id.items()],
    }
    if with_predictions:
        out.update(predictions.coco_results(db, pool_id, split, images, cat_id))
    return out
