"""Enqueue-after-commit: services call ``enqueue(db, TASK, *args)``; the task is sent to the
broker only once the session's transaction commits (and dropped on rollback), so a worker
never sees an id whose row is not yet visible.

The Celery app comes from the session's ``info["celery"]`` (set by
``make_sessionmaker(engine, celery=app)``).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from alp import jobs

log = logging.getLogger("alp.outbox")
_KEY = "alp_outbox"


def enqueue(db: Session, name: str, *args: Any, countdown: float | None = None) -> None:
    db.info.setdefault(_KEY, []).append((name, args, countdown))


def pending(db: Session) -> list[tuple[str, tuple[Any, ...], float | None]]:
    return list(db.info.get(_KEY, []))


@event.listens_for(Session, "after_commit")
def _send(session: Session) -> None:
    items = session.info.pop(_KEY, [])
    if not items:
        return
    app = session.info.get("celery")
    if app is None:
        log.warning("no celery app on session; dropping %d task(s)", len(items))
        return
    for name, args, countdown in items:
        try:
            app.send_task(
                name, args=list(args), queue=jobs.route_for(name), countdown=countdown
            )
        except Exception:  # the watchdog re-sends work whose job stays queued
            log.exception("could not enqueue %s%r", name, args)


@event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    session.info.pop(_KEY, None)
