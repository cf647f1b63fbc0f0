"""Annotations: validated put/replace, delete, and the image state they imply.

Boxes are stored as ``[{"x1","y1","x2","y2","label"}]`` in pixels; ``label`` is a class
name of the image's pool.

Which rows exist, enforced by the database (not by read-then-insert, which races):

- one row per (image, source, external_id) — ``uq_annotations_external`` — for sources that
  name their annotations (Label Studio: one per Label Studio annotation id; COCO import:
  the fixed id ``"coco"``);
- one row per (image, source) among rows without an external id — the partial unique index
  ``uq_annotations_image_source_local`` — so ``api`` and ``simulated`` have one per image.

Writes are upserts (``INSERT ... ON CONFLICT DO UPDATE``) under a row lock on the image
(PostgreSQL; SQLite serialises writers), so concurrent first writes of one image end in
exactly one row. The image's *current* annotation is its most recently updated row; an
image in state ``skipped`` has none (``to_out`` shows no boxes, whatever rows remain).

History: every change also appends an ``annotation_revisions`` row in the same
transaction (every ``put`` and ``skip``; ``delete`` when a row was removed). A Label
Studio sync re-applies annotations it already stored: with ``only_if_changed`` such a
no-op writes nothing. All of it happens under the image lock — a row lock on PostgreSQL,
the database write lock on SQLite (taken up front by a no-op update in ``_get_image``) —
so writers of one image are serialised: revision ids and ``updated_at`` both follow the
order in which they got the lock, and the current annotation is the latest ``put``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from alp.db import Annotation, AnnotationRevision, Cycle, Image, Pool, Selection, utcnow
from alp.db.tables import ANNOTATION_SOURCES
from alp.errors import NotFound, Unprocessable
from alp.schemas import Box
from alp.schemas_cycles import AnnotationOut
from alp.services import cycles

EDGE_TOLERANCE_PX = 0.5  # rounding slack (e.g. Label Studio percentages); clamped to bounds


def _get_image(db: Session, image_id: int) -> Image:
    """The image, row-locked (PostgreSQL) so that writes of one image's annotations and
    state are serialised; raises ``NotFound``. The pool's labeling cycle is locked first:
    ``cycles.on_image_done`` locks it anyway, and cancelling takes the cycle before the
    images, so both paths lock in the same order (cycle, then image) and cannot deadlock."""
    pool_id = db.scalar(select(Image.pool_id).where(Image.id == image_id))
    if pool_id is None:
        raise NotFound(f"image {image_id} not found")
    if db.get_bind().dialect.name == "sqlite":  # take the write lock now, not at the upsert
        db.execute(text("UPDATE images SET state = state WHERE id = :id"), {"id": image_id})
    db.scalars(
        select(Cycle.id)
        .where(Cycle.pool_id == pool_id, Cycle.state == "labeling")
        .with_for_update()
    ).all()
    image = db.scalar(
        select(Image)
        .where(Image.id == image_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if image is None:
        raise NotFound(f"image {image_id} not found")
    return image


def _key(source: str, external_id: str | None) -> tuple[Any, ...]:
    return (
        Annotation.source == source,
        Annotation.external_id.is_(None)
        if external_id is None
        else (Annotation.external_id == external_id),
    )


def upsert_annotation(
    db: Session, image_id: int, source: str, external_id: str | None, boxes: list[dict[str, Any]]
) -> Annotation:
    """Insert or replace the (image, source, external_id) row in one statement; a
    concurrent writer of the same key updates the same row instead of adding another."""
    now = utcnow()
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    table = Annotation.__table__
    stmt = insert(table).values(
        image_id=image_id,
        source=source,
        external_id=external_id,
        boxes=boxes,
        created_at=now,
        updated_at=now,
    )
    update = {"boxes": stmt.excluded.boxes, "updated_at": stmt.excluded.updated_at}
    if external_id is None:
        stmt = stmt.on_conflict_do_update(
            index_elements=["image_id", "source"],
            index_where=table.c.external_id.is_(None),
            set_=update,
        )
    else:
        stmt = stmt.on_conflict_do_update(
            index_elements=["image_id", "source", "external_id"], set_=update
        )
    row_id = db.execute(stmt.returning(table.c.id)).scalar_one()
    row = db.get(Annotation, row_id, populate_existing=True)
    assert row is not None
    return row


def record(
    db: Session,
    image_id: int,
    action: str,
    source: str,
    external_id: str | None,
    boxes: list[dict[str, Any]],
    author: str | None,
) -> None:
    """Append a revision (in the caller's transaction, under its image lock)."""
    db.add(
        AnnotationRevision(
            image_id=image_id, action=action, source=source, external_id=external_id,
            boxes=boxes, author=author, created_at=utcnow(),
        )
    )  # fmt: skip


def history(db: Session, image_id: int) -> list[AnnotationRevision]:
    """Every revision of the image's annotations, oldest first; ``NotFound`` for no image."""
    if db.get(Image, image_id) is None:
        raise NotFound(f"image {image_id} not found")
    stmt = select(AnnotationRevision).where(AnnotationRevision.image_id == image_id)
    return list(db.scalars(stmt.order_by(AnnotationRevision.id)))


def validate_boxes(
    boxes: Sequence[Box | dict[str, Any]], width: int, height: int, classes: Sequence[str]
) -> list[dict[str, Any]]:
    """Check every box against the image bounds and the pool's classes; returns plain
    dicts clamped to ``[0, width] x [0, height]``. Raises ``Unprocessable`` with the reason."""
    out: list[dict[str, Any]] = []
    known = set(classes)
    for i, raw in enumerate(boxes):
        try:
            box = raw if isinstance(raw, Box) else Box.model_validate(raw)
        except ValidationError as exc:
            raise Unprocessable(f"box {i}: {exc.errors()[0]['msg']}") from exc
        coords = (box.x1, box.y1, box.x2, box.y2)
        if not all(math.isfinite(c) for c in coords):
            raise Unprocessable(f"box {i}: coordinates must be finite numbers")
        if not (box.x1 < box.x2 and box.y1 < box.y2):
            raise Unprocessable(f"box {i}: needs x1 < x2 and y1 < y2, got {list(coords)}")
        tol = EDGE_TOLERANCE_PX
        if box.x1 < -tol or box.y1 < -tol or box.x2 > width + tol or box.y2 > height + tol:
            raise Unprocessable(
                f"box {i}: {list(coords)} lies outside the image bounds {width}x{height}"
            )
        if box.label not in known:
            raise Unprocessable(
                f"box {i}: unknown class {box.label!r}; the pool's classes are {list(classes)}"
            )
        x1, y1 = max(0.0, box.x1), max(0.0, box.y1)
        x2, y2 = min(float(width), box.x2), min(float(height), box.y2)
        out.append({"x1": x1, "y1": y1, "x2": x2, "y2": y2, "label": box.label})
    return out


def put_annotation(
    db: Session,
    image_id: int,
    boxes: list[Box] | list[dict[str, Any]],
    *,
    source: str = "api",
    external_id: str | None = None,
    skipped: bool = False,
    author: str | None = None,
    only_if_changed: bool = False,
) -> Annotation | None:
    """Validate and store ``boxes`` (replacing the annotation with the same image, source
    and external id), set the image ``labeled`` (or ``skipped``: no boxes allowed, any
    annotation of that key removed, returns None), append a revision by ``author`` and
    notify the labeling cycle. With ``only_if_changed``, re-storing the boxes a labeled
    image already has under that key changes nothing (no revision, same ``updated_at``)."""
    if source not in ANNOTATION_SOURCES:
        raise Unprocessable(f"unknown annotation source {source!r}")
    image = _get_image(db, image_id)
    pool = db.get(Pool, image.pool_id)
    assert pool is not None
    if skipped and boxes:
        raise Unprocessable("a skipped image takes no boxes; send an empty list")
    clean = validate_boxes(boxes, image.width, image.height, pool.classes)
    row: Annotation | None = None
    if skipped:
        db.execute(
            delete(Annotation)
            .where(Annotation.image_id == image.id, *_key(source, external_id))
            .execution_options(synchronize_session="fetch")
        )
        image.state = "skipped"
        record(db, image.id, "skip", source, external_id, [], author)
    else:
        if only_if_changed and image.state == "labeled":
            same = db.scalar(
                select(Annotation).where(
                    Annotation.image_id == image.id, *_key(source, external_id)
                )
            )
            if same is not None and same.boxes == clean:
                return same
        row = upsert_annotation(db, image.id, source, external_id, clean)
        image.state = "labeled"
        record(db, image.id, "put", source, external_id, clean, author)
    db.flush()
    cycles.on_image_done(db, image)
    return row


def delete_annotation(
    db: Session,
    image_id: int,
    *,
    source: str,
    external_id: str | None,
    author: str | None = None,
) -> None:
    """Remove that annotation (a ``delete`` revision when there was one); an image left
    without any goes back to ``queued`` (if selected by the pool's labeling cycle) or
    ``unlabeled``."""
    image = _get_image(db, image_id)
    cond = (Annotation.image_id == image.id, *_key(source, external_id))
    gone = db.execute(
        delete(Annotation).where(*cond).execution_options(synchronize_session="fetch")
    )
    if getattr(gone, "rowcount", 0):
        record(db, image.id, "delete", source, external_id, [], author)
    left = db.scalar(select(Annotation.id).where(Annotation.image_id == image.id).limit(1))
    if left is None and image.state == "labeled":
        selected = db.scalar(
            select(Selection.id)
            .join(Cycle, Cycle.id == Selection.cycle_id)
            .where(Selection.image_id == image.id, Cycle.state == "labeling")
            .limit(1)
        )
        image.state = "queued" if selected is not None else "unlabeled"
    db.flush()


def latest_annotation(db: Session, image_id: int) -> Annotation | None:
    """The image's current annotation: its most recently updated row (None if none)."""
    return db.scalar(
        select(Annotation)
        .where(Annotation.image_id == image_id)
        .order_by(Annotation.updated_at.desc(), Annotation.id.desc())
        .limit(1)
    )


def to_out(db: Session, image: Image, row: Annotation | None) -> AnnotationOut:
    """The API view; a skipped image shows no boxes (and no source) even when rows of
    other sources remain."""
    if image.state == "skipped":
        row = None
    return AnnotationOut(
        image_id=image.id,
        state=image.state,
        skipped=image.state == "skipped",
        source=row.source if row is not None else None,
        boxes=[Box(**b) for b in (row.boxes if row is not None else [])],
        updated_at=row.updated_at if row is not None else None,
    )
