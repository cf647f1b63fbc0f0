"""A pool filled from the synthetic shape generator (demo, benchmark, tests).

Images are stored as PNG through :mod:`alp.storage` and inserted as Image rows; the
labeled part gets ``import`` annotations through :func:`alp.services.annotations.put_annotation`.
The ground truth of every image is returned so a simulated annotator can answer.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from alp.db import Image
from alp.schemas import PoolCreate, PoolSettings
from alp.services import annotations, pools
from alp.storage import Storage, image_key


@dataclass
class SyntheticPool:
    pool_id: int
    classes: list[str]
    truth: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # image id -> boxes
    labeled_ids: list[int] = field(default_factory=list)
    val_ids: list[int] = field(default_factory=list)
    unlabeled_ids: list[int] = field(default_factory=list)


def _png(image: Any) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def create_synthetic_pool(
    db: Session,
    storage: Storage,
    name: str,
    *,
    n_labeled: int,
    n_val: int,
    n_unlabeled: int,
    size: int = 64,
    classes: tuple[str, ...] = ("circle", "square", "triangle"),
    seed: int = 0,
    settings: dict[str, Any] | None = None,
    **generator_kwargs: Any,
) -> SyntheticPool:
    """Create pool ``name`` with ``n_labeled`` labeled train images, ``n_val`` labeled
    validation images and ``n_unlabeled`` unlabeled ones (``size`` px squares). Flushes."""
    from models.data.synthetic import generate

    pool = pools.create_pool(
        db,
        PoolCreate(name=name, classes=list(classes), settings=PoolSettings(**(settings or {}))),
    )
    total = n_labeled + n_val + n_unlabeled
    samples = generate(total, size=size, classes=classes, seed=seed, **generator_kwargs)
    out = SyntheticPool(pool_id=pool.id, classes=list(classes))
    for i, sample in enumerate(samples):
        data = _png(sample["image"])
        sha = hashlib.sha256(data).hexdigest()
        key = image_key(pool.id, sha, "png")
        storage.put_bytes(key, data)
        split = "val" if n_labeled <= i < n_labeled + n_val else "train"
        image = Image(
            pool_id=pool.id, sha256=sha, storage_key=key, filename=f"synthetic-{i:06d}.png",
            content_type="image/png", size_bytes=len(data), width=size, height=size,
            state="unlabeled", split=split,
        )  # fmt: skip
        db.add(image)
        db.flush()
        boxes = [
            {"x1": b[0], "y1": b[1], "x2": b[2], "y2": b[3], "label": classes[lab]}
            for b, lab in zip(sample["boxes"], sample["labels"], strict=True)
        ]
        out.truth[image.id] = boxes
        if i < n_labeled + n_val:
            annotations.put_annotation(db, image.id, boxes, source="import")
            (out.labeled_ids if split == "train" else out.val_ids).append(image.id)
        else:
            out.unlabeled_ids.append(image.id)
    db.flush()
    return out
