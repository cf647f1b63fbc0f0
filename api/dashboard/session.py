"""Dashboard sign-in sessions: a signed, expiring token that names an API key by id.

Token: ``v1.<key id>.<expires unix s>.<signature>``, signed by :class:`alp.signer.Signer`
(purpose ``alp-dashboard-session``, payload ``v1.<key id>``) with the installation secret.
The raw API key is never stored in the cookie. A token is
valid while it has not expired and its key exists and is neither revoked nor expired
(checked on every request, so revoking a key or its expiry ends its sessions).
"""

from __future__ import annotations

import re

from fastapi import Request, Response
from sqlalchemy.orm import Session

from alp.db import ApiKey
from alp.db.tables import MAX_ID
from alp.services import keys
from alp.signer import SignatureError, Signer

COOKIE = "alp_session"
TTL_S = 12 * 3600
CSRF_HEADER = "x-alp-csrf"  # cookie-authenticated writes must send it (cross-site forms can't)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# ASCII only (``str.isdigit`` would take "²" or "٣", which ``int`` then refuses); bounded
# lengths (a key id fits 64 bits, an expiry 12 digits; the signature is checked by Signer).
_TOKEN = re.compile(r"v1\.([0-9]{1,19})\.([0-9]{1,12})\.(.*)", re.ASCII | re.DOTALL)
PURPOSE = "alp-dashboard-session"


def issue(secret: str, key_id: int, ttl_s: int = TTL_S, now: float | None = None) -> str:
    """A session token for API key ``key_id`` valid for ``ttl_s`` seconds."""
    signer = Signer(secret, PURPOSE)
    expires = signer.expiry(ttl_s, now)
    return f"v1.{key_id}.{expires}.{signer.signature(f'v1.{key_id}', expires)}"


def verify(secret: str, token: str, now: float | None = None) -> int | None:
    """The key id of a well-signed, unexpired ``token``; None for anything else (a malformed,
    non-ASCII, forged or expired token is simply no session, never an error)."""
    match = _TOKEN.fullmatch(token) if isinstance(token, str) else None
    if match is None:
        return None
    key_id, expires, sig = match.groups()
    try:
        Signer(secret, PURPOSE).check(f"v1.{key_id}", int(expires), sig, now)
    except SignatureError:
        return None
    return int(key_id) if int(key_id) <= MAX_ID else None


def session_key(request: Request, db: Session, secret: str) -> ApiKey | None:
    """The active API key behind the request's session cookie, if any."""
    return key_for_token(db, secret, request.cookies.get(COOKIE))


def key_for_token(db: Session, secret: str, token: str | None) -> ApiKey | None:
    """The active API key a session ``token`` names, if it verifies."""
    key_id = verify(secret, token) if token else None
    if key_id is None:
        return None
    row = db.get(ApiKey, key_id)
    if row is None or keys.inactive_reason(row) is not None:
        return None
    return row


def set_cookie(response: Response, token: str, secure: bool) -> None:
    response.set_cookie(
        COOKIE, token, max_age=TTL_S, path="/", httponly=True, samesite="strict", secure=secure
    )


def clear_cookie(response: Response, secure: bool) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=secure)
