"""Celery tasks: ids-only arguments, each parses, calls a pipeline/service, commits."""

from __future__ import annotations

from alp import jobs
from alp.services import health
from worker import context
from worker.app import celery_app


@celery_app.task(name=jobs.PING)
def ping(nonce: str) -> str:
    """Liveness round trip used by ``/healthz``."""
    with context.session() as db:
        health.record_pong(db, nonce)
        db.commit()
    return nonce
