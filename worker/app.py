"""The worker's Celery app: ``celery -A worker.app worker`` (``alp worker`` wraps it)."""

from __future__ import annotations

from alp.jobs import make_celery

celery_app = make_celery()
app = celery_app

import worker.tasks  # noqa: E402,F401  (registers the tasks)
import worker.labelstudio_tasks  # noqa: E402,F401
