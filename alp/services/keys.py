"""API keys: ``alp_<prefix>_<secret>`` where the secret is 256 random bits.

Only SHA-256 of the secret is stored; verification looks the row up by its public prefix
and compares hashes in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from alp.db import ApiKey, Pool, utcnow
from alp.errors import BadRequest, NotFound, Unauthorized

ADMIN_SCOPES = ["admin"]
# Most to least powerful; what each may do is the route table in ``api/access.py``.
ROLES = ("admin", "editor", "annotator", "viewer")
_DURATION = re.compile(r"([1-9][0-9]{0,5})([dhm])", re.ASCII)
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


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


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h`` or ``90m`` as a timedelta; anything else is a ``BadRequest``."""
    match = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise BadRequest(f"bad duration {text!r}: use a number and d, h or m (e.g. 30d)")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _check_pools(db: Session, role: str, pools: Sequence[int] | None) -> list[int] | None:
    if pools is None:
        return None
    wanted = sorted(set(pools))
    if not wanted:
        raise BadRequest("a pool-limited key needs at least one pool")
    if role == "admin":
        raise BadRequest("an admin key cannot be limited to pools (it manages keys)")
    found = set(db.scalars(select(Pool.id).where(Pool.id.in_(wanted))))
    missing = [p for p in wanted if p not in found]
    if missing:
        raise NotFound(f"pool {missing[0]} not found")
    return wanted


def create_key(
    db: Session,
    name: str,
    scopes: list[str] | None = None,
    key: str = "",
    *,
    role: str = "admin",
    pools: Sequence[int] | None = None,
    expires_in: timedelta | None = None,
) -> NewKey:
    """Create a key (random, or the given well-formed ``key``, e.g. a bootstrap key) with a
    role, optionally limited to existing ``pools`` (not for admins) and expiring after
    ``expires_in``. Bad input is a ``BadRequest`` (unknown pool: ``NotFound``)."""
    name = name.strip()
    if not name:
        raise BadRequest("key name must not be empty")
    if len(name) > 200:
        raise BadRequest("key name must be at most 200 characters")
    if role not in ROLES:
        raise BadRequest(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    limited = _check_pools(db, role, pools)
    if key:
        try:
            prefix, secret = _split(key)
        except Unauthorized as exc:
            raise BadRequest(
                "bootstrap key must look like alp_<12 hex>_<at least 32 chars>"
            ) from exc
    else:
        prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    row = ApiKey(
        name=name,
        prefix=prefix,
        secret_hash=_hash(secret),
        scopes=scopes or [role],
        role=role,
        pools=limited,
        expires_at=None if expires_in is None else utcnow() + expires_in,
    )
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
    reason = inactive_reason(row)
    if reason is not None:
        raise Unauthorized(reason)
    return row


def inactive_reason(row: ApiKey, now: datetime | None = None) -> str | None:
    """Why ``row`` may not be used (revoked or expired), or None while it is active.
    Checked on every request, by Bearer key and by dashboard session alike."""
    if row.revoked_at is not None:
        return "API key revoked"
    if row.expires_at is not None and row.expires_at <= (now or utcnow()):
        return "API key expired"
    return None


def list_keys(db: Session) -> list[ApiKey]:
    """Every key, oldest first (revoked and expired ones too)."""
    return list(db.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_key(db: Session, prefix: str) -> ApiKey:
    """Revoke the key with this public prefix (``alp_<prefix>_...`` or the bare 12 hex);
    revoking twice keeps the first time. Unknown prefix: ``NotFound``."""
    bare = prefix.strip().removeprefix("alp_").split("_", 1)[0]
    row = db.scalar(select(ApiKey).where(ApiKey.prefix == bare)) if bare else None
    if row is None:
        raise NotFound(f"no key with prefix {prefix!r}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        db.flush()
    return row


TOUCH_EVERY_S = 60.0


def touch(db: Session, row: ApiKey) -> bool:
    """Record use at most once a minute (so reads don't write on every request).

    Returns True when the row changed and the caller should commit.
    """
    now = utcnow()
    last = row.last_used_at
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
    return create_key(db, "admin", ADMIN_SCOPES, key=bootstrap, role="admin")
