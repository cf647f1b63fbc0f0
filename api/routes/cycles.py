"""Cycles: start, list, read, retry, cancel; the pool's next batch to label."""

from __future__ import annotations

from fastapi import APIRouter, Query

from alp.schemas_cycles import CycleOut, CycleStarted, NextBatch
from alp.services import cycles, job_rows, pools, selection
from api.deps import DB, KEYED, Id, State

router = APIRouter(tags=["cycles"], dependencies=KEYED)


@router.post("/pools/{pool_id}/cycles", status_code=202, response_model=CycleStarted)
def start_cycle(pool_id: Id, db: DB) -> CycleStarted:
    cycle, job = cycles.start_cycle(db, pool_id)
    db.commit()
    return CycleStarted(cycle=cycles.to_out(db, cycle), job=job_rows.to_out(job))


@router.get("/pools/{pool_id}/cycles", response_model=list[CycleOut])
def list_cycles(pool_id: Id, db: DB) -> list[CycleOut]:
    pools.get_pool(db, pool_id)
    return [cycles.to_out(db, c, with_jobs=False) for c in cycles.list_cycles(db, pool_id)]


@router.get("/cycles/{cycle_id}", response_model=CycleOut)
def get_cycle(cycle_id: Id, db: DB) -> CycleOut:
    return cycles.to_out(db, cycles.get_cycle(db, cycle_id))


@router.post("/cycles/{cycle_id}/retry", status_code=202, response_model=CycleStarted)
def retry_cycle(cycle_id: Id, db: DB) -> CycleStarted:
    cycle, job = cycles.retry_cycle(db, cycle_id)
    db.commit()
    return CycleStarted(cycle=cycles.to_out(db, cycle), job=job_rows.to_out(job))


@router.post("/cycles/{cycle_id}/cancel", response_model=CycleOut)
def cancel_cycle(cycle_id: Id, db: DB) -> CycleOut:
    cycle = cycles.cancel_cycle(db, cycle_id)
    db.commit()
    return cycles.to_out(db, cycle)


@router.get("/pools/{pool_id}/next-batch", response_model=NextBatch)
def next_batch(
    pool_id: Id, db: DB, st: State, limit: int = Query(20, ge=1, le=selection.MAX_LIMIT)
) -> NextBatch:
    return selection.next_batch(db, st.settings, pool_id, limit)
