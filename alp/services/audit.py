"""The audit log: who created/revoked keys, changed pool settings, deleted pools/images,
imported labels. Rows are added in the transaction of the act (so an act that rolls back
leaves no entry) and never changed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from alp.db import AuditEvent, utcnow

MAX_LIMIT = 500


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str | None
    action: str
    target: str
    details: dict[str, Any]


def record(db: Session, actor: str | None, action: str, target: str, **details: Any) -> AuditEvent:
    """Add an entry (flushed with the caller's transaction)."""
    row = AuditEvent(at=utcnow(), actor=actor, action=action, target=target[:200], details=details)
    db.add(row)
    return row


def events(db: Session, limit: int = 100, before: int | None = None) -> list[AuditOut]:
    """Newest first; ``before`` (an entry id) pages further back."""
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(min(limit, MAX_LIMIT))
    if before is not None:
        stmt = stmt.where(AuditEvent.id < before)
    return [
        AuditOut(
            id=e.id, at=e.at, actor=e.actor, action=e.action, target=e.target, details=e.details
        )
        for e in db.scalars(stmt)
    ]
