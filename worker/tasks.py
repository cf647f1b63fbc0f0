"""Celery tasks: ids-only arguments, each parses, calls a pipeline/service, commits.

Every task is idempotent and acknowledged late (``alp.jobs.make_celery``): a message
redelivered after a worker crash re-claims its job's lease and redoes the stage, or finds
the job finished and returns.
"""

from __future__ import annotations

import logging

from alp import jobs
from alp.services import health
from worker import context
from worker.registry import task

log = logging.getLogger("alp.worker.tasks")


@task(name=jobs.PING)
def ping(nonce: str) -> str:
    """Liveness round trip used by ``/healthz``."""
    with context.session() as db:
        health.record_pong(db, nonce)
        db.commit()
    return nonce


@task(name=jobs.CYCLE_TRAIN)
def cycle_train(job_id: int) -> None:
    from worker.pipeline import train

    train.run(job_id)


@task(name=jobs.PREDICT)
def predict(job_id: int) -> None:
    """On-demand predictions (``POST /pools/{id}/predictions``)."""
    from worker.pipeline import predict as predict_stage

    predict_stage.run(job_id)


@task(name=jobs.EXPORT_ONNX)
def export_onnx(job_id: int) -> None:
    """A checkpoint as ONNX (``GET .../model?format=onnx``)."""
    from worker import model_export

    model_export.run(job_id)


@task(name=jobs.CYCLE_EVALUATE)
def cycle_evaluate(job_id: int) -> None:
    from worker.pipeline import evaluate

    evaluate.run(job_id)


@task(name=jobs.CYCLE_SCORE_SHARD)
def cycle_score_shard(shard_id: int) -> None:
    from worker.pipeline import score

    score.run_shard(shard_id)


@task(name=jobs.CYCLE_SELECT)
def cycle_select(job_id: int) -> None:
    from worker.pipeline import select

    select.run(job_id)


@task(name=jobs.BACKTEST_RUN)
def backtest_run(job_id: int) -> None:
    from worker import backtest_task

    backtest_task.run(job_id)


@task(name=jobs.WATCHDOG)
def watchdog() -> dict[str, int]:
    from worker.pipeline import watchdog as wd

    with context.session() as db:
        counts = wd.check(db, context.settings().worker_stale_after_s)
        db.commit()
    if any(counts.values()):
        log.warning("watchdog: %s", counts)
    return counts
