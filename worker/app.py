"""The worker's Celery app: ``celery -A worker.app worker`` (``alp worker`` wraps it).

The app is made here and handed in: the task modules declared their tasks
(:mod:`worker.registry`) and :mod:`worker.context` sends the outbox's tasks through it; none
of them imports this module.
"""

from __future__ import annotations

from alp.jobs import make_celery
from worker import cleanup_tasks, context, labelstudio_tasks, observability, registry, tasks
from worker.lifeline import watch_parent

celery_app = make_celery()
watch_parent()  # under `alp up`: never outlive it
app = celery_app

context.use_celery(celery_app)
TASK_MODULES = (tasks, cleanup_tasks, labelstudio_tasks)  # imported: their tasks are declared
registry.bind_all(celery_app)
SIGNAL_MODULES = (observability,)  # imported: metrics and log ids, via Celery signals
