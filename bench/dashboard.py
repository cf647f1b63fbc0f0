"""Dashboard server time for a large pool: prints JSON.

Builds a pool of ``--images`` images (default 100,000) with ``--cycles`` finished cycles
(each with a selection of ``--batch`` images, its four stage jobs and score shards) using
bulk SQL inserts, then times ``GET /pools/{id}`` (the HTML page) and
``GET /api/v1/dashboard/pools/{id}/status`` (the JSON it polls) in-process through the
ASGI app with a signed-in session. Reports p50/p95/max in milliseconds.

    python bench/dashboard.py                      # temporary SQLite database
    python bench/dashboard.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

from alp.config import Settings
from alp.db import Cycle, Image, Job, Pool, ScoreShard, Selection, make_engine, utcnow
from alp.db.migrate import upgrade
from alp.schemas import PoolSettings
from alp.services import keys
from tests.support.databases import private_postgres_database

CHUNK = 10_000
STAGES = {"training": 120.0, "evaluating": 8.0, "scoring": 45.0, "selecting": 1.5}


def populate(url: str, n_images: int, n_cycles: int, batch: int, shard_size: int) -> int:
    """Insert the pool and its rows; returns the pool id."""
    engine = make_engine(url)
    now = utcnow()
    with engine.begin() as conn:
        pool_id = conn.execute(
            insert(Pool).returning(Pool.id),
            {
                "name": "bench",
                "classes": ["car", "person", "bike"],
                "settings": PoolSettings(batch_size=batch).model_dump(),
                "created_at": now,
                "updated_at": now,
            },
        ).scalar_one()
        labeled = n_cycles * batch
        for start in range(0, n_images, CHUNK):
            conn.execute(
                insert(Image),
                [
                    {
                        "pool_id": pool_id,
                        "sha256": f"{i:064x}",
                        "storage_key": f"pools/{pool_id}/images/{i:064x}.jpg",
                        "filename": f"img_{i:06d}.jpg",
                        "content_type": "image/jpeg",
                        "size_bytes": 50_000,
                        "width": 640,
                        "height": 480,
                        "state": "labeled"
                        if i < labeled
                        else ("skipped" if i % 997 == 0 else "unlabeled"),
                        "split": "val" if i % 5 == 0 and i < labeled else "train",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(start, min(n_images, start + CHUNK))
                ],
            )
        first_id = conn.execute(
            text("SELECT MIN(id) FROM images WHERE pool_id = :p"), {"p": pool_id}
        ).scalar_one()
        for c in range(n_cycles):
            cycle_id = conn.execute(
                insert(Cycle).returning(Cycle.id),
                {
                    "pool_id": pool_id,
                    "index": c,
                    "state": "done",
                    "labeled_count": (c + 1) * batch,
                    "metrics": {
                        "map50": 0.2 + 0.04 * c,
                        "coco_ap": 0.08 + 0.02 * c,
                        "per_class": {"car": 0.3, "person": 0.2, "bike": 0.1},
                    },
                    "timings": STAGES,
                    "config": {},
                    "issues": [],
                    "created_at": now,
                    "started_at": now,
                    "finished_at": now,
                    "cancel_requested": False,
                },
            ).scalar_one()
            conn.execute(
                insert(Selection),
                [
                    {
                        "cycle_id": cycle_id,
                        "image_id": first_id + c * batch + r,
                        "rank": r,
                        "score": 1.0 - r / batch,
                        "components": {"uncertainty": 0.5, "diversity": 0.3, "class_balance": 0.2},
                        "prediction": {
                            "boxes": [[10, 20, 200, 220]] * 5,
                            "labels": ["car"] * 5,
                            "scores": [0.9, 0.8, 0.7, 0.6, 0.5],
                        },
                    }
                    for r in range(batch)
                ],
            )
            conn.execute(
                insert(Job),
                [
                    {
                        "kind": k,
                        "pool_id": pool_id,
                        "cycle_id": cycle_id,
                        "state": "succeeded",
                        "progress": 1.0,
                        "message": "done",
                        "attempts": 1,
                        "payload": {},
                        "created_at": now,
                        "started_at": now,
                        "finished_at": now,
                        "heartbeat_at": now,
                    }
                    for k in ("train", "evaluate", "score", "select")
                ],
            )
            n_shards = -(-(n_images - (c + 1) * batch) // shard_size)
            conn.execute(
                insert(ScoreShard),
                [
                    {
                        "cycle_id": cycle_id,
                        "index": s,
                        "state": "done",
                        "image_ids": [],
                        "records": None,
                        "attempts": 1,
                        "updated_at": now,
                    }
                    for s in range(n_shards)
                ],
            )
    # Steady state: autovacuum has set the visibility map, so COUNTs are index-only scans.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"))
    engine.dispose()
    return pool_id


def timed(fn: Callable[[], Any], n: int) -> dict[str, float]:
    fn()  # warm caches and template compilation
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[min(len(samples) - 1, int(0.95 * len(samples)))], 2),
        "max_ms": round(samples[-1], 2),
        "n": n,
    }


def run(url: str, data_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from api.main import create_app

    upgrade(url)
    t0 = time.perf_counter()
    pool_id = populate(url, args.images, args.cycles, args.batch, args.shard_size)
    populate_s = time.perf_counter() - t0
    settings = Settings(data_dir=data_dir, database_url=url, secret_key="bench")
    app = create_app(settings)
    with app.state.alp.sessions() as db:
        key = keys.create_key(db, "bench").key
        db.commit()
    with TestClient(app) as client:
        r = client.post("/login", data={"api_key": key}, follow_redirects=False)
        assert r.status_code == 303, r.text

        def get(path: str) -> Callable[[], None]:
            def call() -> None:
                resp = client.get(path)
                assert resp.status_code == 200, resp.text[:300]

            return call

        page = timed(get(f"/pools/{pool_id}"), args.requests)
        status = timed(get(f"/api/v1/dashboard/pools/{pool_id}/status"), args.requests)
        overview = timed(get("/"), args.requests)
        html_bytes = len(client.get(f"/pools/{pool_id}").content)
    return {
        "benchmark": "dashboard",
        "database": make_url(url).get_backend_name(),
        "images": args.images,
        "finished_cycles": args.cycles,
        "selection_per_cycle": args.batch,
        "populate_s": round(populate_s, 2),
        "pool_page": page,
        "status_json": status,
        "overview_page": overview,
        "pool_page_bytes": html_bytes,
        "budget_ms": 300,
        "pool_page_p95_within_budget": page["p95_ms"] < 300,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=100_000)
    ap.add_argument("--cycles", type=int, default=10)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--shard-size", type=int, default=256)
    ap.add_argument("--requests", type=int, default=30)
    ap.add_argument("--postgres", help="server URL; a temporary database is created on it")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        if args.postgres:
            with private_postgres_database(args.postgres, prefix="alp_bench") as url:
                result = run(url, data_dir, args)
        else:
            result = run(f"sqlite:///{data_dir / 'alp.db'}", data_dir, args)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
