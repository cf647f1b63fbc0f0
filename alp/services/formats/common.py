"""Format-neutral label import shared by YOLO, Pascal VOC and Label Studio JSON.

A format parser turns its files into :class:`LabelFile` items (one per labeled image) plus
problems found while parsing (bad lines, hostile XML, ...). :func:`import_labels` then
follows the COCO import's rules (:mod:`alp.services.coco`): images come from the
accompanying zip or were uploaded before (matched by file name), boxes are validated by
:func:`alp.services.annotations.validate_boxes` (unknown class, outside the image), each
image gets ONE import annotation and becomes ``labeled``. With ``strict`` any problem
refuses the whole import (422, nothing stored); otherwise the files with problems are
skipped and listed in ``problems``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from alp.config import Settings
from alp.db import Image
from alp.errors import AlpError, Unprocessable
from alp.schemas import check_class_names
from alp.schemas_images import CocoImportResult, UploadResult
from alp.services import coco, ingest, pools, zips
from alp.services.annotations import validate_boxes
from alp.services.uploads import Rejected, StagedFiles

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
LABEL_EXTS = (".txt", ".xml", ".json", ".yaml", ".yml")
MAX_LABEL_FILE_BYTES = 16 * 1024 * 1024
Boxes = list[dict[str, Any]]
ToBoxes = Callable[[int, int, list[str]], tuple[Boxes, list[str]]]


@dataclass
class LabelFile:
    """The labels of one image as a format states them.

    ``names``: candidate image file names (first found wins); ``image_id``: an explicit alp
    image id (Label Studio tasks synced by alp), tried first; ``size``: the image size the
    file declares (checked against the stored image); ``to_boxes(width, height, classes)``
    returns pixel boxes of the stored image plus issues.
    """

    source: str
    names: list[str]
    labels: set[str]
    to_boxes: ToBoxes
    size: tuple[int, int] | None = None
    image_id: int | None = None


@dataclass
class Parsed:
    files: list[LabelFile] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    class_order: list[str] = field(default_factory=list)  # declared class names, in order


def basename(name: str) -> str:
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def stem(name: str) -> str:
    base = basename(name)
    return base.rsplit(".", 1)[0] if "." in base else base


def pixel_boxes(boxes: Boxes) -> ToBoxes:
    """``to_boxes`` for boxes already in pixels (VOC)."""
    return lambda _w, _h, _classes: (boxes, [])


@contextmanager
def label_members(fh: BinaryIO, settings: Settings) -> Iterator[list[tuple[str, bytes]]]:
    """``(path, bytes)`` of the label-like members (``LABEL_EXTS``) of a zip; 422 when the
    archive itself is refused (unsafe paths, too big, not a zip)."""
    fh.seek(0)
    try:
        zf, members = zips.open_zip(
            fh, max_total_bytes=settings.max_zip_bytes, max_members=settings.max_zip_members
        )
    except Rejected as exc:
        raise Unprocessable(f"archive refused: {exc.reason}") from exc
    try:
        out: list[tuple[str, bytes]] = []
        for m in members:
            if m.path.lower().endswith(LABEL_EXTS):
                try:
                    out.append((m.path, zips.read_member(zf, m, MAX_LABEL_FILE_BYTES)))
                except Rejected as exc:
                    raise Unprocessable(f"{m.path}: {exc.reason}") from exc
        yield out
    finally:
        zf.close()
        fh.seek(0)


def _ingest_images(
    db: Session, settings: Settings, pool_id: int, archive: tuple[str | None, BinaryIO],
    staged: StagedFiles,
) -> UploadResult:  # fmt: skip
    """Store the archive's images; its label files are not reported as rejected images."""
    upload = ingest.ingest_uploads(db, settings, pool_id, [archive], staged)
    keep = [
        (r, s)
        for r, s in zip(upload.rejected, upload._statuses or [422] * len(upload.rejected),
                        strict=False)
        if not r.filename.lower().endswith(LABEL_EXTS)
    ]  # fmt: skip
    whole = [r for r, _ in keep if "/" not in r.filename]  # members are "archive/path"
    if whole:
        raise Unprocessable(f"archive not usable: {whole[0].reason}")
    upload.rejected = [r for r, _ in keep]
    upload._statuses = [s for _, s in keep]
    return upload


def _lookup(db: Session, pool_id: int, files: list[LabelFile]) -> dict[str, list[Image]]:
    names = sorted({n for f in files for n in f.names})
    out: dict[str, list[Image]] = {}
    for start in range(0, len(names), 500):
        q = select(Image).where(
            Image.pool_id == pool_id, Image.filename.in_(names[start : start + 500])
        )
        for img in db.scalars(q):
            out.setdefault(img.filename, []).append(img)
    return out


def _resolve(
    db: Session, pool_id: int, f: LabelFile, from_zip: dict[str, int | None],
    by_name: dict[str, list[Image]],
) -> tuple[Image | None, str | None]:  # fmt: skip
    if f.image_id is not None:
        img = db.get(Image, f.image_id)
        if img is not None and img.pool_id == pool_id:
            return img, None
    for name in f.names:
        if name in from_zip:
            zid = from_zip[name]
            if zid is None:
                return None, f"{f.source}: several archive images are named {name!r}"
            return db.get(Image, zid), None
    for name in f.names:
        found = by_name.get(name, [])
        if len(found) > 1:
            return None, f"{f.source}: several images of the pool are named {name!r}"
        if found:
            return found[0], None
    return None, f"{f.source}: missing image {f.names[0]!r} (not in the archive nor the pool)"


def _add_classes(pool: Any, parsed: Parsed, add_classes: bool) -> list[str]:
    used = {label for f in parsed.files for label in f.labels}
    order = [*parsed.class_order, *sorted(used)]
    unknown = list(dict.fromkeys(c for c in order if c in used and c not in pool.classes))
    if unknown and add_classes:
        try:
            pool.classes = check_class_names([*pool.classes, *unknown])
        except ValueError as exc:
            raise Unprocessable(f"cannot add the classes {unknown}: {exc}") from exc
        return unknown
    return []


def import_labels(
    db: Session,
    settings: Settings,
    pool_id: int,
    parsed: Parsed,
    staged: StagedFiles,
    archive: tuple[str | None, BinaryIO] | None,
    *,
    fmt: str,
    add_classes: bool = False,
    strict: bool = True,
    author: str | None = None,
) -> CocoImportResult:
    """Store ``parsed`` labels (and the archive's images; revisions by ``author``).
    Flushes, never commits; the caller commits inside ``staged`` so stored files vanish
    when this raises."""
    pool = pools.get_pool(db, pool_id)
    added = _add_classes(pool, parsed, add_classes)
    upload = _ingest_images(db, settings, pool_id, archive, staged) if archive else None
    from_zip = coco._archive_names(upload) if upload else {}
    by_name = _lookup(db, pool_id, parsed.files)
    problems = list(parsed.problems)
    clean: dict[int, tuple[Image, Boxes, None]] = {}
    sources: dict[int, str] = {}
    for f in parsed.files:
        img, problem = _resolve(db, pool_id, f, from_zip, by_name)
        if img is None:
            problems.append(problem or f"{f.source}: no image")
            continue
        if f.size is not None and f.size != (img.width, img.height):
            problems.append(
                f"{f.source}: declares {f.size[0]}x{f.size[1]}, "
                f"the stored image {img.filename!r} is {img.width}x{img.height}"
            )
            continue
        if img.id in clean:
            problems.append(f"{f.source}: {img.filename!r} is already labeled by {sources[img.id]}")
            continue
        boxes, issues = f.to_boxes(img.width, img.height, list(pool.classes))
        if issues:
            problems.extend(f"{f.source}: {i}" for i in issues)
            continue
        try:
            valid = validate_boxes(boxes, img.width, img.height, pool.classes)
        except AlpError as exc:
            problems.append(f"{f.source}: {exc.detail}")
            continue
        clean[img.id], sources[img.id] = (img, valid, None), f.source
    if strict and problems:
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise Unprocessable(
            f"{fmt} import refused, nothing was stored: {'; '.join(problems[:10])}{more}"
        )
    n_boxes = coco._write(db, clean, author)
    return CocoImportResult(
        images_labeled=len(clean),
        images_from_archive=len(upload.accepted) if upload else 0,
        annotations=n_boxes,
        classes_added=added,
        problems=problems[: coco.MAX_PROBLEMS],
        upload=upload,
    )
