"""Pool operations."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alp.db import Image, Pool
from alp.errors import Conflict, NotFound, Unprocessable
from alp.schemas import PoolCreate, PoolOut, PoolPatch, PoolSettings


def get_pool(db: Session, pool_id: int) -> Pool:
    pool = db.get(Pool, pool_id)
    if pool is None:
        raise NotFound(f"pool {pool_id} not found")
    return pool


def _name_taken(db: Session, name: str, exclude: int | None = None) -> bool:
    q = select(Pool.id).where(Pool.name == name)
    if exclude is not None:
        q = q.where(Pool.id != exclude)
    return db.scalar(q) is not None


def create_pool(db: Session, data: PoolCreate) -> Pool:
    if _name_taken(db, data.name):
        raise Conflict(f"a pool named {data.name!r} already exists")
    pool = Pool(name=data.name, classes=data.classes, settings=data.settings.model_dump())
    db.add(pool)
    db.flush()
    return pool


def image_counts(db: Session, pool_ids: list[int]) -> dict[int, dict[str, int]]:
    """``{pool_id: {state: n, ..., "total": n}}`` in one grouped query."""
    out: dict[int, dict[str, int]] = {
        pid: {"unlabeled": 0, "queued": 0, "labeled": 0, "skipped": 0, "total": 0}
        for pid in pool_ids
    }
    if not pool_ids:
        return out
    rows = db.execute(
        select(Image.pool_id, Image.state, func.count())
        .where(Image.pool_id.in_(pool_ids))
        .group_by(Image.pool_id, Image.state)
    )
    for pid, st, n in rows:
        out[pid][st] = n
        out[pid]["total"] += n
    return out


def to_out(pool: Pool, counts: dict[str, int] | None = None) -> PoolOut:
    return PoolOut(
        id=pool.id,
        name=pool.name,
        classes=pool.classes,
        settings=PoolSettings.model_validate(pool.settings),
        created_at=pool.created_at,
        updated_at=pool.updated_at,
        counts=counts or {},
    )


def list_pools(db: Session) -> list[Pool]:
    return list(db.scalars(select(Pool).order_by(Pool.id)))


def patch_pool(db: Session, pool: Pool, patch: PoolPatch) -> Pool:
    if patch.name is not None:
        name = patch.name.strip()
        if _name_taken(db, name, exclude=pool.id):
            raise Conflict(f"a pool named {name!r} already exists")
        pool.name = name
    if patch.classes is not None and patch.classes != pool.classes:
        has_labels = db.scalar(
            select(Image.id).where(Image.pool_id == pool.id, Image.state == "labeled").limit(1)
        )
        if has_labels and patch.classes[: len(pool.classes)] != pool.classes:
            raise Conflict(
                "this pool has labeled images: classes can only be appended, "
                "not renamed, removed or reordered"
            )
        pool.classes = patch.classes
    if patch.settings is not None:
        merged: dict[str, Any] = {**pool.settings, **patch.settings}
        old = pool.settings.get("strategy")
        new = patch.settings.get("strategy", old)
        if new != old and "strategy_backtest_id" not in patch.settings:
            merged["strategy_backtest_id"] = None  # no backtest justifies the new strategy
        try:
            pool.settings = PoolSettings.model_validate(merged).model_dump()
        except ValidationError as exc:
            raise Unprocessable(_pydantic_message(exc)) from exc
    db.flush()
    return pool


def _pydantic_message(exc: ValidationError) -> str:
    return "; ".join(
        f"settings.{'.'.join(str(p) for p in e['loc'])}: "
        f"{str(e['msg']).removeprefix('Value error, ')}"
        for e in exc.errors()
    )
