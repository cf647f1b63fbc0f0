"""Annotations: put (validated; empty list = no objects; skip flag) and read."""

from __future__ import annotations

from fastapi import APIRouter

from alp.db import Image
from alp.errors import NotFound
from alp.schemas_cycles import AnnotationIn, AnnotationOut
from alp.services import annotations
from api.deps import DB, Id, Key

router = APIRouter(tags=["annotations"])


def _image(db: DB, image_id: int) -> Image:
    image = db.get(Image, image_id)
    if image is None:
        raise NotFound(f"image {image_id} not found")
    return image


@router.put("/images/{image_id}/annotation", response_model=AnnotationOut)
def put_annotation(image_id: Id, body: AnnotationIn, db: DB, _: Key) -> AnnotationOut:
    row = annotations.put_annotation(db, image_id, body.boxes, skipped=body.skipped)
    db.commit()
    return annotations.to_out(db, _image(db, image_id), row)


@router.get("/images/{image_id}/annotation", response_model=AnnotationOut)
def get_annotation(image_id: Id, db: DB, _: Key) -> AnnotationOut:
    image = _image(db, image_id)
    return annotations.to_out(db, image, annotations.latest_annotation(db, image.id))
