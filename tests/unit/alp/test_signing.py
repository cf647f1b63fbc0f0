"""Signed content URLs: round trip, tampering, expiry."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from alp.config import Settings
from alp.errors import Forbidden
from alp.services.signing import signed_content_url, signed_query, verify_content_signature


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path, secret_key="k1", public_base_url="https://alp.example/")


def test_url_is_absolute_and_verifies(settings) -> None:
    url = signed_content_url(settings, 42, ttl_s=60)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "alp.example",
                                                        "/api/v1/images/42/content")  # fmt: skip
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    verify_content_signature(settings, 42, q["expires"], q["sig"])


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda i, e, s: (i + 1, e, s), "invalid signature"),
        (lambda i, e, s: (i, str(int(e) + 1), s), "invalid signature"),
        (lambda i, e, s: (i, e, s[:-1] + ("0" if s[-1] != "0" else "1")), "invalid signature"),
        (lambda i, e, s: (i, e, "é" * 64), "invalid signature"),
        (lambda i, e, s: (i, "soon", s), "'expires' must be an integer"),
        # int() would take these spellings of the signed number; only canonical digits pass
        (lambda i, e, s: (i, "+" + e, s), "'expires' must be an integer"),
        (lambda i, e, s: (i, "0" + e, s), "'expires' must be an integer"),
        (lambda i, e, s: (i, e[:2] + "_" + e[2:], s), "'expires' must be an integer"),
        (lambda i, e, s: (i, " " + e, s), "'expires' must be an integer"),
        (lambda i, e, s: (i, "9" * 5000, s), "'expires' must be an integer"),
        (lambda i, e, s: (i, None, s), "needs both"),
        (lambda i, e, s: (i, e, ""), "needs both"),
    ],
)
def test_tampering_is_forbidden(settings, mutate, reason) -> None:
    q = signed_query(settings, 7, ttl_s=60)
    image_id, expires, sig = mutate(7, q["expires"], q["sig"])
    with pytest.raises(Forbidden) as err:
        verify_content_signature(settings, image_id, expires, sig)
    assert reason in err.value.detail


def test_expired_and_other_secret(settings, tmp_path) -> None:
    q = signed_query(settings, 7, ttl_s=10, now=1_000)
    verify_content_signature(settings, 7, q["expires"], q["sig"], now=1_009)
    with pytest.raises(Forbidden, match="expired"):
        verify_content_signature(settings, 7, q["expires"], q["sig"], now=1_011)
    other = Settings(data_dir=tmp_path, secret_key="k2")
    with pytest.raises(Forbidden, match="invalid signature"):
        verify_content_signature(other, 7, q["expires"], q["sig"], now=1_009)
    with pytest.raises(ValueError):
        signed_query(settings, 7, ttl_s=0)


def _legacy_sig(secret: str, image_id: int, expires: int) -> str:
    """The format before alp.signer (hex HMAC over ``alp-image-content:<id>:<expires>``)."""
    import hashlib
    import hmac

    msg = f"alp-image-content:{image_id}:{expires}".encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


def test_urls_of_the_previous_format_still_verify(settings) -> None:
    # Label Studio tasks keep their image URLs for a year: an upgrade must not break them.
    now = 1_900_000_000
    sig = _legacy_sig("k1", 42, now + 60)
    verify_content_signature(settings, 42, str(now + 60), sig, now=now)
    with pytest.raises(Forbidden, match="invalid signature"):
        verify_content_signature(settings, 43, str(now + 60), sig, now=now)
    with pytest.raises(Forbidden, match="invalid signature"):
        verify_content_signature(settings, 42, str(now + 60), _legacy_sig("k2", 42, now + 60))
    with pytest.raises(Forbidden, match="expired"):
        verify_content_signature(settings, 42, str(now + 60), sig, now=now + 61)
