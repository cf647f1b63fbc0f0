"""Pools: create, list, get, patch, delete."""

from __future__ import annotations

from fastapi import APIRouter

from alp.schemas import PoolCreate, PoolOut, PoolPatch
from alp.services import audit, deletion, pools
from api import access
from api.deps import DB, KEYED, Id, Key

router = APIRouter(tags=["pools"], dependencies=KEYED)


@router.post("/pools", status_code=201, response_model=PoolOut)
def create_pool(body: PoolCreate, db: DB) -> PoolOut:
    pool = pools.create_pool(db, body)
    db.commit()
    return pools.to_out(pool, pools.image_counts(db, [pool.id])[pool.id])


@router.get("/pools", response_model=list[PoolOut])
def list_pools(db: DB, key: Key) -> list[PoolOut]:
    """Every pool (a pool-limited key sees only its own)."""
    rows = pools.list_pools(db)
    rows = [p for p in rows if p.id in access.visible_pools(key, [p.id for p in rows])]
    counts = pools.image_counts(db, [p.id for p in rows])
    return [pools.to_out(p, counts[p.id]) for p in rows]


@router.get("/pools/{pool_id}", response_model=PoolOut)
def get_pool(pool_id: Id, db: DB) -> PoolOut:
    pool = pools.get_pool(db, pool_id)
    return pools.to_out(pool, pools.image_counts(db, [pool.id])[pool.id])


@router.patch("/pools/{pool_id}", response_model=PoolOut)
def patch_pool(pool_id: Id, body: PoolPatch, db: DB, key: Key) -> PoolOut:
    pool = pools.patch_pool(db, pools.get_pool(db, pool_id), body)
    changes = body.model_dump(mode="json", exclude_unset=True)
    audit.record(db, key.name, "pool.changed", f"pool {pool_id}", changes=changes)
    db.commit()
    return pools.to_out(pool, pools.image_counts(db, [pool.id])[pool.id])


@router.delete("/pools/{pool_id}", status_code=204, responses={409: {}})
def delete_pool(pool_id: Id, db: DB, key: Key) -> None:
    """Delete the pool with all its images, annotations, cycles and jobs (409 while a
    cycle is active); its files are removed by a worker job after the commit. Its Label
    Studio project is left as it is; its tasks are marked `alp_deleted` by a job."""
    deletion.delete_pool(db, pool_id)
    audit.record(db, key.name, "pool.deleted", f"pool {pool_id}")
    db.commit()
