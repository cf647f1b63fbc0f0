"""Label Studio webhooks: verify one and queue a sync of its pool; bursts of webhooks
coalesce into one queued sync (see :mod:`alp.labelstudio.sync` for the sync itself)."""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from alp import jobs, outbox
from alp.db import LabelStudioConnection, utcnow
from alp.errors import BadRequest, Unauthorized

# webhooks within this window of a queued, not yet started sync are folded into it (a
# marker older than this, e.g. of a lost task, no longer holds new syncs back)
WEBHOOK_COALESCE_S = 60.0
SYNC_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED",
                "ANNOTATIONS_DELETED")  # fmt: skip


def accept_webhook(
    db: Session, pool_id: int | None, secret: str | None, payload: dict[str, Any]
) -> bool:
    """Verify a webhook and queue a sync of its pool. Returns whether a sync was queued
    (other actions are acknowledged and ignored). 400 without ``pool_id``; 401, the same
    answer, for a wrong or missing secret and for a pool that is not connected (so a caller
    without the secret learns nothing about which pools are connected); the secret is
    compared in constant time, against a dummy when there is no connection."""
    if pool_id is None:
        raise BadRequest("missing pool_id query parameter")
    conn = db.get(LabelStudioConnection, pool_id)
    expected = conn.webhook_secret if conn is not None and conn.webhook_secret else None
    given = (secret or "").encode("utf-8", "replace")
    matches = hmac.compare_digest(given, (expected or "\x00no-connection").encode())
    if conn is None or expected is None or not secret or not matches:
        raise Unauthorized("invalid or missing webhook secret, or the pool is not connected")
    project = payload.get("project")
    project_id = project.get("id") if isinstance(project, dict) else None
    if project_id is not None and project_id != conn.project_id:
        return False
    if payload.get("action") not in SYNC_ACTIONS:
        return False
    now = utcnow()
    pending = conn.sync_queued_at
    if pending is not None and now - pending < timedelta(seconds=WEBHOOK_COALESCE_S):
        return True  # a queued sync has not started yet; it will see this change too
    conn.sync_queued_at = now
    outbox.enqueue(db, jobs.LS_SYNC, pool_id, False)
    return True


def mark_sync_started(db: Session, pool_id: int) -> None:
    """Clear the pending-webhook-sync marker as a sync starts (commit before reading Label
    Studio), so webhooks arriving during this sync queue another one."""
    conn = db.get(LabelStudioConnection, pool_id)
    if conn is not None and conn.sync_queued_at is not None:
        conn.sync_queued_at = None
        db.flush()
