"""Backtests (issue 22): start (validated, estimated, one active per pool), read, cancel,
apply the recommendation; the worker side (:mod:`worker.backtest_task`) claims the job and
writes the results with :func:`finish`.

The row's ``state`` mirrors its job's. A partial unique index allows one ``queued`` /
``running`` backtest per pool, so two concurrent starts cannot both insert (409). Every
helper flushes only; the caller commits (and the task is sent after the commit).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alp import jobs, outbox
from alp.db import Backtest, Cycle, Image, Job, Pool, utcnow
from alp.db.tables import ACTIVE_BACKTEST_STATES
from alp.errors import Conflict, NotFound, Unprocessable
from alp.schemas import PoolPatch
from alp.schemas_backtests import (
    DEFAULT_STEP_S,
    REFERENCE_PIXELS,
    BacktestCreate,
    BacktestOut,
    RunPlan,
    check_size,
    estimate_s,
    parse_runs,
    required_labeled,
)
from alp.services import job_rows, pools

KIND = "backtest"


def get_backtest(db: Session, backtest_id: int) -> Backtest:
    row = db.get(Backtest, backtest_id)
    if row is None:
        raise NotFound(f"backtest {backtest_id} not found")
    return row


def list_backtests(db: Session, pool_id: int) -> list[Backtest]:
    q = select(Backtest).where(Backtest.pool_id == pool_id).order_by(Backtest.id.desc())
    return list(db.scalars(q))


def labeled_train_count(db: Session, pool_id: int) -> int:
    """Labelled train-split images: what the replay pool and the test part are cut from."""
    q = select(func.count()).where(
        Image.pool_id == pool_id, Image.state == "labeled", Image.split == "train"
    )
    return int(db.scalar(q) or 0)


def profile(settings: dict[str, Any], data: BacktestCreate) -> dict[str, Any]:
    """The detector of every replayed cycle: the request's fields, else the pool's
    ``train_overrides``, else the cycle defaults (tiny, 128 px, 300 steps of 8)."""
    over = settings.get("train_overrides") or {}
    det = over.get("detector") or {}
    m = data.model
    return {
        "backbone": m.backbone or det.get("backbone") or "tiny",
        "image_size": m.image_size or det.get("min_size") or 128,
        "iterations": m.iterations or over.get("iterations") or 300,
        "batch_size": m.batch_size or over.get("batch_size") or 8,
    }


def step_seconds(db: Session, pool_id: int, prof: dict[str, Any]) -> tuple[float, str]:
    """Seconds per training step at ``prof``'s batch and size, from the pool's latest
    trained cycle (its training time / steps, scaled by pixels per batch), else a default."""
    pixels = prof["batch_size"] * prof["image_size"] ** 2
    for cycle in db.scalars(
        select(Cycle).where(Cycle.pool_id == pool_id).order_by(Cycle.index.desc()).limit(10)
    ):
        seconds = (cycle.timings or {}).get("training")
        if not seconds:
            continue
        cfg = profile(cycle.config or {}, BacktestCreate(strategies=["random"]))
        per_step = float(seconds) / cfg["iterations"]
        return per_step * pixels / (cfg["batch_size"] * cfg["image_size"] ** 2), (
            f"cycle #{cycle.index}'s training speed"
        )
    return DEFAULT_STEP_S * pixels / REFERENCE_PIXELS, "a default speed (no trained cycle yet)"


def plan_runs(pool: Pool, data: BacktestCreate) -> list[RunPlan]:
    """Requested runs plus (``include_references``) ``random`` and the pool's strategy."""
    preset = pool.settings.get("train_preset", "huale")
    try:
        runs = parse_runs(data.strategies, preset, data.strategy_params)
    except ValueError as exc:
        raise Unprocessable(str(exc)) from exc
    if data.include_references:
        current = RunPlan(label=f"{pool.settings.get('strategy', 'hua')}:{preset}",
                          strategy=pool.settings.get("strategy", "hua"), preset=preset,
                          params=dict(pool.settings.get("strategy_params") or {}))  # fmt: skip
        for ref in (RunPlan(label=f"random:{preset}", strategy="random", preset=preset), current):
            if not any(r.strategy == ref.strategy for r in runs):
                runs.append(ref)
    return runs


def references(pool: Pool, runs: list[RunPlan]) -> list[str]:
    """Runs every other run is compared with: ``random`` and the pool's current strategy
    (at its train preset), those of them that are among ``runs``."""
    preset = pool.settings.get("train_preset", "huale")
    current = f"{pool.settings.get('strategy', 'hua')}:{preset}"
    rand = [r.label for r in runs if r.strategy == "random"][:1]
    return rand + [r.label for r in runs if r.label == current and r.label not in rand]


def _release_lost(db: Session, pool_id: int, stale_after_s: float) -> None:
    """Fail an active backtest whose worker stopped heart-beating (it would block the pool)."""
    cutoff = job_rows.stale_cutoff(stale_after_s)
    for row in db.scalars(select(Backtest).where(
        Backtest.pool_id == pool_id, Backtest.state == "running"
    )):  # fmt: skip
        job = db.get(Job, row.job_id) if row.job_id else None
        if job is None or (job.heartbeat_at is not None and job.heartbeat_at < cutoff):
            if job is not None:
                job_rows.finish(db, job.id, None, "failed", "worker lost", "worker lost")
            row.state, row.error, row.finished_at = "failed", "worker lost", utcnow()
    db.flush()


def start(db: Session, pool_id: int, data: BacktestCreate, stale_after_s: float = 60.0) -> Backtest:
    """Validate, estimate and queue a backtest. 404 unknown pool; 422 bad strategies or
    too few labelled images (saying how many are needed); 409 one already active."""
    pool = pools.get_pool(db, pool_id)
    runs = plan_runs(pool, data)
    n = labeled_train_count(db, pool_id)
    try:
        check_size(n, data.initial, data.budget, data.rounds, data.test_size)
    except ValueError as exc:
        raise Unprocessable(str(exc)) from exc
    prof = profile(pool.settings, data)
    step, source = step_seconds(db, pool_id, prof)
    estimate = estimate_s(step, data.seeds, runs, data.rounds + 1, prof["iterations"])
    _release_lost(db, pool_id, stale_after_s)
    request = {**data.model_dump(), "model": prof, "runs": [r.model_dump() for r in runs],
               "required_labeled": required_labeled(data.initial, data.budget, data.rounds,
                                                    data.test_size),
               "estimate_from": source, "references": references(pool, runs)}  # fmt: skip
    try:
        with db.begin_nested():
            job = Job(kind=KIND, pool_id=pool_id, state="queued", message="queued",
                      heartbeat_at=utcnow())  # fmt: skip
            db.add(job)
            db.flush()
            row = Backtest(pool_id=pool_id, job_id=job.id, state="queued", request=request,
                           estimate_s=round(estimate, 1))  # fmt: skip
            db.add(row)
            db.flush()
    except IntegrityError as exc:
        active = db.scalar(select(Backtest.id).where(
            Backtest.pool_id == pool_id, Backtest.state.in_(ACTIVE_BACKTEST_STATES)))  # fmt: skip
        raise Conflict(f"pool {pool_id} already has a backtest running (id {active}); "
                       "cancel it or wait until it is done") from exc  # fmt: skip
    outbox.enqueue(db, jobs.BACKTEST_RUN, job.id)
    return row


def cancel(db: Session, backtest_id: int) -> Backtest:
    """Cancel a queued/running backtest: its job is cancelled now, the worker stops at its
    next heartbeat and writes nothing. 409 when it already finished."""
    row = get_backtest(db, backtest_id)
    if row.state not in ACTIVE_BACKTEST_STATES:
        raise Conflict(f"backtest {backtest_id} is {row.state}; only an active one can be "
                       "cancelled")  # fmt: skip
    if row.job_id is not None:
        job_rows.finish(db, row.job_id, None, "cancelled", "cancelled")
    row.state, row.finished_at = "cancelled", utcnow()
    db.flush()
    return row


def finish(
    db: Session, row: Backtest, token: int, state: str, message: str,
    results: dict[str, Any] | None = None, error: str | None = None,
) -> bool:  # fmt: skip
    """Finish the job (only while holding its lease) and, in the same transaction, the row
    and its results. False (nothing written) after a cancel or a lost lease."""
    assert row.job_id is not None
    if not job_rows.finish(db, row.job_id, token, state, message, error):
        return False
    db.refresh(row)
    row.state, row.results, row.error, row.finished_at = state, results, error, utcnow()
    db.flush()
    return True


def apply(db: Session, backtest_id: int, label: str | None = None) -> Pool:
    """PATCH the pool's strategy (and its parameters and train preset) to the backtest's
    recommendation, or to run ``label``; records ``strategy_backtest_id``. 409 when the
    backtest has no recommendation and no run is named; 422 for an unknown run."""
    row = get_backtest(db, backtest_id)
    rec = ((row.results or {}).get("recommendation") or {}).get("recommendation")
    label = label or rec
    if row.state != "succeeded" or not label:
        raise Conflict(f"backtest {backtest_id} ({row.state}) recommends no strategy: "
                       "name the run to apply")  # fmt: skip
    run = next((r for r in row.request.get("runs", []) if r["label"] == label), None)
    if run is None:
        raise Unprocessable(f"backtest {backtest_id} has no run {label!r}")
    pool = pools.get_pool(db, row.pool_id)
    settings = {"strategy": run["strategy"], "strategy_params": run["params"],
                "train_preset": run["preset"], "strategy_backtest_id": row.id}  # fmt: skip
    return pools.patch_pool(db, pool, PoolPatch(settings=settings))


def to_out(db: Session, row: Backtest) -> BacktestOut:
    job = db.get(Job, row.job_id) if row.job_id else None
    req = dict(row.request or {})
    return BacktestOut(
        id=row.id, pool_id=row.pool_id, state=row.state, request=req,
        runs=[RunPlan(**r) for r in req.get("runs", [])], estimate_s=row.estimate_s,
        required_labeled=int(req.get("required_labeled", 0)), error=row.error,
        results=row.results, created_at=row.created_at, finished_at=row.finished_at,
        job=job_rows.to_out(job) if job is not None else None,
    )  # fmt: skip
