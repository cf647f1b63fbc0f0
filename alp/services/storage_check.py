"""Consistency of the blob store with the database: orphans and missing blobs.

Key layout (``alp.storage``): ``pools/<pool>/images/..`` (one per ``Image`` row),
``pools/<pool>/thumbs/<image>-..`` (derived from an image), ``pools/<pool>/checkpoints/
cycle-<cycle>..`` (a cycle's checkpoint, resume state, embeddings). A blob is an orphan
when what it belongs to is gone (no such image row / image / cycle / pool); a blob is
missing when a row names it and the store lacks it. Only orphans older than ``min_age_s``
are reported, so an upload between its blob write and its commit is never one.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from alp.db import Cycle, Image, Pool
from alp.storage import Storage

THUMB = re.compile(r"^pools/(\d+)/thumbs/(\d+)-")
CKPT = re.compile(r"^pools/(\d+)/checkpoints/cycle-(\d+)[.-]")
IMAGE = re.compile(r"^pools/(\d+)/images/")


@dataclass
class StorageReport:
    orphans: list[str] = field(default_factory=list)
    orphan_bytes: int = 0
    missing: list[str] = field(default_factory=list)  # "image 12: pools/1/images/..."
    blobs: int = 0
    removed: int = 0


def _belongs(key: str, images: set[str], image_ids: dict[int, int], cycles: dict[int, int],
             pools: set[int]) -> bool:  # fmt: skip
    if IMAGE.match(key):
        return key in images
    if m := THUMB.match(key):
        return image_ids.get(int(m[2])) == int(m[1])
    if m := CKPT.match(key):
        return cycles.get(int(m[2])) == int(m[1])
    m = re.match(r"^pools/(\d+)/", key)
    return m is None or int(m[1]) in pools  # unknown layouts are left alone


def check(
    db: Session, storage: Storage, fix: bool = False, min_age_s: float = 3600
) -> StorageReport:
    """Compare store and database; with ``fix``, delete the orphans found."""
    images = dict(db.execute(select(Image.storage_key, Image.id)).all())
    image_ids = dict(db.execute(select(Image.id, Image.pool_id)).all())
    cycles = dict(db.execute(select(Cycle.id, Cycle.pool_id)).all())
    pools = set(db.scalars(select(Pool.id)))
    ckpts = db.execute(
        select(Cycle.id, Cycle.checkpoint_key).where(Cycle.checkpoint_key.is_not(None))
    ).all()
    report = StorageReport()
    present: set[str] = set()
    cutoff = time.time() - min_age_s
    image_keys = set(images)
    for key, size, mtime in storage.iter_objects("pools"):
        report.blobs += 1
        present.add(key)
        if mtime <= cutoff and not _belongs(key, image_keys, image_ids, cycles, pools):
            report.orphans.append(key)
            report.orphan_bytes += size
    for key, image_id in sorted(images.items(), key=lambda kv: kv[1]):
        if key not in present:
            report.missing.append(f"image {image_id}: {key}")
    for cycle_id, key in ckpts:
        if key not in present:
            report.missing.append(f"cycle {cycle_id} checkpoint: {key}")
    if fix:
        for key in report.orphans:
            storage.delete(key)
            report.removed += 1
    return report
