"""``alp.signer``: the one signed-token format (sessions, signed URLs): round trip,
tampering, purpose/secret separation, expiry."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from alp.signer import SIGNATURE, BadSignature, Expired, Signer
from api.dashboard import session

SIGNER = Signer("s3cret", "test-purpose")


def test_round_trip_until_expiry() -> None:
    expires = SIGNER.expiry(60, now=1_000)
    assert expires == 1_060
    sig = SIGNER.signature("42", expires)
    assert SIGNATURE.fullmatch(sig)
    SIGNER.check("42", expires, sig, now=1_000)
    SIGNER.check("42", expires, sig, now=1_059.9)
    for now in (1_060, 1_061, 10**10):
        with pytest.raises(Expired):
            SIGNER.check("42", expires, sig, now=now)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda p, e, s: ("43", e, s),  # other payload
        lambda p, e, s: (p, e + 1, s),  # longer expiry
        lambda p, e, s: (p, e, s[:-1] + ("A" if s[-1] != "A" else "B")),  # other signature
        lambda p, e, s: (p, e, s.upper() if s != s.upper() else s.lower()),  # case matters
        lambda p, e, s: (p, e, s[:-1]),  # truncated
        lambda p, e, s: (p, e, s + "="),  # padded
        lambda p, e, s: (p, e, "é" * 43),  # non-ASCII
        lambda p, e, s: (p, e, None),  # not a string
        lambda p, e, s: (p, e, ""),
    ],
)
def test_tampered_tokens_are_bad_signatures(tamper) -> None:
    sig = SIGNER.signature("42", 2_000)
    payload, expires, bad = tamper("42", 2_000, sig)
    with pytest.raises(BadSignature):
        SIGNER.check(payload, expires, bad, now=1_000)


def test_forged_and_expired_is_bad_signature_first() -> None:
    with pytest.raises(BadSignature):
        SIGNER.check("42", 10, "A" * 43, now=1_000)


def test_purpose_and_secret_separate_signatures() -> None:
    sig = SIGNER.signature("42", 2_000)
    for other in (Signer("s3cret", "other-purpose"), Signer("other", "test-purpose")):
        assert other.signature("42", 2_000) != sig
        with pytest.raises(BadSignature):
            other.check("42", 2_000, sig, now=1_000)


def test_session_tokens_keep_their_format() -> None:
    """Cookies issued before the signer module still verify: same HMAC, same layout."""
    key = hmac.new(b"s3cret", b"alp-dashboard-session", hashlib.sha256).digest()
    mac = hmac.new(key, b"v1.7.5000", hashlib.sha256).digest()
    old = "v1.7.5000." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    assert session.issue("s3cret", 7, ttl_s=4_000, now=1_000) == old
    assert session.verify("s3cret", old, now=4_999) == 7
    assert session.verify("s3cret", old, now=5_000) is None
