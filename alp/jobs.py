"""The Celery application and the task names shared by the API (which enqueues by NAME)
and the worker (which implements them). Importing this never imports torch."""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from alp.config import Settings, get_settings

PING = "alp.ping"
# Cycle pipeline (worker/tasks.py implements them).
CYCLE_TRAIN = "alp.cycle.train"
CYCLE_EVALUATE = "alp.cycle.evaluate"
CYCLE_SCORE_SHARD = "alp.cycle.score_shard"
CYCLE_SELECT = "alp.cycle.select"
WATCHDOG = "alp.watchdog"
# Label Studio (io queue).
LS_PUSH = "alp.labelstudio.push"
LS_SYNC = "alp.labelstudio.sync"
LS_RECONCILE = "alp.labelstudio.reconcile"
LS_MARK_DELETED = "alp.labelstudio.mark_deleted"  # tasks of deleted images (deletion.py)
PREDICT = "alp.predict"  # on-demand predictions (gpu queue)
EXPORT_ONNX = "alp.model.export_onnx"  # a checkpoint as ONNX, on demand (gpu queue)
# Backtest on a pool's own labels (gpu queue; worker/backtest_task.py).
BACKTEST_RUN = "alp.backtest.run"
BLOBS_DELETE = "alp.blobs.delete"  # blobs of deleted images/pools (io queue)

GPU_TASKS = (CYCLE_TRAIN, CYCLE_EVALUATE, CYCLE_SCORE_SHARD, PREDICT, BACKTEST_RUN, EXPORT_ONNX)
# Tasks whose first argument is a Job id / a ScoreShard id (the outbox marks their job
# "waiting for broker" while the broker refuses them).
JOB_ID_TASKS = (CYCLE_TRAIN, CYCLE_EVALUATE, CYCLE_SELECT, BACKTEST_RUN, EXPORT_ONNX)
SHARD_ID_TASKS = (CYCLE_SCORE_SHARD,)
QUEUES = ("gpu", "io")


def route_for(name: str) -> str:
    return "gpu" if name in GPU_TASKS else "io"


def make_celery(settings: Settings | None = None) -> Celery:
    s = settings or get_settings()
    s.ensure_dirs()
    app = Celery("alp", broker=s.broker_url)
    app.conf.update(
        task_default_queue="io",
        task_queues=[Queue(q) for q in QUEUES],
        task_routes={name: {"queue": route_for(name)} for name in (*GPU_TASKS,)},
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        alp_outbox_retry_max_s=float(s.outbox_retry_max_s),
        beat_schedule={
            "watchdog": {
                "task": WATCHDOG,
                "schedule": float(s.watchdog_every_s),
                "options": {"queue": "io"},
            },
            "labelstudio-reconcile": {
                "task": LS_RECONCILE,
                "schedule": 60.0,
                "options": {"queue": "io"},
            },
        },
    )
    if s.embedded_broker:
        # kombu's SQLAlchemy transport passes these straight to create_engine().
        app.conf.broker_transport_options = {"connect_args": {"timeout": 30}}
    else:
        app.conf.broker_transport_options = {"visibility_timeout": 6 * 3600}
    return app


def send(app: Celery, name: str, *args: object, **kwargs: object) -> None:
    """Enqueue task ``name`` by name on its queue (call AFTER committing the rows it reads)."""
    app.send_task(name, args=list(args), kwargs=kwargs, queue=route_for(name))
