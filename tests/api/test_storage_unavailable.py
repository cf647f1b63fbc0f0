"""Bad storage configuration: the API starts anyway, ``/readyz`` says why, uploads get a
503 with the reason and leave nothing behind (no row, no blob)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image as PILImage
from sqlalchemy import func, select

from alp.db import Image
from alp.services import keys
from tests.conftest import make_settings
from tests.support import s3


def _png() -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", (20, 10), "red").save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def checking_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server that verifies credentials (every key is unknown to it)."""
    if not s3.moto_available():
        pytest.skip("needs moto installed to start a credential-checking server")
    with s3.moto_server(tmp_path_factory.mktemp("s3auth"), INITIAL_NO_AUTH_ACTION_COUNT="0") as e:
        yield e


def _client(tmp_path: Path, sqlite_url: str, storage_url: str) -> TestClient:
    from api.main import create_app

    s = make_settings(tmp_path / "data", sqlite_url, storage_url=storage_url)
    app = create_app(s)  # starts although the store is unusable
    with app.state.alp.sessions() as db:
        key = keys.create_key(db, "t").key
        db.commit()
    c = TestClient(app)
    c.headers["Authorization"] = f"Bearer {key}"
    return c


def _bad_urls(name: str, request: pytest.FixtureRequest) -> tuple[str, str]:
    s3.use_test_credentials()
    if name == "unreachable":
        return f"s3://b/p?endpoint_url=http://127.0.0.1:{s3.free_port()}", "unreachable"
    endpoint = request.getfixturevalue("s3_endpoint")
    if name == "missing-bucket":
        return f"s3://alp-no-such-bucket/p?endpoint_url={endpoint}", "does not exist"
    auth = request.getfixturevalue("checking_s3")
    return f"s3://b/p?endpoint_url={auth}", "AWS_ACCESS_KEY_ID"


@pytest.mark.parametrize("case", ["unreachable", "missing-bucket", "wrong-credentials"])
def test_bad_store_readyz_and_upload_503(
    case: str, tmp_path: Path, sqlite_url: str, request: pytest.FixtureRequest
) -> None:
    url, why = _bad_urls(case, request)
    with _client(tmp_path, sqlite_url, url) as c:
        assert c.get("/healthz", params={"wait": 0}).json()["database"] == "ok"
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["database"] == "ok"
        assert why in r.json()["storage"], r.json()
        pool = c.post("/api/v1/pools", json={"name": "p", "classes": ["a"]}).json()["id"]
        r = c.post(
            f"/api/v1/pools/{pool}/images", files=[("files", ("a.png", _png(), "image/png"))]
        )
        assert r.status_code == 503, r.text
        assert why in r.json()["detail"]
        with c.app.state.alp.sessions() as db:
            assert db.scalar(select(func.count()).select_from(Image)) == 0


def test_readyz_is_ready_on_a_good_store(tmp_path: Path, sqlite_url: str, s3_url: str) -> None:
    with _client(tmp_path, sqlite_url, s3_url) as c:
        r = c.get("/readyz")
        assert r.status_code == 200
        assert r.json() == {"status": "ready", "database": "ok", "storage": "ok"}
