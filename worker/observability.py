"""What an operator watches on a worker: Prometheus metrics and the ids in its log lines.

Metrics, served by the worker's main process on ``ALP_WORKER_METRICS_PORT`` (0, the
default: not served) at ``/metrics``:

- ``alp_stage_duration_seconds{stage}`` (histogram): wall time of each task run that did
  its work (a pipeline stage that took its job's lease; every run of other tasks). Stages:
  ``train``, ``evaluate``, ``score`` (one scoring shard), ``select``, ``predict``,
  ``backtest``; other tasks are named after their task (``labelstudio.sync``, ``ping``...).
- ``alp_stage_failures_total{stage}``: task runs that raised, and stage runs that recorded
  a failure (the job failed, or a scoring shard failed an attempt).
- ``alp_images_scored_total``: images of completed scoring shards;
  ``rate(alp_images_scored_total[5m])`` is images scored per second.
- ``alp_queue_depth{queue}`` and ``alp_broker_up``: read from the broker at scrape time
  (:mod:`alp.services.metrics`).

All of it is observed from Celery's task signals plus one small read of the job's (or
shard's) row before and after the run, so the pipeline code needs no hooks; nothing is
read or recorded unless metrics are served or ``ALP_LOG_FORMAT=json``.

Processes: ``celery worker`` runs tasks in forked pool processes (prefork), so the metrics
use prometheus_client's multiprocess mode: each process writes its values to files in
``$PROMETHEUS_MULTIPROC_DIR`` (default ``<ALP_DATA_DIR>/worker-metrics``), and the main
process, which serves, sums them. Workers sharing a data dir on one host (``alp up``: the
gpu and the io worker) share that directory; the first to bind the port serves them all.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery import Celery, signals
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from sqlalchemy import select

from alp import jobs, logs
from alp.config import Settings
from alp.db import Cycle, Job, ScoreShard
from alp.services.metrics import QueueDepthCollector
from worker import context

log = logging.getLogger("alp.worker.observability")
STAGES = {
    jobs.CYCLE_TRAIN: "train",
    jobs.CYCLE_EVALUATE: "evaluate",
    jobs.CYCLE_SCORE_SHARD: "score",
    jobs.CYCLE_SELECT: "select",
    jobs.PREDICT: "predict",
    jobs.BACKTEST_RUN: "backtest",
}
JOB_TASKS = (jobs.CYCLE_TRAIN, jobs.CYCLE_EVALUATE, jobs.CYCLE_SELECT, jobs.PREDICT,
             jobs.BACKTEST_RUN)  # fmt: skip
BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800)


def stage_of(task_name: str) -> str:
    return STAGES.get(task_name) or task_name.removeprefix("alp.")


@dataclass
class Metrics:
    duration: Histogram
    failures: Counter
    images_scored: Counter


_metrics: Metrics | None = None
_lock = threading.Lock()


def metrics() -> Metrics:
    """The worker's metrics, made on first use (after :func:`serve` chose the value class)."""
    global _metrics
    with _lock:
        if _metrics is None:
            _metrics = Metrics(
                Histogram("alp_stage_duration_seconds", "Wall time of stage (task) runs",
                          ["stage"], buckets=BUCKETS),
                Counter("alp_stage_failures_total", "Failed stage (task) runs", ["stage"]),
                Counter("alp_images_scored_total", "Images of completed scoring shards"),
            )  # fmt: skip
        return _metrics


def active(s: Settings | None = None) -> bool:
    s = s or context.settings()
    return s.worker_metrics_port > 0 or s.log_format == "json"


# --------------------------------------------------------------------------- serving
def metrics_dir(s: Settings) -> Path:
    env = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(env) if env else s.data_dir / "worker-metrics"


def _drop_dead_files(directory: Path) -> None:
    """Remove value files of processes that no longer run (earlier runs of the worker);
    their counters restart from zero, which ``rate()`` handles as a counter reset."""
    for f in directory.glob("*.db"):
        pid = f.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            f.unlink(missing_ok=True)


def serve(s: Settings, celery: Celery) -> int | None:
    """Switch this process (and the pool processes it will fork) to multiprocess metrics
    and serve them with the queue depths on ``s.worker_metrics_port``; returns the port,
    or None when another worker of this host already serves it (logged)."""
    from prometheus_client import values
    from prometheus_client.multiprocess import MultiProcessCollector

    directory = metrics_dir(s)
    directory.mkdir(parents=True, exist_ok=True)
    if _metrics is None:  # else values were made in-process already (tests): keep them
        if os.path.isdir("/proc"):
            _drop_dead_files(directory)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
        values.ValueClass = values.get_value_class()
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    registry.register(QueueDepthCollector(celery))
    try:
        start_http_server(s.worker_metrics_port, registry=registry)
    except OSError as exc:
        _serving["note"] = (
            f"worker metrics: port {s.worker_metrics_port} not served by this worker "
            f"({exc}); another worker of this host serves {directory}"
        )
        return None
    _serving["note"] = f"worker metrics on :{s.worker_metrics_port}/metrics ({directory})"
    return s.worker_metrics_port


_serving: dict[str, str] = {}  # what serve() did, logged once logging is set up


@signals.worker_ready.connect
def _on_ready(**_: Any) -> None:
    if "note" in _serving:
        log.info(_serving["note"])


# --------------------------------------------------------------------------- observing
@dataclass
class _Run:
    started: float
    before: tuple[str, int] | None
    token: Any
    failed: bool = False


_runs: dict[str, _Run] = {}


def _row(task_name: str, args: tuple[Any, ...]) -> tuple[tuple[str, int] | None, dict[str, Any]]:
    """``(state, attempts)`` of the task's job or shard, and the ids for log lines."""
    if not args or not isinstance(args[0], int):
        return None, {}
    with context.session() as db:
        if task_name in JOB_TASKS:
            job = db.get(Job, args[0])
            if job is None:
                return None, {"job_id": args[0]}
            ids = {"job_id": job.id, "cycle_id": job.cycle_id, "pool_id": job.pool_id}
            return (job.state, job.attempts), ids
        if task_name == jobs.CYCLE_SCORE_SHARD:
            shard = db.get(ScoreShard, args[0])
            if shard is None:
                return None, {"shard_id": args[0]}
            pool = db.scalar(select(Cycle.pool_id).where(Cycle.id == shard.cycle_id))
            ids = {"shard_id": shard.id, "cycle_id": shard.cycle_id, "pool_id": pool}
            return (shard.state, shard.attempts), ids
    return None, {}


def on_prerun(task_id: str, task_name: str, args: tuple[Any, ...]) -> None:
    if not active():
        return
    before, ids = None, {}
    try:
        before, ids = _row(task_name, args)
    except Exception:
        log.warning("could not read the row of task %s", task_name, exc_info=True)
    token = logs.bind(task=task_name, task_id=task_id, **ids)
    _runs[task_id] = _Run(time.perf_counter(), before, token)


def on_failure(task_id: str, task_name: str) -> None:
    run = _runs.get(task_id)
    if run is not None:
        run.failed = True
        metrics().failures.labels(stage_of(task_name)).inc()


def on_postrun(task_id: str, task_name: str, args: tuple[Any, ...]) -> None:
    run = _runs.pop(task_id, None)
    if run is None:
        return
    try:
        _observe(run, task_name, args)
    finally:
        with contextlib.suppress(ValueError):  # bound in another context (not in Celery)
            logs.unbind(run.token)


def _observe(run: _Run, task_name: str, args: tuple[Any, ...]) -> None:
    seconds = time.perf_counter() - run.started
    m, stage = metrics(), stage_of(task_name)
    if task_name not in STAGES or run.before is None:
        m.duration.labels(stage).observe(seconds)
        return
    try:
        after, _ = _row(task_name, args)
    except Exception:
        log.warning("could not read the row of task %s", task_name, exc_info=True)
        return
    if after is None or after[1] == run.before[1]:
        return  # the lease was not taken: nothing to do, or another worker holds it
    m.duration.labels(stage).observe(seconds)
    failed = after[0] == "failed" or (
        task_name == jobs.CYCLE_SCORE_SHARD and after[0] == "pending"  # retried
    )
    if failed and not run.failed:
        m.failures.labels(stage).inc()
    if task_name == jobs.CYCLE_SCORE_SHARD and after[0] == "done":
        with context.session() as db:
            ids = db.scalar(select(ScoreShard.image_ids).where(ScoreShard.id == args[0]))
        m.images_scored.inc(len(ids or []))


# --------------------------------------------------------------------------- wiring
@signals.celeryd_init.connect
def _on_worker_init(**_: Any) -> None:
    """In the worker's main process, before the pool processes fork."""
    s = context.settings()
    if s.worker_metrics_port > 0:
        serve(s, context.celery())  # the app worker.app handed in


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _on_logger(logger: logging.Logger, **_: Any) -> None:
    if context.settings().log_format == "json":
        logs.use_json(logger)
        logs.use_json(logging.getLogger("multiprocessing"))  # billiard's pool messages


@signals.task_prerun.connect
def _prerun(task_id: str, task: Any, args: tuple[Any, ...] = (), **_: Any) -> None:
    on_prerun(task_id, task.name, tuple(args or ()))


@signals.task_failure.connect
def _failure(sender: Any = None, task_id: str = "", **_: Any) -> None:
    on_failure(task_id, sender.name)


@signals.task_postrun.connect
def _postrun(task_id: str, task: Any, args: tuple[Any, ...] = (), **_: Any) -> None:
    on_postrun(task_id, task.name, tuple(args or ()))
