"""Backtests (route group ``backtests``): start a replay of active learning on a pool's own
labels, read its results, cancel it, apply its recommendation to the pool."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from alp.schemas import PoolOut
from alp.schemas_backtests import BacktestCreate, BacktestOut
from alp.services import backtests, pools
from api.deps import DB, KEYED, Id, State

router = APIRouter(tags=["backtests"], dependencies=KEYED)


class ApplyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run: str | None = Field(
        None, max_length=200, description="Run label; default: the recommended one."
    )


@router.post("/pools/{pool_id}/backtests", status_code=202, response_model=BacktestOut)
def start_backtest(pool_id: Id, body: BacktestCreate, db: DB, st: State) -> BacktestOut:
    row = backtests.start(db, pool_id, body, st.settings.worker_stale_after_s)
    db.commit()
    return backtests.to_out(db, row)


@router.get("/pools/{pool_id}/backtests", response_model=list[BacktestOut])
def list_backtests(pool_id: Id, db: DB) -> list[BacktestOut]:
    pools.get_pool(db, pool_id)
    return [backtests.to_out(db, b) for b in backtests.list_backtests(db, pool_id)]


@router.get("/backtests/{backtest_id}", response_model=BacktestOut)
def get_backtest(backtest_id: Id, db: DB) -> BacktestOut:
    return backtests.to_out(db, backtests.get_backtest(db, backtest_id))


@router.post("/backtests/{backtest_id}/cancel", response_model=BacktestOut)
def cancel_backtest(backtest_id: Id, db: DB) -> BacktestOut:
    row = backtests.cancel(db, backtest_id)
    db.commit()
    return backtests.to_out(db, row)


@router.post("/backtests/{backtest_id}/apply", response_model=PoolOut)
def apply_backtest(backtest_id: Id, db: DB, body: ApplyBody | None = None) -> PoolOut:
    pool = backtests.apply(db, backtest_id, body.run if body else None)
    db.commit()
    return pools.to_out(pool, pools.image_counts(db, [pool.id])[pool.id])
