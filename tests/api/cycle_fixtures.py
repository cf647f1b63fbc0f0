"""Rows for API tests of cycles/annotations without a worker: a pool with plain images and
a cycle put into ``labeling`` the way the selection stage leaves it."""

from __future__ import annotations

import hashlib
import io
from typing import Any

from PIL import Image as PILImage
from sqlalchemy.orm import Session

from alp.db import Cycle, Image, Job, Selection
from alp.schemas import PoolCreate, PoolSettings
from alp.services import pools
from alp.storage import LocalStorage, image_key

CLASSES = ["cat", "dog"]


def make_pool(
    db: Session,
    storage: LocalStorage,
    n: int = 6,
    size: tuple[int, int] = (40, 30),
    **settings: Any,
) -> tuple[int, list[int]]:
    """A pool with ``n`` unlabeled ``size`` (w, h) PNG images; returns (pool id, image ids)."""
    pool = pools.create_pool(
        db,
        PoolCreate(
            name=f"p{n}-{size}",
            classes=CLASSES,
            settings=PoolSettings(**{"model": "tiny", **settings}),
        ),
    )
    ids = []
    for i in range(n):
        buf = io.BytesIO()
        PILImage.new("RGB", size, (i * 20 % 255, 0, 0)).save(buf, format="PNG")
        data = buf.getvalue()
        sha = hashlib.sha256(data).hexdigest()
        key = image_key(pool.id, sha, "png")
        storage.put_bytes(key, data)
        img = Image(
            pool_id=pool.id, sha256=sha, storage_key=key, filename=f"im{i}.png",
            content_type="image/png", size_bytes=len(data), width=size[0], height=size[1],
        )  # fmt: skip
        db.add(img)
        db.flush()
        ids.append(img.id)
    return pool.id, ids


def labeling_cycle(db: Session, pool_id: int, image_ids: list[int], index: int = 0) -> int:
    """A cycle in ``labeling`` that selected ``image_ids`` (rank = position)."""
    cycle = Cycle(
        pool_id=pool_id, index=index, state="labeling", config={}, metrics={"map50": 0.5},
        timings={}, issues=[],
    )  # fmt: skip
    db.add(cycle)
    db.flush()
    for kind in ("train", "evaluate", "score", "select"):
        db.add(Job(kind=kind, pool_id=pool_id, cycle_id=cycle.id, state="succeeded", progress=1))
    for rank, image_id in enumerate(image_ids):
        db.add(
            Selection(
                cycle_id=cycle.id, image_id=image_id, rank=rank, score=1.0 - rank / 10,
                components={"entropy": 0.5},
                prediction={"boxes": [[1, 2, 10, 12]], "labels": [1], "scores": [0.9]},
            )
        )  # fmt: skip
        img = db.get(Image, image_id)
        assert img is not None
        img.state = "queued"
    db.flush()
    return cycle.id
