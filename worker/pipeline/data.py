"""From DB rows to model inputs: validation hold-out, training/validation manifests,
unreadable-image filtering, labeled-class statistics. No torch here (manifests are plain
dicts)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from PIL import Image as PILImage
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from alp.db import Annotation, Image
from alp.db.chunks import execute_in
from alp.services import cycles
from alp.storage import BlobCache

MAX_ISSUES_PER_STAGE = 20  # individual "image skipped" issues; the rest are summed up


def _order_key(seed: int, image_id: int) -> str:
    return hashlib.sha256(f"{seed}:{image_id}".encode()).hexdigest()


def assign_validation(db: Session, pool_id: int, fraction: float, seed: int) -> int:
    """Hold out ``fraction`` of the pool's labeled images as ``val`` (deterministically, by
    a seeded hash of the id); images a user already marked ``val`` count towards it and are
    never moved back. At least one labeled image stays in ``train``. Returns the val count."""
    rows = db.execute(
        select(Image.id, Image.split).where(Image.pool_id == pool_id, Image.state == "labeled")
    ).all()
    n = len(rows)
    current = [i for i, s in rows if s == "val"]
    if fraction <= 0 or n < 2:
        return len(current)
    target = min(n - 1, max(1, round(fraction * n)))
    need = target - len(current)
    if need > 0:
        train = sorted((i for i, s in rows if s == "train"), key=lambda i: _order_key(seed, i))
        move = train[:need]
        db.execute(
            update(Image)
            .where(Image.id.in_(move))
            .values(split="val")
            .execution_options(synchronize_session=False)
        )
        return len(current) + len(move)
    return len(current)


def _latest_boxes(db: Session, image_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Boxes of each image's most recently updated annotation."""
    out: dict[int, tuple[Any, list[dict[str, Any]]]] = {}
    rows = execute_in(
        db,
        image_ids,
        lambda ids: select(
            Annotation.image_id, Annotation.updated_at, Annotation.id, Annotation.boxes
        ).where(Annotation.image_id.in_(ids)),
        size=5000,
    )
    for image_id, updated, aid, boxes in rows:
        key = (updated, aid)
        if image_id not in out or key > out[image_id][0]:
            out[image_id] = (key, boxes or [])
    return {k: v[1] for k, v in out.items()}


def labeled_manifest(
    db: Session, cache: BlobCache, pool_id: int, split: str, classes: list[str]
) -> list[dict[str, Any]]:
    """``[{"path", "boxes", "labels", "image_id"}]`` of the pool's labeled images in
    ``split`` (``path`` is a ``CachedBlob``: opening it fetches the image into the worker's
    cache; ``str()`` of it is the storage key, so fingerprints do not depend on the host;
    labels are 0-based indices into ``classes``; unknown names are dropped)."""
    images = db.execute(
        select(Image.id, Image.storage_key)
        .where(Image.pool_id == pool_id, Image.state == "labeled", Image.split == split)
        .order_by(Image.id)
    ).all()
    boxes = _latest_boxes(db, [i for i, _ in images])
    index = {name: i for i, name in enumerate(classes)}
    manifest = []
    for image_id, key in images:
        kept = [b for b in boxes.get(image_id, []) if b.get("label") in index]
        manifest.append({
            "path": cache.blob(key),
            "boxes": [[b["x1"], b["y1"], b["x2"], b["y2"]] for b in kept],
            "labels": [index[b["label"]] for b in kept],
            "image_id": image_id,
        })  # fmt: skip
    return manifest


def unreadable_reason(path: str | Path) -> str | None:
    """Why the image file at ``path`` cannot be decoded (None when it can).

    Decodes the whole file with Pillow (JPEGs at reduced scale: every byte is still read,
    so truncated files are caught) without keeping the pixels."""
    try:
        with PILImage.open(path) as im:
            im.draft("RGB", (max(1, im.width // 8), max(1, im.height // 8)))
            im.load()
    except FileNotFoundError:
        return "file missing"
    except (OSError, ValueError, SyntaxError, PILImage.DecompressionBombError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def readable_manifest(
    manifest: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """Split manifest entries into readable ones and ``(image_id, reason)`` of the rest."""
    kept, skipped = [], []
    for entry in manifest:
        reason = unreadable_reason(entry["path"])
        if reason is None:
            kept.append(entry)
        else:
            skipped.append((int(entry["image_id"]), reason))
    return kept, skipped


def record_skipped(db: Session, cycle_id: int, stage: str, skipped: list[tuple[int, str]]) -> None:
    """One cycle issue per skipped image (``image <id> skipped in <stage>: <reason>``), at
    most :data:`MAX_ISSUES_PER_STAGE`, then one summary line. Flushes, never commits."""
    for image_id, reason in skipped[:MAX_ISSUES_PER_STAGE]:
        cycles.record_issue(db, cycle_id, f"image {image_id} skipped in {stage}: {reason}")
    rest = len(skipped) - MAX_ISSUES_PER_STAGE
    if rest > 0:
        cycles.record_issue(db, cycle_id, f"{rest} more unreadable images skipped in {stage}")


def labeled_class_freq(db: Session, pool_id: int, classes: list[str]) -> list[float] | None:
    """Mean number of boxes of each class per labeled train image (None without labels)."""
    ids = list(
        db.scalars(
            select(Image.id).where(
                Image.pool_id == pool_id, Image.state == "labeled", Image.split == "train"
            )
        )
    )
    if not ids:
        return None
    counts = [0.0] * len(classes)
    index = {name: i for i, name in enumerate(classes)}
    for boxes in _latest_boxes(db, ids).values():
        for b in boxes:
            if b.get("label") in index:
                counts[index[b["label"]]] += 1
    return [c / len(ids) for c in counts]


def count_labeled(db: Session, pool_id: int) -> int:
    return int(
        db.scalar(select(func.count()).where(Image.pool_id == pool_id, Image.state == "labeled"))
        or 0
    )
