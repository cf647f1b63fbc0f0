"""One image URL with an S3 store: the API streams from the bucket, or redirects to a
presigned URL when ``ALP_STORAGE_PRESIGN`` is on; thumbnails and previews live in S3."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image as PILImage

from alp.db import Image, Selection
from alp.services import keys
from alp.storage import open_storage
from tests.api.cycle_fixtures import labeling_cycle, make_pool
from tests.conftest import make_settings


@pytest.fixture
def s3_app(tmp_path: Path, db_url: str, s3_url: str, request: pytest.FixtureRequest):
    from api.main import create_app

    presign = getattr(request, "param", False)
    s = make_settings(tmp_path / "data", db_url, storage_url=s3_url, storage_presign=presign)
    s.ensure_dirs()
    app = create_app(s)
    with app.state.alp.sessions() as db:
        key = keys.create_key(db, "t").key
        pool_id, ids = make_pool(db, open_storage(s), n=2, size=(900, 700))
        labeling_cycle(db, pool_id, ids)
        db.commit()
    with TestClient(app) as c:
        c.headers["Authorization"] = f"Bearer {key}"
        yield c, s, ids


def test_content_is_streamed_from_s3_by_key_and_by_signed_url(s3_app) -> None:
    client, s, ids = s3_app
    store = open_storage(s)
    with client.app.state.alp.sessions() as db:
        img = db.get(Image, ids[0])
        blob = store.read_bytes(img.storage_key)
    assert not list((s.data_dir / "storage").rglob("*.png"))  # nothing on the API's disk
    r = client.get(f"/api/v1/images/{ids[0]}/content")
    assert r.status_code == 200 and r.content == blob
    assert r.headers["content-type"] == "image/png"
    assert r.headers["content-length"] == str(len(blob))
    signed = client.get(f"/api/v1/images/{ids[0]}").json()["content_url"]
    r = httpx.Client(transport=client._transport).get(signed)  # type: ignore[attr-defined]
    assert r.status_code == 200 and r.content == blob


def test_missing_blob_is_a_404_with_a_reason(s3_app) -> None:
    client, s, ids = s3_app
    with client.app.state.alp.sessions() as db:
        open_storage(s).delete(db.get(Image, ids[1]).storage_key)
    r = client.get(f"/api/v1/images/{ids[1]}/content")
    assert r.status_code == 404 and "missing from storage" in r.json()["detail"]


@pytest.mark.parametrize("s3_app", [True], indirect=True)
def test_presign_mode_redirects_to_the_store(s3_app) -> None:
    client, s, ids = s3_app
    r = client.get(f"/api/v1/images/{ids[0]}/content", follow_redirects=False)
    assert r.status_code == 307
    location = r.headers["location"]
    assert location.startswith(s.storage_url.split("?endpoint_url=")[1])
    direct = httpx.get(location)
    assert direct.status_code == 200
    assert PILImage.open(io.BytesIO(direct.content)).size == (900, 700)


def test_selection_thumbnail_rendered_into_and_served_from_s3(s3_app) -> None:
    client, s, ids = s3_app
    with client.app.state.alp.sessions() as db:
        sid = db.query(Selection.id).filter(Selection.image_id == ids[0]).scalar()
    r = client.get(f"/api/v1/dashboard/selections/{sid}/thumbnail")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert PILImage.open(io.BytesIO(r.content)).size == (256, 199)
    thumbs = list(open_storage(s).iter_keys("pools"))
    assert any("/thumbs/" in k and f"s{sid}-256" in k for k in thumbs)
    again = client.get(f"/api/v1/dashboard/selections/{sid}/thumbnail")
    assert again.content == r.content
