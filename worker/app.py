"""The worker's Celery app: ``celery -A worker.app worker`` (``alp worker`` wraps it)."""

from __future__ import annotations

from alp.jobs import make_celery
from worker.lifeline import watch_parent

celery_app = make_celery()
watch_parent()  # under `alp up`: never outlive it
app = celery_app

# Registers the tasks (imported after celery_app exists: they decorate with it).
import worker.cleanup_tasks  # noqa: E402
import worker.labelstudio_tasks  # noqa: E402
import worker.observability  # noqa: E402  (metrics and log ids, via Celery signals)
import worker.tasks  # noqa: E402,F401
