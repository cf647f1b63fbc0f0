"""Blob-store throughput, local files vs S3, in one run; prints JSON.

For each backend: ingest (N generated JPEGs POSTed through the upload route of an
in-process API, batches of ``--batch``, into a new pool each of ``--rounds`` rounds; the
best round counts) and the training loader (decoding every image
through the worker's blob cache, as ``models.data`` does) with a cold cache, then warm.
S3 is a moto server started here (``python -m moto.server``), or the endpoint in
``ALP_BENCH_S3_ENDPOINT``. Targets (issue 19): S3 ingest >= 70 % of local, warm-cache loader
>= 95 % of local.

    .venv/bin/python bench/storage.py [--images 200] [--batch 20] [--size 640x480] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import select  # noqa: E402

from alp.config import Settings  # noqa: E402
from alp.db import Image  # noqa: E402
from alp.db.migrate import upgrade  # noqa: E402
from alp.services import keys  # noqa: E402
from alp.storage import BlobCache, open_storage  # noqa: E402
from bench.ingest import make_jpegs  # noqa: E402
from tests.support import s3  # noqa: E402


def _ingest(c: TestClient, name: str, images: list[bytes], batch: int) -> tuple[int, float]:
    """POST ``images`` into a new pool in batches; returns (pool id, seconds)."""
    pool = c.post("/api/v1/pools", json={"name": name, "classes": ["x"]}).json()["id"]
    t0 = time.perf_counter()
    for i in range(0, len(images), batch):
        files = [("files", (f"{i + j}.jpg", d, "image/jpeg"))
                 for j, d in enumerate(images[i : i + batch])]  # fmt: skip
        r = c.post(f"/api/v1/pools/{pool}/images", files=files)
        assert r.status_code == 201, r.text
    return pool, time.perf_counter() - t0


def run_backend(
    name: str, storage_url: str, images: list[bytes], batch: int, tmp: Path, rounds: int = 1
) -> dict:
    from api.main import create_app
    from models.data import load_image

    s = Settings(data_dir=tmp / name, storage_url=storage_url, secret_key="bench")
    s.ensure_dirs()
    upgrade(s.database_url)
    app = create_app(s)
    with app.state.alp.sessions() as db:
        key = keys.create_key(db, "bench").key
        db.commit()
    with TestClient(app) as c:
        c.headers["Authorization"] = f"Bearer {key}"
        # each round into a new pool (no duplicates: every image is stored again); best
        # round, as the machine may be shared
        runs = [_ingest(c, f"b{r}", images, batch) for r in range(rounds)]
        pool = runs[0][0]
        ingest_s = min(t for _, t in runs)
        with app.state.alp.sessions() as db:
            keys_ = db.scalars(select(Image.storage_key).where(Image.pool_id == pool)).all()
    cache = BlobCache(open_storage(s), tmp / name / "cache", 10 * 1024**3)
    passes = []
    for _ in range(4):  # cold, then warm (best of 3: the machine may be shared)
        t0 = time.perf_counter()
        for k in keys_:
            load_image(cache.blob(k))
        passes.append(time.perf_counter() - t0)
    passes[1] = min(passes[1:])
    n = len(keys_)
    return {
        "ingest_images_per_s": round(n / ingest_s, 1),
        "ingest_rounds_images_per_s": [round(n / t, 1) for _, t in runs],
        "loader_cold_images_per_s": round(n / passes[0], 1),
        "loader_warm_images_per_s": round(n / passes[1], 1),
        "downloads": cache.downloads,
    }


def _ratio(a: dict, b: dict, field: str) -> float:
    return round(a[field] / b[field], 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--rounds", type=int, default=3, help="Ingest rounds; the best counts.")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    images = make_jpegs(args.images, w, h, seed=0)
    s3.use_test_credentials()
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="alp-bench-storage-") as d:
        tmp = Path(d)
        endpoint = os.environ.get("ALP_BENCH_S3_ENDPOINT") or stack.enter_context(
            s3.moto_server(tmp)
        )
        bucket = s3.make_bucket(endpoint, "alp-bench")
        local_url, s3_url = (tmp / "local-store").as_uri(), s3.storage_url(endpoint, bucket)
        local = run_backend("local", local_url, images, args.batch, tmp, args.rounds)
        remote = run_backend("s3", s3_url, images, args.batch, tmp, args.rounds)
    print(json.dumps({
        "images": args.images, "size": args.size, "batch": args.batch, "rounds": args.rounds,
        "s3_endpoint": "moto (local)" if not os.environ.get("ALP_BENCH_S3_ENDPOINT") else "env",
        "local": local, "s3": remote,
        "s3_ingest_vs_local": _ratio(remote, local, "ingest_images_per_s"),
        "s3_warm_loader_vs_local": _ratio(remote, local, "loader_warm_images_per_s"),
        "targets": {"s3_ingest_vs_local": 0.70, "s3_warm_loader_vs_local": 0.95},
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
