"""Concurrent uploads of overlapping images to one pool, against a real uvicorn server, on
SQLite and PostgreSQL: no 5xx, every file counted exactly once (accepted by exactly one
request, a duplicate in all others), the pool holds the union, and storage holds exactly
one file per row (no orphan, none missing)."""

from __future__ import annotations

import hashlib
import io
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from PIL import Image as PILImage
from sqlalchemy import select, text

from alp.db import Image, Pool
from alp.services import image_rows
from tests.api.images_helpers import stored_files
from tests.integration.live_api import live_api
from tests.support.processes import wait_for

pytestmark = pytest.mark.timeout(300)


def _jpeg(seed: int, w: int = 24, h: int = 16) -> bytes:
    """A small noise JPEG, distinct for every ``seed``."""
    im = PILImage.frombytes("RGB", (w, h), random.Random(seed).randbytes(w * h * 3))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _post_all(base: str, key: str, pool_id: int, batches: list[list[tuple[str, bytes]]]):
    """POST every batch at once (one thread each, released together); the responses."""
    start = threading.Barrier(len(batches))

    def post(batch: list[tuple[str, bytes]]) -> httpx.Response:
        files = [("files", (name, data, "image/jpeg")) for name, data in batch]
        with httpx.Client(base_url=base, timeout=120) as c:
            start.wait()
            return c.post(
                f"/api/v1/pools/{pool_id}/images",
                files=files,
                headers={"Authorization": f"Bearer {key}"},
            )

    with ThreadPoolExecutor(len(batches)) as ex:
        return list(ex.map(post, batches))


def _check_round(responses, batches, sessions, settings, pool_id: int, seen: dict[str, int]):
    """Exact accounting of one round; ``seen`` maps sha256 -> image id across rounds."""
    accepted: dict[str, int] = {}
    for r, batch in zip(responses, batches, strict=True):
        assert r.status_code in (200, 201), r.text
        body = r.json()
        sha_of = {name: hashlib.sha256(data).hexdigest() for name, data in batch}
        assert body["rejected"] == []
        assert len(body["accepted"]) + len(body["duplicates"]) == len(batch)
        assert r.status_code == (201 if body["accepted"] else 200)
        for a in body["accepted"]:
            assert a["sha256"] == sha_of[a["filename"]]
            assert a["sha256"] not in accepted, "one image accepted by two requests"
            assert a["sha256"] not in seen, "an image stored in an earlier round came back"
            accepted[a["sha256"]] = a["image_id"]
    ids = {**seen, **accepted}
    for r, batch in zip(responses, batches, strict=True):  # duplicates name the stored id
        sha_of = {name: hashlib.sha256(data).hexdigest() for name, data in batch}
        assert all(ids[sha_of[d["filename"]]] == d["image_id"] for d in r.json()["duplicates"])
    union = {hashlib.sha256(d).hexdigest() for batch in batches for _, d in batch}
    assert set(accepted) == union - set(seen)
    seen.update(accepted)
    with sessions() as db:
        rows = db.execute(select(Image.sha256, Image.id, Image.storage_key)).all()
    assert {sha: i for sha, i, _ in rows} == seen
    assert len(rows) == len(seen)
    assert stored_files(settings) == sorted(k for _, _, k in rows)  # no orphan, none missing
    for _, _, key in rows:
        assert Path(settings.storage_dir, key).stat().st_size > 0


@pytest.fixture
def server(settings, api_key):
    with live_api(settings) as (base, _proc):
        auth = {"Authorization": f"Bearer {api_key}"}
        r = httpx.post(
            f"{base}/api/v1/pools", json={"name": "race", "classes": ["a"]}, headers=auth
        )
        assert r.status_code == 201, r.text
        yield base, api_key, r.json()["id"]


def test_eight_clients_upload_overlapping_sets(server, sessions, settings) -> None:
    base, key, pool_id = server
    rng = random.Random(16)
    seen: dict[str, int] = {}
    for rnd in range(3):
        images = [(f"r{rnd}-{i:03d}.jpg", _jpeg(1000 * rnd + i)) for i in range(120)]
        batches: list[list[tuple[str, bytes]]] = [[] for _ in range(8)]
        for i, img in enumerate(images):  # each image in 4 of the 8 batches
            for j in range(4):
                batches[(i + j) % 8].append(img)
        for b in batches:
            rng.shuffle(b)
        batches[0] += images[:5]  # duplicates inside one request are collapsed too
        responses = _post_all(base, key, pool_id, batches)
        _check_round(responses, batches, sessions, settings, pool_id, seen)
    assert len(seen) == 360


def test_two_clients_same_images_in_opposite_order(server, sessions, settings) -> None:
    base, key, pool_id = server
    seen: dict[str, int] = {}
    for rnd in range(4):
        images = [(f"o{rnd}-{i:03d}.jpg", _jpeg(5000 + 300 * rnd + i)) for i in range(300)]
        batches = [images, images[::-1]]
        responses = _post_all(base, key, pool_id, batches)
        _check_round(responses, batches, sessions, settings, pool_id, seen)
    assert len(seen) == 1200


def _row(pool_id: int, sha: str) -> dict:
    return {
        "pool_id": pool_id, "sha256": sha, "storage_key": f"k/{sha}.jpg", "filename": "f.jpg",
        "content_type": "image/jpeg", "size_bytes": 1, "width": 1, "height": 1,
        "state": "unlabeled", "split": "train",
    }  # fmt: skip


def test_insert_retries_after_a_real_deadlock(db_url, sessions, caplog) -> None:
    """A real PostgreSQL deadlock: this request holds A and waits for B, another holds B and
    waits for A; the deadlock check makes this one the victim (1 s vs 30 s deadlock_timeout),
    its savepoint is rolled back and retried, and it ends with neither row as its own."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time: no deadlocks")
    with sessions() as db:
        pool = Pool(name="dl", classes=["a"], settings={})
        db.add(pool)
        db.commit()
        pool_id = pool.id
    a, b = "a" * 64, "b" * 64
    with sessions() as other, sessions() as main, sessions() as probe:
        other.execute(text("SET LOCAL deadlock_timeout = '30s'"))
        image_rows.insert_new_rows(other, [_row(pool_id, b)])
        result: dict = {}

        def victim() -> None:
            result["ids"] = image_rows.insert_new_rows(main, [_row(pool_id, b), _row(pool_id, a)])
            main.commit()

        t = threading.Thread(target=victim)
        t.start()
        waiting = text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()"
        )
        wait_for(lambda: probe.execute(waiting).scalar() == 1, what="main to wait on B")
        with caplog.at_level("WARNING", logger="alp.services.ingest"):
            image_rows.insert_new_rows(other, [_row(pool_id, a)])  # waits on main: deadlock
            other.commit()
            t.join(timeout=60)
    assert result["ids"] == {}  # the retry found both rows committed by the other request
    assert "retrying" in caplog.text and "deadlock" in caplog.text
    with sessions() as db:
        assert set(db.scalars(select(Image.sha256).where(Image.pool_id == pool_id))) == {a, b}
