"""The trained model out: which stored checkpoint a download serves, its file name and
ETag. No torch here: the API streams the bytes the worker stored (an alp checkpoint,
``models.checkpoint``, loadable with ``torch.load(weights_only=True)``)."""

from __future__ import annotations

import hashlib
import json
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from alp.db import Cycle
from alp.errors import NotFound
from alp.services import cycles, pools
from alp.storage import Storage

PICKS = ("best", "latest")
MEDIA_TYPE = "application/octet-stream"


def cycle_model(db: Session, storage: Storage, cycle_id: int) -> tuple[Cycle, str]:
    """The cycle and its checkpoint's storage key; ``NotFound`` (with the reason) when the cycle
    does not exist or trained no model (yet)."""
    cycle = cycles.get_cycle(db, cycle_id)
    if not cycle.checkpoint_key or not storage.exists(cycle.checkpoint_key):
        raise NotFound(f"cycle {cycle_id} has no trained model (state {cycle.state})")
    return cycle, cycle.checkpoint_key


def pool_model(db: Session, storage: Storage, pool_id: int, pick: str) -> tuple[Cycle, str]:
    """The pool's ``latest`` trained model or its ``best`` (highest validation mAP@0.5;
    cycles without that metric rank last, ties go to the later cycle)."""
    pools.get_pool(db, pool_id)
    rows = list(
        db.scalars(
            select(Cycle)
            .where(Cycle.pool_id == pool_id, Cycle.checkpoint_key.is_not(None))
            .order_by(Cycle.index)
        )
    )
    rows = [c for c in rows if storage.exists(c.checkpoint_key or "")]
    if not rows:
        raise NotFound(f"pool {pool_id} has no trained model yet")
    chosen = max(rows, key=lambda c: (_map50(c), c.index)) if pick == "best" else rows[-1]
    return chosen, chosen.checkpoint_key or ""


def _map50(cycle: Cycle) -> float:
    value = (cycle.metrics or {}).get("map50")
    return float(value) if isinstance(value, int | float) else float("-inf")


def file_name(db: Session, cycle: Cycle) -> str:
    """``alp-<pool name>-cycle<index>.pt`` (pool name reduced to safe characters)."""
    pool = pools.get_pool(db, cycle.pool_id)
    safe = re.sub(r"[^A-Za-z0-9._]+", "-", pool.name).strip("-.") or f"pool{pool.id}"
    return f"alp-{safe[:80]}-cycle{cycle.index}.pt"


def version(cycle: Cycle, size: int | None) -> str:
    """``c<id>-<size hex>-<metrics digest>``: changes whenever the stored checkpoint does
    (evaluation rewrites its metrics, which the cycle row holds too)."""
    digest = hashlib.sha256(json.dumps(cycle.metrics or {}, sort_keys=True).encode()).hexdigest()
    return f"c{cycle.id}-{size or 0:x}-{digest[:12]}"


def etag(cycle: Cycle, size: int | None) -> str:
    """The checkpoint download's ETag (:func:`version`, quoted)."""
    return f'"{version(cycle, size)}"'
