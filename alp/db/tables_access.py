"""Tables of access control: API keys and the append-only audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from alp.db.base import Base, utcnow
from alp.db.tables import PK


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    # admin | editor | annotator | viewer (api/access.py); keys from before roles are admin.
    role: Mapped[str] = mapped_column(String(16), default="admin", server_default="admin")
    pools: Mapped[list[Any] | None]  # pool ids the key is limited to; None = every pool
    expires_at: Mapped[datetime | None]


class AuditEvent(Base):
    """Append-only log of administrative acts (``alp.services.audit``); never updated."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str | None] = mapped_column(String(200))  # key name; "cli" for local
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
