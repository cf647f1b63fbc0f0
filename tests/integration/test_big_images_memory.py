"""Memory of the real API process (uvicorn subprocess, psutil RSS including children) under
concurrent requests for 64-megapixel PNGs: small files (~260 KB) that decode to 256 MB.

Before the decode budget, one request with six such files took the API from 406 MB to
907 MB and six concurrent 512-px thumbnails to 3.5 GB. Now decodes share one budget
(``decode_memory_bytes``, 512 MiB by default: a 64 MP RGBA image needs ~320 MB, so they are
decoded one at a time) and thumbnails are drawn from previews. Measured peak: +333 MB over
the baseline for three concurrent uploads of six such images, +36 MB for six concurrent
thumbnails (``bench/big_images.py``). Stated budget, asserted here: ``BUDGET_MB``.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from PIL import Image as PILImage
from PIL import ImageDraw

from alp.db import Cycle, Selection, make_engine, make_sessionmaker
from alp.services import keys, thumbnails
from alp.storage import LocalStorage
from tests.conftest import make_settings
from tests.integration.live_api import PeakRss, live_api, rss_bytes

pytestmark = pytest.mark.timeout(600)

BUDGET_MB = 450  # API RSS growth over its warmed-up baseline, peak, any phase
SIDE = 8000  # 64 megapixels: the default max_image_pixels


@pytest.fixture(scope="module")
def big_pngs(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """Three distinct mostly-uniform 8000×8000 RGBA PNGs (a few hundred KB each)."""
    out = []
    for seed in range(3):
        im = PILImage.new("RGBA", (SIDE, SIDE), (40 + 50 * seed, 90, 140, 255))
        ImageDraw.Draw(im).rectangle((1000 * seed, 500, 1000 * seed + 900, 1400), fill="red")
        buf = io.BytesIO()
        im.save(buf, "PNG")
        out.append(buf.getvalue())
        assert len(out[-1]) < 1024 * 1024
    return out


def test_concurrent_64_megapixel_uploads_and_thumbnails_stay_in_budget(
    sqlite_url: str, tmp_path: Path, big_pngs: list[bytes]
) -> None:
    settings = make_settings(tmp_path / "data", sqlite_url)
    settings.ensure_dirs()
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    with sessions() as db:
        key = keys.create_key(db, "mem").key
        db.commit()
    storage = LocalStorage(settings.storage_dir)
    auth = {"Authorization": f"Bearer {key}"}
    with live_api(settings) as (base, proc), httpx.Client(base_url=base, headers=auth) as c:
        pool_id = c.post("/api/v1/pools", json={"name": "big", "classes": ["a"]}).json()["id"]
        small = io.BytesIO()
        PILImage.new("RGBA", (600, 400), "blue").save(small, "PNG")  # warm-up: imports, pools
        small.seek(0)
        warm = c.post(f"/api/v1/pools/{pool_id}/images", files=[("files", ("s.png", small))])
        assert warm.status_code == 201, warm.text
        baseline = rss_bytes(proc.pid)
        batches = [[0, 1], [2]]

        def upload(batch: list[int]) -> httpx.Response:
            files = [("files", (f"big{i}.png", big_pngs[i], "image/png")) for i in batch]
            with httpx.Client(base_url=base, headers=auth, timeout=300) as cc:
                return cc.post(f"/api/v1/pools/{pool_id}/images", files=files)

        with PeakRss(proc.pid) as up, ThreadPoolExecutor(len(batches)) as ex:
            ups = list(ex.map(upload, batches))
        assert [r.status_code for r in ups] == [201, 201], [r.text for r in ups]
        accepted = [a for r in ups for a in r.json()["accepted"]]
        assert [(a["width"], a["height"]) for a in accepted] == [(SIDE, SIDE)] * 3
        image_ids = [a["image_id"] for a in accepted]
        previews = [thumbnails.preview_key(pool_id, i) for i in image_ids]
        with PILImage.open(storage.path(previews[0])) as p:  # made at upload
            assert p.size == (512, 512)
        for k in previews[:2]:  # as for images stored before previews: decode the originals
            storage.delete(k)
        with sessions() as db:
            cycle = Cycle(pool_id=pool_id, index=0, state="done")
            db.add(cycle)
            db.flush()
            sels = [
                Selection(cycle_id=cycle.id, image_id=i, rank=r, score=1.0,
                          prediction={"boxes": [[0, 0, 4000, 4000]], "labels": ["a"]})
                for r, i in enumerate(image_ids)
            ]  # fmt: skip
            db.add_all(sels)
            db.commit()
            wanted = [s.id for s in sels] * 2  # six concurrent requests

        def thumb(sid: int) -> httpx.Response:
            with httpx.Client(base_url=base, headers=auth, timeout=300) as cc:
                return cc.get(f"/api/v1/dashboard/selections/{sid}/thumbnail?size=512")

        with PeakRss(proc.pid) as th, ThreadPoolExecutor(len(wanted)) as ex:
            thumbs = list(ex.map(thumb, wanted))
        assert [r.status_code for r in thumbs] == [200] * len(wanted)
        for r in thumbs:
            with PILImage.open(io.BytesIO(r.content)) as im:
                assert im.size == (512, 512)
        assert all(storage.exists(k) for k in previews)  # the two missing made on first use
    engine.dispose()
    mb = 1024 * 1024
    grown = {"upload": (up.peak - baseline) // mb, "thumbnails": (th.peak - baseline) // mb}
    print(f"baseline {baseline // mb} MB, peak growth {grown} MB")
    assert max(grown.values()) < BUDGET_MB, grown
