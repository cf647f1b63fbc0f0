"""API key management bodies (``/api/v1/keys``, ``alp keys``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from alp.db import ApiKey
from alp.db.tables import MAX_ID
from alp.services import keys

Role = Literal["admin", "editor", "annotator", "viewer"]


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: Role
    pools: list[int] | None = Field(
        None, min_length=1, max_length=1000, description="Limit the key to these pool ids."
    )
    expires_in: str | None = Field(
        None, max_length=16, description="Lifetime like 30d, 12h or 90m; never when omitted."
    )

    def pool_ids(self) -> list[int] | None:
        if self.pools is not None and any(p < 1 or p > MAX_ID for p in self.pools):
            raise ValueError("pool ids are 1 .. 2^63-1")
        return self.pools


class KeyOut(BaseModel):
    id: int
    prefix: str = Field(description="Public part: the key reads alp_<prefix>_<secret>.")
    name: str
    role: Role
    pools: list[int] | None
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    active: bool = Field(description="Neither revoked nor expired.")

    @classmethod
    def of(cls, row: ApiKey) -> KeyOut:
        return cls(
            id=row.id, prefix=row.prefix, name=row.name, role=row.role, pools=row.pools,
            created_at=row.created_at, last_used_at=row.last_used_at,
            expires_at=row.expires_at, revoked_at=row.revoked_at,
            active=keys.inactive_reason(row) is None,
        )  # fmt: skip


class KeyCreated(KeyOut):
    key: str = Field(description="The secret key, shown this once only.")
