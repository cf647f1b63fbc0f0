"""API keys (admins only, per ``api.access``): create (secret shown once), list, revoke."""

from __future__ import annotations

from fastapi import APIRouter, Path

from alp.db import ApiKey
from alp.errors import Unprocessable
from alp.schemas_keys import KeyCreate, KeyCreated, KeyOut
from alp.services import audit, keys
from api.deps import DB, KEYED, Key

router = APIRouter(tags=["keys"], dependencies=KEYED)


@router.post("/keys", status_code=201, response_model=KeyCreated)
def create_key(body: KeyCreate, db: DB, actor: Key) -> KeyCreated:
    try:
        pools = body.pool_ids()
    except ValueError as exc:
        raise Unprocessable(str(exc)) from exc
    expires = None if body.expires_in is None else keys.parse_duration(body.expires_in)
    new = keys.create_key(db, body.name, role=body.role, pools=pools, expires_in=expires)
    audit.record(
        db, actor.name, "key.created", f"key {new.key.split('_')[1]}",
        name=new.name, role=body.role, pools=pools, expires_in=body.expires_in,
    )  # fmt: skip
    db.commit()
    row = db.get(ApiKey, new.id)
    assert row is not None
    return KeyCreated(**KeyOut.of(row).model_dump(), key=new.key)


@router.get("/keys", response_model=list[KeyOut])
def list_keys(db: DB) -> list[KeyOut]:
    return [KeyOut.of(row) for row in keys.list_keys(db)]


@router.delete("/keys/{prefix}", response_model=KeyOut)
def revoke_key(
    db: DB, actor: Key, prefix: str = Path(max_length=64, description="The key's public prefix.")
) -> KeyOut:
    """Revoke a key: it answers 401 from now on and its dashboard sessions end."""
    row = keys.revoke_key(db, prefix)
    audit.record(db, actor.name, "key.revoked", f"key {row.prefix}", name=row.name)
    db.commit()
    return KeyOut.of(row)
