"""The audit log (admins only, per ``api.access``)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from alp.services import audit
from api.deps import DB, KEYED, OptionalIdQuery

router = APIRouter(tags=["keys"], dependencies=KEYED)


@router.get("/audit", response_model=list[audit.AuditOut])
def audit_log(
    db: DB,
    limit: int = Query(100, ge=1, le=audit.MAX_LIMIT),
    before: OptionalIdQuery = None,
) -> list[audit.AuditOut]:
    """Key created/revoked, pool settings changed, pool/image deleted, labels imported;
    newest first (``before`` = the last id seen pages further back)."""
    return audit.events(db, limit, before)
