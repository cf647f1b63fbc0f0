"""Annotations: put (validated; empty list = no objects; skip flag) and read."""

from __future__ import annotations

from fastapi import APIRouter

from alp.db import Image
from alp.errors import NotFound
from alp.schemas_cycles import AnnotationIn, AnnotationOut, AnnotationRevisionOut
from alp.services import annotations
from api.deps import DB, KEYED, Id, Key

router = APIRouter(tags=["annotations"], dependencies=KEYED)


def _image(db: DB, image_id: int) -> Image:
    image = db.get(Image, image_id)
    if image is None:
        raise NotFound(f"image {image_id} not found")
    return image


@router.put("/images/{image_id}/annotation", response_model=AnnotationOut)
def put_annotation(image_id: Id, body: AnnotationIn, db: DB, key: Key) -> AnnotationOut:
    row = annotations.put_annotation(
        db, image_id, body.boxes, skipped=body.skipped, author=key.name
    )
    db.commit()
    return annotations.to_out(db, _image(db, image_id), row)


@router.get("/images/{image_id}/annotation", response_model=AnnotationOut)
def get_annotation(image_id: Id, db: DB) -> AnnotationOut:
    image = _image(db, image_id)
    return annotations.to_out(db, image, annotations.latest_annotation(db, image.id))


@router.get("/images/{image_id}/annotation/history", response_model=list[AnnotationRevisionOut])
def annotation_history(image_id: Id, db: DB) -> list[AnnotationRevisionOut]:
    """Every change of the image's annotations, oldest first (the last ``put`` whose
    annotation still exists is what ``GET .../annotation`` shows, unless skipped)."""
    return [AnnotationRevisionOut.of(r) for r in annotations.history(db, image_id)]
