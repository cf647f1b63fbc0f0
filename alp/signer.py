"""The one signed-token format of alp: an HMAC-SHA256 over a payload and an expiry.

Used by the dashboard's session cookie (``api.dashboard.session``) and the signed image
URLs (``alp.services.signing``). A :class:`Signer` is bound to the installation secret and
a *purpose*; the HMAC key is ``HMAC-SHA256(secret, purpose)``, so a signature made for one
purpose is never valid for another. The signature of ``payload`` expiring at ``expires``
(Unix seconds) is ``base64url(HMAC-SHA256(key, f"{payload}.{expires}"))`` without padding
(43 characters). It is valid while ``now < expires``; changing the payload, the expiry, the
signature, the purpose or the secret invalidates it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from dataclasses import dataclass

SIGNATURE = re.compile(r"[A-Za-z0-9_-]{43}", re.ASCII)  # base64url of 32 bytes, no padding


class SignatureError(Exception):
    """A token that does not verify (see the subclasses)."""


class BadSignature(SignatureError):
    """Malformed or forged: not made by this secret and purpose for this payload/expiry."""


class Expired(SignatureError):
    """Well signed, but its expiry has passed."""


@dataclass(frozen=True)
class Signer:
    """Signs and checks ``(payload, expires)`` pairs for one ``purpose``."""

    secret: str
    purpose: str

    def _key(self) -> bytes:
        return hmac.new(self.secret.encode(), self.purpose.encode(), hashlib.sha256).digest()

    def signature(self, payload: str, expires: int) -> str:
        """The signature of ``payload`` valid until ``expires`` (Unix seconds)."""
        msg = f"{payload}.{int(expires)}".encode()
        digest = hmac.new(self._key(), msg, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def expiry(self, ttl_s: float, now: float | None = None) -> int:
        """``now`` (default: the current time) plus ``ttl_s``, in whole Unix seconds."""
        return int((time.time() if now is None else now) + ttl_s)

    def check(self, payload: str, expires: int, sig: object, now: float | None = None) -> None:
        """Return if ``sig`` is this signer's signature of ``payload`` and ``expires`` and
        ``now`` (default: the current time) is before ``expires``; else raise
        :class:`BadSignature` (checked first: nothing is said about a forged token's expiry)
        or :class:`Expired`."""
        if not isinstance(sig, str) or SIGNATURE.fullmatch(sig) is None:
            raise BadSignature("malformed signature")
        if not hmac.compare_digest(self.signature(payload, expires), sig):
            raise BadSignature("invalid signature")
        if int(expires) <= (time.time() if now is None else now):
            raise Expired("expired")
