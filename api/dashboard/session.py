"""Dashboard sign-in sessions: a signed, expiring token that names an API key by id.

Token: ``v1.<key id>.<expires unix s>.<base64url HMAC-SHA256>``; the HMAC key is derived
from the installation secret. The raw API key is never stored in the cookie. A token is
valid while it has not expired and its key exists and is not revoked (checked on every
request, so revoking a key ends its sessions).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from fastapi import Request, Response
from sqlalchemy.orm import Session

from alp.db import ApiKey

COOKIE = "alp_session"
TTL_S = 12 * 3600
CSRF_HEADER = "x-alp-csrf"  # cookie-authenticated writes must send it (cross-site forms can't)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _mac(secret: str, payload: str) -> str:
    key = hmac.new(secret.encode(), b"alp-dashboard-session", hashlib.sha256).digest()
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue(secret: str, key_id: int, ttl_s: int = TTL_S, now: float | None = None) -> str:
    """A session token for API key ``key_id`` valid for ``ttl_s`` seconds."""
    expires = int((time.time() if now is None else now) + ttl_s)
    payload = f"v1.{key_id}.{expires}"
    return f"{payload}.{_mac(secret, payload)}"


def verify(secret: str, token: str, now: float | None = None) -> int | None:
    """The key id of a well-signed, unexpired ``token``; None otherwise."""
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != "v1" or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    payload = ".".join(parts[:3])
    if not hmac.compare_digest(_mac(secret, payload), parts[3]):
        return None
    if int(parts[2]) <= (time.time() if now is None else now):
        return None
    return int(parts[1])


def session_key(request: Request, db: Session, secret: str) -> ApiKey | None:
    """The active API key behind the request's session cookie, if any."""
    token = request.cookies.get(COOKIE)
    key_id = verify(secret, token) if token else None
    if key_id is None:
        return None
    row = db.get(ApiKey, key_id)
    if row is None or row.revoked_at is not None:
        return None
    return row


def set_cookie(response: Response, token: str, secure: bool) -> None:
    response.set_cookie(
        COOKIE, token, max_age=TTL_S, path="/", httponly=True, samesite="strict", secure=secure
    )


def clear_cookie(response: Response, secure: bool) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=secure)
