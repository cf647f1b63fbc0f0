"""CORS on image bytes for Label Studio's page (another origin); nothing else opened up."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image as PILImage

from alp.db import Image, LabelStudioConnection, Pool
from alp.services.signing import signed_content_url
from alp.storage import LocalStorage, image_key

LS = "http://ls.example:8080"
OTHER = "http://evil.example"


def _image(settings, sessions, connect: bool) -> int:
    buf = io.BytesIO()
    PILImage.new("RGB", (8, 6), (1, 2, 3)).save(buf, "PNG")
    with sessions() as db:
        pool = Pool(name="p", classes=["cat"], settings={})
        db.add(pool)
        db.flush()
        key = image_key(pool.id, "a" * 64, "png")
        LocalStorage(settings.storage_dir).put_bytes(key, buf.getvalue())
        img = Image(pool_id=pool.id, sha256="a" * 64, storage_key=key, filename="a.png",
                    content_type="image/png", size_bytes=len(buf.getvalue()), width=8,
                    height=6)  # fmt: skip
        db.add(img)
        if connect:
            db.add(LabelStudioConnection(pool_id=pool.id, url=LS + "/", token="t", project_id=1))
        db.commit()
        return img.id


def _preflight(c: TestClient, path: str, origin: str, method: str = "GET"):
    return c.options(path, headers={"Origin": origin, "Access-Control-Request-Method": method,
                                    "Access-Control-Request-Headers": "range"})  # fmt: skip


def test_connected_label_studio_origin_may_load_content(anon_client, settings, sessions) -> None:
    image_id = _image(settings, sessions, connect=True)
    url = signed_content_url(settings, image_id).removeprefix(settings.public_base_url)
    r = anon_client.get(url, headers={"Origin": LS})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == LS
    assert "origin" in r.headers["vary"].lower()
    assert "access-control-allow-credentials" not in r.headers
    pre = _preflight(anon_client, url, LS)
    assert pre.status_code == 200, pre.text
    assert pre.headers["access-control-allow-origin"] == LS
    assert "GET" in pre.headers["access-control-allow-methods"]
    thumb_path = "/api/v1/dashboard/selections/1/thumbnail"  # the real route (401 anonymous)
    thumb = _preflight(anon_client, thumb_path, LS)
    assert thumb.status_code == 200 and thumb.headers["access-control-allow-origin"] == LS
    refused = anon_client.get(thumb_path, headers={"Origin": LS})
    assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == LS
    # another origin, a write method, other paths: nothing opened up
    assert (
        "access-control-allow-origin" not in anon_client.get(url, headers={"Origin": OTHER}).headers
    )
    assert _preflight(anon_client, url, OTHER).status_code == 400
    assert _preflight(anon_client, url, LS, method="DELETE").status_code == 400
    pools = anon_client.get("/api/v1/pools", headers={"Origin": LS})
    assert "access-control-allow-origin" not in pools.headers
    assert _preflight(anon_client, "/api/v1/pools", LS).status_code == 405
    assert anon_client.get(url + "x", headers={"Origin": LS}).status_code == 403  # still signed


def test_without_connection_no_origin_is_allowed(anon_client, settings, sessions) -> None:
    image_id = _image(settings, sessions, connect=False)
    url = signed_content_url(settings, image_id).removeprefix(settings.public_base_url)
    r = anon_client.get(url, headers={"Origin": LS})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    assert _preflight(anon_client, url, LS).status_code == 400


@pytest.mark.parametrize("configured", ["http://a.test, http://b.test:81/", "*"])
def test_configured_origins_replace_the_default(settings, sessions, configured) -> None:
    from api.main import create_app

    settings.content_cors_origins = configured
    image_id = _image(settings, sessions, connect=True)
    url = signed_content_url(settings, image_id).removeprefix(settings.public_base_url)
    with TestClient(create_app(settings)) as c:
        b = c.get(url, headers={"Origin": "http://b.test:81"})
        assert b.headers["access-control-allow-origin"] in ("http://b.test:81", "*")
        ls = c.get(url, headers={"Origin": LS}).headers.get("access-control-allow-origin")
        assert ls == ("*" if configured == "*" else None)
