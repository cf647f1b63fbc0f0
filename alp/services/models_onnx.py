"""The trained model out as ONNX, made on demand: the first ``GET .../model?format=onnx``
queues an ``export_onnx`` job on the gpu queue (``worker.model_export``), which stores the
file next to the checkpoint; later requests stream it. No torch here.

The stored file's key carries the checkpoint's :func:`models_out.version`, so a
checkpoint that changes (evaluation rewrites its metrics) is exported again and a stale
file is never served. One export per version: while a job for it is queued or running,
requests answer with that job; a failed one is reported (409) until ``retry`` queues a
new one; a running job whose worker stopped beating is replaced.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from alp import jobs, outbox
from alp.db import Cycle, Job, utcnow
from alp.errors import Conflict
from alp.services import job_rows, models_out
from alp.storage import Storage

KIND = "export_onnx"
MEDIA_TYPE = "application/octet-stream"


def onnx_key(checkpoint_key: str, version: str) -> str:
    """``pools/<p>/checkpoints/cycle-<c>.<version>.onnx`` next to ``cycle-<c>.pt`` (the
    storage check counts it as the cycle's)."""
    stem = checkpoint_key[:-3] if checkpoint_key.endswith(".pt") else checkpoint_key
    return f"{stem}.{version}.onnx"


def file_name(db: Session, cycle: Cycle) -> str:
    """``alp-<pool>-cycle<N>.onnx`` (the checkpoint's name with the ONNX suffix)."""
    return models_out.file_name(db, cycle)[:-3] + ".onnx"


def etag(version: str) -> str:
    return f'"{version}-onnx"'


def latest_job(db: Session, cycle: Cycle, version: str) -> Job | None:
    """The newest ``export_onnx`` job of this checkpoint version, or None."""
    rows = db.scalars(
        select(Job).where(Job.kind == KIND, Job.pool_id == cycle.pool_id).order_by(Job.id.desc())
    )
    for job in rows:
        payload = job.payload or {}
        if payload.get("cycle_id") == cycle.id and payload.get("version") == version:
            return job
    return None


def onnx_model(
    db: Session, storage: Storage, cycle: Cycle, checkpoint_key: str, stale_after_s: float,
    retry: bool = False,
) -> tuple[str, str | None, Job | None]:  # fmt: skip
    """``(version, key, None)`` when the ONNX file of the cycle's current checkpoint is
    stored; else ``(version, None, job)`` with the export job in progress, or a new one
    (flushed; its message is sent after the caller commits).

    ``Conflict`` (the job's error) when the export of this version failed and ``retry`` is
    not set."""
    version = models_out.version(cycle, storage.size(checkpoint_key))
    key = onnx_key(checkpoint_key, version)
    if storage.exists(key):
        return version, key, None
    job = latest_job(db, cycle, version)
    if job is not None and job.state == "failed" and not retry:
        raise Conflict(
            f"the ONNX export of cycle {cycle.id}'s model failed (job {job.id}): "
            f"{job.error or job.message}; add retry=true to try again"
        )
    if job is not None and _in_progress(job, stale_after_s):
        return version, None, job
    job = Job(kind=KIND, pool_id=cycle.pool_id, cycle_id=None, state="queued",
              message="queued", heartbeat_at=utcnow(),
              payload={"cycle_id": cycle.id, "version": version,
                       "checkpoint_key": checkpoint_key, "key": key})  # fmt: skip
    db.add(job)
    db.flush()
    outbox.enqueue(db, jobs.EXPORT_ONNX, job.id)
    return version, None, job


def _in_progress(job: Job, stale_after_s: float) -> bool:
    """Queued (waits for the gpu queue, however long), or running with a live heartbeat."""
    if job.state == "queued":
        return True
    if job.state != "running":
        return False
    beat = job.heartbeat_at
    return beat is not None and beat >= job_rows.stale_cutoff(stale_after_s)
