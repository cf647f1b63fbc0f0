"""Label Studio tasks (io queue): push a cycle, sync a pool, periodic reconciliation.

Failures talking to Label Studio are recorded on the connection (``GET
/pools/{id}/labelstudio`` shows them); an unreachable server makes push/sync/mark retry
with exponential backoff (Celery's ``autoretry_for``: 1, 2, 4, ... s, at most
``MAX_BACKOFF_S``, ``MAX_RETRIES`` times), and the periodic reconciliation re-pushes
anything left unpushed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from alp import jobs
from alp.db import Cycle, utcnow
from alp.labelstudio import mapping, push, sync
from alp.labelstudio.client import LabelStudioClient, LabelStudioError
from worker import context
from worker.registry import task

log = logging.getLogger("alp.labelstudio")
MAX_RETRIES = 12
MAX_BACKOFF_S = 30


class LabelStudioUnavailable(Exception):
    """A retryable Label Studio error (server unreachable, 5xx): the task is retried."""


# Celery's retry policy for the tasks that talk to Label Studio: on LabelStudioUnavailable
# retry after min(2**retries, MAX_BACKOFF_S) s (no jitter), at most MAX_RETRIES times.
RETRY: dict[str, Any] = {
    "autoretry_for": (LabelStudioUnavailable,),
    "retry_backoff": True,
    "retry_backoff_max": MAX_BACKOFF_S,
    "retry_jitter": False,
    "max_retries": MAX_RETRIES,
}


def _unavailable(exc: LabelStudioError) -> LabelStudioUnavailable:
    return LabelStudioUnavailable(exc.message)


def _guarded(db: Session, pool_id: int, what: str, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` and commit; on a Label Studio error roll back, record it, re-raise."""
    try:
        out = fn()
        db.commit()
        return out
    except LabelStudioError as exc:
        db.rollback()
        sync.record_failure(db, pool_id, f"{what} failed: {exc.message}")
        db.commit()
        raise


@task(name=jobs.LS_PUSH, **RETRY)
def ls_push(cycle_id: int) -> dict[str, Any]:
    """Push cycle ``cycle_id``'s selection (idempotent; retried while LS is unreachable)."""
    with context.session() as db:
        cycle = db.get(Cycle, cycle_id)
        if cycle is None:
            return {"cycle_id": cycle_id, "skipped": "cycle not found"}
        try:
            result = _guarded(
                db, cycle.pool_id, f"push of cycle #{cycle.index}",
                lambda: push.push_cycle(db, context.settings(), cycle_id, checkpoint=db.commit),
            )  # fmt: skip
        except LabelStudioError as exc:
            if exc.retryable:
                raise _unavailable(exc) from None
            return {"cycle_id": cycle_id, "error": exc.message}
    return vars(result)


@task(name=jobs.LS_SYNC, bind=True, **RETRY)
def ls_sync(self: Any, pool_id: int, full: bool = False) -> dict[str, Any]:
    """Ingest the pool's changed Label Studio tasks (all of them with ``full``)."""
    with context.session() as db:
        sync.mark_sync_started(db, pool_id)
        db.commit()  # webhooks from now on queue another sync
        try:
            result = _guarded(db, pool_id, "sync", lambda: sync.sync_pool(db, pool_id, full=full))
        except LabelStudioError as exc:
            if exc.retryable:
                raise _unavailable(exc) from None
            return {"pool_id": pool_id, "error": exc.message}
        except (IntegrityError, OperationalError):  # a concurrent sync stored it first
            db.rollback()
            raise self.retry(countdown=1) from None
    return vars(result) if result is not None else {"pool_id": pool_id, "connected": False}


@task(name=jobs.LS_RECONCILE)
def ls_reconcile() -> dict[str, Any]:
    """Beat task: for every connected pool push unpushed selections, then sync."""
    with context.session() as db:
        pool_ids = sync.connected_pools(db)
    done, failed = [], []
    for pool_id in pool_ids:
        with context.session() as db:
            try:
                for cycle_id in sync.pending_push_cycles(db, pool_id):
                    _guarded(
                        db, pool_id, f"push of cycle #{db.get(Cycle, cycle_id).index}",
                        lambda c=cycle_id: push.push_cycle(
                            db, context.settings(), c, checkpoint=db.commit
                        ),
                    )  # fmt: skip
                _guarded(db, pool_id, "sync", lambda p=pool_id: sync.sync_pool(db, p))
                done.append(pool_id)
            except (LabelStudioError, IntegrityError, OperationalError) as exc:
                db.rollback()
                log.warning("reconcile of pool %s failed: %s", pool_id, exc)
                failed.append(pool_id)
    return {"synced": done, "failed": failed}


@task(name=jobs.LS_MARK_DELETED, **RETRY)
def ls_mark_deleted(url: str, token: str, project_id: int, task_ids: list[int]) -> dict[str, Any]:
    """Mark the Label Studio tasks of deleted images (``alp_deleted: true`` in data and
    meta; idempotent); retried while Label Studio is unreachable, else logged and dropped:
    the deletion itself is already committed."""
    mark = {mapping.DELETED_KEY: True, "alp_deleted_at": utcnow().isoformat()}
    marked: list[int] = []
    gone: list[int] = []
    client = None
    try:
        client = LabelStudioClient(url, token)
        for task_id in task_ids:
            (marked if client.mark_task(task_id, mark) else gone).append(task_id)
    except LabelStudioError as exc:
        if exc.retryable:
            raise _unavailable(exc) from None
        log.warning("project %s: marking deleted tasks failed: %s", project_id, exc.message)
        return {"project_id": project_id, "marked": marked, "error": exc.message}
    finally:
        if client is not None:
            client.close()
    return {"project_id": project_id, "marked": marked, "gone": gone}
