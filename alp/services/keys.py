"""API keys: ``alp_<prefix>_<secret>`` where the secret is 256 random bits.

Only SHA-256 of the secret is stored; verification looks the row up by its public prefix
and compares hashes in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from alp.db import ApiKey, utcnow
from alp.errors import BadRequest, Unauthorized

ADMIN_SCOPES = ["admin"]


@dataclass(frozen=True)
class NewKey:
    id: int
    name: str
    key: str  # shown once


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _split(key: str) -> tuple[str, str]:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "alp" or len(parts[1]) != 12 or len(parts[2]) < 32:
        raise Unauthorized("malformed API key")
    return parts[1], parts[2]


def create_key(db: Session, name: str, scopes: list[str] | None = None, key: str = "") -> NewKey:
    """Create a key (random, or the given well-formed ``key``, e.g. a bootstrap key)."""
    name = name.strip()
    if not name:
        raise BadRequest("key name must not be empty")
    if key:
        try:
            prefix, secret = _split(key)
        except Unauthorized as exc:
            raise BadRequest(
                "bootstrap key must look like alp_<12 hex>_<at least 32 chars>"
            ) from exc
    else:
        prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    row = ApiKey(name=name, prefix=prefix, secret_hash=_hash(secret), scopes=scopes or ADMIN_SCOPES)
    db.add(row)
    db.flush()
    return NewKey(id=row.id, name=name, key=f"alp_{prefix}_{secret}")


def verify_key(db: Session, key: str) -> ApiKey:
    """Return the active key row for ``key`` or raise ``Unauthorized``."""
    prefix, secret = _split(key)
    row = db.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    expected = row.secret_hash if row is not None else _hash("")
    ok = hmac.compare_digest(expected, _hash(secret))
    if row is None or not ok:
        raise Unauthorized("invalid API key")
    if row.revoked_at is not None:
        raise Unauthorized("API key revoked")
    return row


TOUCH_EVERY_S = 60.0


def touch(db: Session, row: ApiKey) -> bool:
    """Record use at most once a minute (so reads don't write on every request).

    Returns True when the row changed and the caller should commit.
    """
    now = utcnow()
    last = row.last_used_at
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=now.tzinfo)
    if last is not None and (now - last).total_seconds() < TOUCH_EVERY_S:
        return False
    row.last_used_at = now
    return True


def has_any_key(db: Session) -> bool:
    return db.scalar(select(ApiKey.id).limit(1)) is not None


def ensure_bootstrap_key(db: Session, bootstrap: str = "") -> NewKey | None:
    """On first start create an admin key (``bootstrap`` if given); None if keys exist."""
    if has_any_key(db):
        return None
    return create_key(db, "admin", ADMIN_SCOPES, key=bootstrap)
