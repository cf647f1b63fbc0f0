"""Signed, expiring URLs for image content (usable without an API key, e.g. by Label Studio
or an annotator's browser).

``?expires=<Unix seconds>&sig=<signature>``: ``sig`` is :class:`alp.signer.Signer`'s
signature (purpose ``alp-image-content``, payload the image id) with
``settings.resolved_secret_key()``; valid while the current time is before ``expires``.
Changing the image id, the expiry or the signature invalidates it; rotating the secret
invalidates every URL.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from urllib.parse import urlencode

from alp.config import Settings
from alp.errors import Forbidden
from alp.signer import BadSignature, SignatureError, Signer

CONTENT_PATH = "/api/v1/images/{image_id}/content"
# Canonical Unix seconds only: ASCII digits, no sign, no leading zero, no "_" (which
# ``int()`` would all accept), at most 12 digits (year 33658).
_EXPIRES = re.compile(r"0|[1-9][0-9]{0,11}", re.ASCII)
PURPOSE = "alp-image-content"
_LEGACY_SIG = re.compile(r"[0-9a-f]{64}", re.ASCII)


def content_signature(secret: str, image_id: int, expires: int) -> str:
    """The signature of the image id and the expiry (Unix seconds)."""
    return Signer(secret, PURPOSE).signature(str(int(image_id)), expires)


def signed_query(
    settings: Settings, image_id: int, ttl_s: int | None = None, now: float | None = None
) -> dict[str, str]:
    """``{"expires": ..., "sig": ...}`` valid for ``ttl_s`` seconds (default
    ``settings.signed_url_ttl_s``) from ``now`` (default: the current time)."""
    ttl = settings.signed_url_ttl_s if ttl_s is None else int(ttl_s)
    if ttl <= 0:
        raise ValueError(f"ttl_s must be positive, got {ttl}")
    expires = Signer(settings.resolved_secret_key(), PURPOSE).expiry(ttl, now)
    sig = content_signature(settings.resolved_secret_key(), image_id, expires)
    return {"expires": str(expires), "sig": sig}


def signed_content_path(settings: Settings, image_id: int, ttl_s: int | None = None) -> str:
    """Server-relative signed URL (``/api/v1/images/{id}/content?expires=..&sig=..``)."""
    query = urlencode(signed_query(settings, image_id, ttl_s))
    return f"{CONTENT_PATH.format(image_id=int(image_id))}?{query}"


def signed_content_url(settings: Settings, image_id: int, ttl_s: int | None = None) -> str:
    """Absolute signed URL under ``settings.public_base_url``."""
    return settings.public_base_url.rstrip("/") + signed_content_path(settings, image_id, ttl_s)


def _legacy_valid(secret: str, image_id: int, expires: int, sig: object) -> bool:
    """Whether ``sig`` is a signature of the format before :mod:`alp.signer` (64 lower-case
    hex digits of HMAC-SHA256 over ``alp-image-content:<id>:<expires>``). Label Studio tasks
    keep their image URLs for a year (``TASK_URL_TTL_S``), so URLs issued by an older alp
    must keep working after an upgrade."""
    if not isinstance(sig, str) or _LEGACY_SIG.fullmatch(sig) is None:
        return False
    msg = f"alp-image-content:{int(image_id)}:{int(expires)}".encode()
    expected = hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, sig)


def verify_content_signature(
    settings: Settings,
    image_id: int,
    expires: int | str | None,
    sig: str | None,
    now: float | None = None,
) -> None:
    """Raise :class:`~alp.errors.Forbidden` (403) unless ``sig`` is a valid, unexpired
    signature of ``image_id`` and ``expires``."""
    if expires is None or not sig:
        raise Forbidden("signed URL needs both 'expires' and 'sig'")
    text = str(expires) if isinstance(expires, int) and not isinstance(expires, bool) else expires
    if not isinstance(text, str) or _EXPIRES.fullmatch(text) is None:
        raise Forbidden(
            "invalid signed URL: 'expires' must be an integer (Unix seconds, digits only)"
        )
    signer = Signer(settings.resolved_secret_key(), PURPOSE)
    try:
        signer.check(str(int(image_id)), int(text), sig, now)
    except BadSignature:
        if not _legacy_valid(settings.resolved_secret_key(), image_id, int(text), sig):
            raise Forbidden("invalid signature for this image and expiry") from None
        if int(text) <= (time.time() if now is None else now):
            raise Forbidden("signed URL has expired") from None
    except SignatureError:
        raise Forbidden("signed URL has expired") from None
