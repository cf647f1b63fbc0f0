"""COCO detection import (labels for uploaded or zipped images); the export is in
:mod:`alp.services.coco_export` (re-exported here).

Import: categories map to the pool's classes by name (unknown ones used by annotations are
refused unless ``add_classes``, which appends them); COCO images map by the base name of
``file_name`` to a member of the accompanying zip, else to an uploaded image of the pool.
Boxes go from ``[x, y, w, h]`` to ``{"x1","y1","x2","y2","label"}`` pixels, validated by
:func:`alp.services.annotations.validate_boxes`. Every listed image gets ONE annotation
(``source="import"``, ``external_id="coco"``; a re-import replaces it) — zero boxes if it
has no annotations — and becomes ``labeled``; an image entry's ``alp_split`` (``train`` or
``val``, as exported) sets the image's split. ``iscrowd=1`` annotations are skipped.
With ``strict`` any problem refuses the whole import (nothing stored); otherwise the images
with problems are skipped and listed.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, BinaryIO

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from alp.config import Settings
from alp.db import Annotation, Image, Pool, utcnow
from alp.db.chunks import scalars_in
from alp.errors import AlpError, Unprocessable
from alp.schemas import check_class_names
from alp.schemas_images import CocoImportResult, UploadResult
from alp.services import cycles, ingest, pools
from alp.services.annotations import record as record_revision
from alp.services.annotations import validate_boxes
from alp.services.coco_export import Split
from alp.services.coco_export import export_coco as export_coco  # re-exported
from alp.services.json_files import MAX_JSON_BYTES as MAX_JSON_BYTES  # re-exported
from alp.services.json_files import read_json
from alp.services.uploads import StagedFiles

MAX_PROBLEMS = 50
IMPORT_SOURCE, IMPORT_EXTERNAL_ID = "import", "coco"


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CocoImage(_Loose):
    id: int | str
    file_name: str
    width: int | None = None
    height: int | None = None
    alp_split: Split | None = None  # alp's own field: which split the image belongs to


class CocoAnnotation(_Loose):
    image_id: int | str
    category_id: int | str
    bbox: list[float]
    iscrowd: int = 0


class CocoCategory(_Loose):
    id: int | str
    name: str


class CocoFile(_Loose):
    images: list[CocoImage]
    annotations: list[CocoAnnotation] = []
    categories: list[CocoCategory]


def parse_coco(fh: BinaryIO) -> CocoFile:
    """Read and validate a COCO json file; 413/422 with the reason when it is not one."""
    raw = read_json(fh, too_deep="annotations is nested too deeply to be a COCO file")
    try:
        return CocoFile.model_validate(raw)
    except ValidationError as exc:
        errs = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise Unprocessable(f"annotations is not a COCO detection file: {errs}") from exc


def _basename(name: str) -> str:
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def _archive_names(upload: UploadResult) -> dict[str, int | None]:
    """Base name -> image id of the archive's stored members (None when ambiguous)."""
    out: dict[str, int | None] = {}
    for item in [*upload.accepted, *upload.duplicates]:
        name = _basename(item.filename)
        out[name] = item.image_id if out.get(name, item.image_id) == item.image_id else None
    return out


def _pool_images(db: Session, pool_id: int, names: set[str]) -> dict[str, list[Image]]:
    out: dict[str, list[Image]] = defaultdict(list)
    found = scalars_in(
        db,
        sorted(names),
        lambda chunk: select(Image).where(Image.pool_id == pool_id, Image.filename.in_(chunk)),
    )
    for img in found:
        out[img.filename].append(img)
    return out


def _resolve(
    db: Session, pool_id: int, coco: CocoFile, from_zip: dict[str, int | None], problems: list[str]
) -> dict[Any, Image]:
    """COCO image id -> Image row, recording unmatched/ambiguous/mismatched images."""
    zip_ids = [i for i in from_zip.values() if i is not None]
    by_id = {img.id: img for img in db.scalars(select(Image).where(Image.id.in_(zip_ids)))}
    wanted = {_basename(c.file_name) for c in coco.images} - from_zip.keys()
    by_name = _pool_images(db, pool_id, wanted)
    out: dict[Any, Image] = {}
    for c in coco.images:
        name = _basename(c.file_name)
        zid = from_zip.get(name)
        found = [by_id[zid]] if zid is not None else by_name.get(name, [])
        if (name in from_zip and zid is None) or len(found) > 1:
            problems.append(f"image {c.file_name!r}: several images have this file name")
        elif not found:
            problems.append(f"image {c.file_name!r}: not in the archive nor uploaded to the pool")
        elif (c.width, c.height) not in ((None, None), (found[0].width, found[0].height)):
            img = found[0]
            problems.append(
                f"image {c.file_name!r}: COCO says {c.width}x{c.height}, "
                f"the stored image is {img.width}x{img.height}"
            )
        else:
            out[c.id] = found[0]
    return out


def _boxes(
    coco: CocoFile, cat_names: dict[Any, str], problems: list[str]
) -> tuple[dict[Any, list[dict[str, Any]]], set[Any], int]:
    """Boxes per COCO image id, image ids with a bad annotation, crowd count."""
    boxes: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    bad: set[Any] = set()
    crowd = 0
    image_ids = {c.id for c in coco.images}
    for i, a in enumerate(coco.annotations):
        if a.iscrowd:
            crowd += 1
            continue
        if a.image_id not in image_ids:
            problems.append(f"annotation {i}: image_id {a.image_id!r} is not in 'images'")
        elif a.category_id not in cat_names:
            problems.append(f"annotation {i}: unknown category_id {a.category_id!r}")
            bad.add(a.image_id)
        elif len(a.bbox) != 4 or not all(math.isfinite(v) for v in a.bbox):
            problems.append(f"annotation {i}: bbox must be 4 finite numbers [x, y, w, h]")
            bad.add(a.image_id)
        else:
            x, y, w, h = a.bbox
            label = cat_names[a.category_id]
            boxes[a.image_id].append({"x1": x, "y1": y, "x2": x + w, "y2": y + h, "label": label})
    return boxes, bad, crowd


def _map_categories(pool: Pool, coco: CocoFile, add_classes: bool) -> tuple[dict, list[str]]:
    cat_names = {c.id: c.name.strip() for c in coco.categories}
    used = {a.category_id for a in coco.annotations if not a.iscrowd} & cat_names.keys()
    unknown = sorted({cat_names[c] for c in used} - set(pool.classes))
    if unknown and not add_classes:
        raise Unprocessable(
            f"COCO categories not in the pool's classes: {', '.join(unknown)} "
            "(pass add_classes=true to append them)"
        )
    if unknown:
        try:
            pool.classes = check_class_names([*pool.classes, *unknown])
        except ValueError as exc:
            raise Unprocessable(f"cannot add the COCO categories as classes: {exc}") from exc
    return cat_names, unknown


def import_coco(
    db: Session,
    settings: Settings,
    pool_id: int,
    annotations_file: BinaryIO,
    staged: StagedFiles,
    archive: tuple[str | None, BinaryIO] | None = None,
    *,
    add_classes: bool = False,
    strict: bool = True,
    author: str | None = None,
) -> CocoImportResult:
    """Import a COCO file (and optionally a zip of its images) into the pool (revisions
    by ``author``). Flushes, never commits; the caller commits inside ``staged`` so files
    vanish on failure."""
    pool = pools.get_pool(db, pool_id)
    coco = parse_coco(annotations_file)
    cat_names, added = _map_categories(pool, coco, add_classes)
    upload, from_zip = None, {}
    if archive is not None:
        upload = ingest.ingest_uploads(db, settings, pool_id, [archive], staged)
        if not upload.accepted and not upload.duplicates and upload.rejected:
            raise Unprocessable(f"archive not usable: {upload.rejected[0].reason}")
        from_zip = _archive_names(upload)
    problems: list[str] = []
    images = _resolve(db, pool_id, coco, from_zip, problems)
    boxes, bad, crowd = _boxes(coco, cat_names, problems)
    splits = {c.id: c.alp_split for c in coco.images}
    clean: dict[int, tuple[Image, list[dict[str, Any]], Split | None]] = {}
    for coco_id, img in images.items():
        if coco_id in bad:
            continue
        try:
            valid = validate_boxes(boxes.get(coco_id, []), img.width, img.height, pool.classes)
        except AlpError as exc:
            problems.append(f"image {img.filename!r}: {exc.detail}")
            continue
        clean[img.id] = (img, valid, splits[coco_id])
    if strict and problems:
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise Unprocessable(
            f"COCO import refused, nothing was stored: {'; '.join(problems[:10])}{more}"
        )
    n_boxes = _write(db, clean, author)
    return CocoImportResult(
        images_labeled=len(clean),
        images_from_archive=len(upload.accepted) if upload else 0,
        annotations=n_boxes,
        classes_added=added,
        skipped_crowd=crowd,
        problems=problems[:MAX_PROBLEMS],
        upload=upload,
    )


def _write(
    db: Session,
    clean: dict[int, tuple[Image, list[dict[str, Any]], Split | None]],
    author: str | None = None,
) -> int:
    """Store the imported boxes (one ``import`` row per image) and a revision of each."""
    ids = list(clean)
    found = scalars_in(
        db,
        ids,
        lambda chunk: select(Annotation).where(
            Annotation.image_id.in_(chunk),
            Annotation.source == IMPORT_SOURCE,
            Annotation.external_id == IMPORT_EXTERNAL_ID,
        ),
    )
    existing: dict[int, Annotation] = {a.image_id: a for a in found}
    queued: Image | None = None
    now = utcnow()
    for image_id, (img, boxes, split) in clean.items():
        row = existing.get(image_id)
        if row is None:
            row = Annotation(image_id=image_id, boxes=boxes, source=IMPORT_SOURCE)
            row.external_id = IMPORT_EXTERNAL_ID
            db.add(row)
        else:
            row.boxes, row.updated_at = boxes, now
        record_revision(db, image_id, "put", IMPORT_SOURCE, IMPORT_EXTERNAL_ID, boxes, author)
        queued = img if img.state == "queued" else queued
        img.state = "labeled"
        if split is not None:
            img.split = split
    db.flush()
    if queued is not None:  # a labeling cycle may now be complete
        cycles.on_image_done(db, queued)
    return sum(len(b) for _, b, _ in clean.values())
