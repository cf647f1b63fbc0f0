"""Rows and image files for dashboard tests: a pool with images, cycles, jobs, a selection.

Writes straight to the database (the dashboard only reads these tables) and real JPEGs to
storage, so thumbnails can be rendered.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from PIL import Image as PILImage
from sqlalchemy.orm import Session

from alp.db import Cycle, Image, Job, LabelStudioConnection, Pool, Selection, utcnow
from alp.schemas import PoolSettings
from alp.storage import LocalStorage, image_key

# As the pipeline stores them: ``labeled`` counts validation images too, the learning
# curve's x is ``train`` (labeled training images), the last cycle has per-class AP.
FINISHED: list[dict[str, Any]] = [
    {"labeled": 70, "train": 30, "val": 40, "map50": 0.21, "coco_ap": 0.08},
    {"labeled": 79, "train": 39, "val": 40, "map50": 0.34, "coco_ap": 0.14},
    {"labeled": 87, "train": 47, "val": 40, "map50": 0.45, "coco_ap": 0.19,
     "per_class": {
         "cat": {"ap50": 0.61, "ap50_11pt": 0.6, "coco_ap": 0.27, "num_gt": 31},
         "dog": {"ap50": 0.29, "ap50_11pt": 0.3, "coco_ap": 0.11, "num_gt": 12},
     }},
]  # fmt: skip
NAMES = {"train": "train_images", "val": "val_images", "per_class": "per_class"}
TIMINGS = {"training": 42.5, "evaluating": 3.2, "scoring": 11.0, "selecting": 0.4}


@dataclass
class Seeded:
    pool_id: int
    image_ids: list[int]
    cycle_ids: list[int] = field(default_factory=list)
    selection_ids: list[int] = field(default_factory=list)
    job_ids: dict[str, int] = field(default_factory=dict)


def jpeg(w: int = 96, h: int = 64, color: tuple[int, int, int] = (30, 60, 90)) -> bytes:
    im = PILImage.new("RGB", (w, h), color)
    im.paste((240, 240, 240), (w // 4, h // 4, w // 2, h // 2))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def add_images(db: Session, storage: LocalStorage, pool_id: int, n: int) -> list[int]:
    ids = []
    for i in range(n):
        data = jpeg(color=(20 + 10 * i % 200, 60, 90))
        sha = hashlib.sha256(data + str(i).encode()).hexdigest()
        key = image_key(pool_id, sha, "jpg")
        storage.put_bytes(key, data)
        row = Image(
            pool_id=pool_id,
            sha256=sha,
            storage_key=key,
            filename=f"img_{i:03d}.jpg",
            content_type="image/jpeg",
            size_bytes=len(data),
            width=96,
            height=64,
        )
        db.add(row)
        db.flush()
        ids.append(row.id)
    return ids


def seed_pool(
    db: Session,
    storage: LocalStorage,
    name: str,
    n_images: int = 8,
    finished: list[dict[str, Any]] | None = None,
    extra_cycle: dict[str, Any] | None = None,
    selection_size: int = 3,
    labelstudio: bool = False,
    ls_outcomes: tuple[str | None, ...] = (),
) -> Seeded:
    """Pool ``name`` with ``finished`` done cycles (default ``FINISHED``), the last one's
    selection of ``selection_size`` images, and optionally one more cycle ``extra_cycle``
    (``{"state": ..., "job": {"kind", "state", "progress", "message"}, "error": ...}``).
    With ``labelstudio`` the selection is pushed (task ids 100, 101, ...) and
    ``ls_outcomes[rank]`` is what its task said (``"annotated"`` / ``"skipped"``)."""
    pool = Pool(name=name, classes=["cat", "dog"], settings=PoolSettings().model_dump())
    db.add(pool)
    db.flush()
    out = Seeded(pool.id, add_images(db, storage, pool.id, n_images))
    if labelstudio:
        db.add(
            LabelStudioConnection(
                pool_id=pool.id, url="http://ls.example:8080", token="t", project_id=7
            )
        )
    now = utcnow()
    for i, f in enumerate(FINISHED if finished is None else finished):
        metrics = {"map50": f["map50"], "coco_ap": f["coco_ap"]}
        metrics.update({k: f[n] for n, k in NAMES.items() if n in f})
        c = Cycle(
            pool_id=pool.id,
            index=i,
            state="done",
            labeled_count=f["labeled"],
            metrics=metrics,
            timings=dict(TIMINGS),
            started_at=now - timedelta(hours=10 - i),
            finished_at=now - timedelta(hours=9 - i),
        )
        db.add(c)
        db.flush()
        out.cycle_ids.append(c.id)
    if out.cycle_ids and selection_size:
        for rank, image_id in enumerate(out.image_ids[:selection_size]):
            s = Selection(
                cycle_id=out.cycle_ids[-1],
                image_id=image_id,
                rank=rank,
                score=0.9 - 0.1 * rank,
                components={"uncertainty": 0.5 - 0.05 * rank, "diversity": 0.25},
                prediction={"boxes": [[10, 8, 60, 50]], "labels": ["cat"], "scores": [0.81]},
                ls_task_id=100 + rank if labelstudio else None,
                ls_outcome=ls_outcomes[rank] if rank < len(ls_outcomes) else None,
            )
            db.add(s)
            db.flush()
            out.selection_ids.append(s.id)
    if extra_cycle is not None:
        c = Cycle(
            pool_id=pool.id,
            index=len(out.cycle_ids),
            state=extra_cycle["state"],
            labeled_count=extra_cycle.get("labeled", 0),
            metrics=dict(extra_cycle.get("metrics", {})),
            error=extra_cycle.get("error"),
            failed_stage=extra_cycle.get("failed_stage"),
            started_at=now,
            timings=extra_cycle.get("timings", {}),
        )
        db.add(c)
        db.flush()
        out.cycle_ids.append(c.id)
        job = extra_cycle.get("job")
        if job is not None:
            row = Job(
                pool_id=pool.id,
                cycle_id=c.id,
                kind=job["kind"],
                state=job["state"],
                progress=job.get("progress", 0.0),
                message=job.get("message", ""),
                heartbeat_at=now,
                started_at=now,
            )
            db.add(row)
            db.flush()
            out.job_ids[job["kind"]] = row.id
    db.flush()
    return out
