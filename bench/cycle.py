"""Cycle benchmark; prints JSON.

1. ``stages``: wall seconds per stage of one cycle on a synthetic pool, with a real worker
   process (embedded runtime: SQLite + SQLite broker), from ``Cycle.timings``.
2. ``scoring``: scoring throughput (images/s) of one cycle's shards with 1 and with 2
   worker processes (the second number over the first is the speed-up).
3. ``next_batch``: latency p50/p95 of the next-batch query with ``--rows`` image rows in
   PostgreSQL (rows generated with SQL), through the service and through HTTP.

Usage: ``python bench/cycle.py [--images 256] [--rows 1000000] [--skip-pg]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402

from alp.config import Settings  # noqa: E402
from alp.db import Cycle, Job, ScoreShard, Selection, make_engine, make_sessionmaker  # noqa: E402
from alp.db.migrate import upgrade  # noqa: E402
from alp.jobs import make_celery  # noqa: E402
from alp.services import cycle_flow, cycles  # noqa: E402
from alp.storage import LocalStorage  # noqa: E402
from simulation.synthetic_pool import create_synthetic_pool  # noqa: E402
from tests.support.processes import celery_worker, wait_for  # noqa: E402

TRAIN = {"iterations": 40, "batch_size": 8, "warmup_iters": 5, "lr": 0.01,
         "detector": {"min_size": 128, "max_size": 128}}  # fmt: skip


def _settings(data: Path, shard: int) -> Settings:
    s = Settings(data_dir=data, secret_key="bench", score_shard_size=shard,
                 worker_stale_after_s=600)  # fmt: skip
    s.ensure_dirs()
    upgrade(s.database_url)
    return s


def _wait(sessions: Any, cycle_id: int, state: str, timeout: float) -> Cycle:
    def check() -> Cycle | None:
        with sessions() as db:
            c = db.get(Cycle, cycle_id)
            if c.state == "failed":
                raise RuntimeError(f"cycle failed at {c.failed_stage}: {c.error}")
            return c if c.state == state else None

    return wait_for(check, timeout=timeout, interval=0.5, what=f"cycle {cycle_id} {state}")


def bench_stages(data: Path, args: argparse.Namespace) -> tuple[dict[str, Any], Settings, int]:
    s = _settings(data, args.shard)
    sessions = make_sessionmaker(make_engine(s.database_url), make_celery(s))
    assert s.storage_dir is not None
    with sessions() as db:
        pool = create_synthetic_pool(
            db, LocalStorage(s.storage_dir), "bench", n_labeled=40, n_val=20,
            n_unlabeled=args.images, size=128,
            settings={"strategy": "hua", "batch_size": 20, "train_preset": "huale", "model": "tiny",
                      "train_overrides": TRAIN, "val_fraction": 0.0},
        )  # fmt: skip
        db.commit()
        cycle, _ = cycles.start_cycle(db, pool.pool_id)
        db.commit()
    t0 = time.perf_counter()
    with celery_worker(s, log_path=data / "worker-stages.log"):
        done = _wait(sessions, cycle.id, "labeling", timeout=1800)
    total = time.perf_counter() - t0
    out = {"images_unlabeled": args.images, "train_iterations": TRAIN["iterations"],
           "stage_seconds": done.timings, "cycle_wall_seconds": round(total, 2),
           "map50": done.metrics.get("map50"),
           "selection": _selection(sessions, cycle.id)}  # fmt: skip
    return out, s, cycle.id


def _selection(sessions: Any, cycle_id: int) -> list[list[Any]]:
    """The cycle's selection as ``[image_id, rank, score]`` rows, best first (a fingerprint)."""
    with sessions() as db:
        rows = db.execute(select(Selection.image_id, Selection.rank, Selection.score).where(
            Selection.cycle_id == cycle_id).order_by(Selection.rank)).all()  # fmt: skip
        return [[i, r, s] for i, r, s in rows]


def _scoring_cycle(sessions: Any, template_id: int, index: int) -> int:
    """A copy of the template cycle (same checkpoint) entering ``scoring``."""
    with sessions() as db:
        t = db.get(Cycle, template_id)
        c = Cycle(pool_id=t.pool_id, index=index, state="scoring", config=t.config,
                  checkpoint_key=t.checkpoint_key, metrics={}, timings={}, issues=[])  # fmt: skip
        db.add(c)
        db.flush()
        cycle_flow.enter_stage(db, c, "scoring", shard_size=t.config.get("_shard", 32))
        db.commit()
        return c.id


def _scoring_wall(sessions: Any, cycle_id: int) -> tuple[float, int]:
    with sessions() as db:
        job = db.scalar(select(Job).where(Job.cycle_id == cycle_id, Job.kind == "score"))
        end = db.scalar(select(func.max(ScoreShard.updated_at)).where(
            ScoreShard.cycle_id == cycle_id))  # fmt: skip
        n = sum(len(x) for x in db.scalars(select(ScoreShard.image_ids).where(
            ScoreShard.cycle_id == cycle_id)))  # fmt: skip
        return (end - job.started_at).total_seconds(), n


def bench_scoring(s: Settings, template_id: int, data: Path) -> dict[str, Any]:
    sessions = make_sessionmaker(make_engine(s.database_url), make_celery(s))
    out: dict[str, Any] = {}
    index = 100
    for procs in (1, 2):
        with celery_worker(s, queues="gpu,io", concurrency=procs,
                           log_path=data / f"worker-c{procs}.log"):  # fmt: skip
            for _ in range(procs):  # warm-up: every child imports torch and loads the model
                index += 1
                _wait(sessions, _scoring_cycle(sessions, template_id, index), "labeling", 900)
            index += 1
            cid = _scoring_cycle(sessions, template_id, index)
            _wait(sessions, cid, "labeling", 1800)
        wall, n = _scoring_wall(sessions, cid)
        out[f"workers_{procs}"] = {"images": n, "seconds": round(wall, 2),
                                   "images_per_s": round(n / wall, 2)}  # fmt: skip
    out["speedup"] = round(out["workers_2"]["images_per_s"] / out["workers_1"]["images_per_s"], 2)
    out["cpu_cores"] = os.cpu_count()
    return out


def bench_next_batch(rows: int, data: Path) -> dict[str, Any]:
    from tests.support import databases

    if databases.postgres_base_url() is None:
        os.environ.setdefault(databases.PG_ENV, "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    with databases.private_postgres_database() as url:
        upgrade(url)
        engine = make_engine(url)
        t0 = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO pools (name, classes, settings, created_at, updated_at) VALUES "
                    "('big', '[\"a\", \"b\"]', '{\"batch_size\": 1000}', now(), now())"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO images (pool_id, sha256, storage_key, filename, content_type, "
                    "size_bytes, width, height, state, split, created_at, updated_at) "
                    "SELECT 1, md5(g::text) || md5((g+1)::text), 'k/' || g, 'f' || g || '.png', "
                    "'image/png', 1000, 128, 128, CASE WHEN g <= 1000 THEN 'queued' ELSE "
                    "'unlabeled' END, 'train', now(), now() FROM generate_series(1, :n) g"
                ),
                {"n": rows},
            )
            conn.execute(
                text(
                    "INSERT INTO cycles (pool_id, index, state, config, metrics, labeled_count, "
                    "timings, issues, cancel_requested, created_at) VALUES "
                    "(1, 0, 'labeling', '{}', '{}', 0, '{}', '[]', false, now())"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO selections (cycle_id, image_id, rank, score, components, "
                    "prediction) SELECT 1, g, g - 1, 1.0 / g, '{\"entropy\": 0.5}', "
                    '\'{"boxes": [[1, 2, 30, 40]], "labels": [0], "scores": [0.9]}\' '
                    "FROM generate_series(1, 1000) g"
                )
            )
            conn.execute(text("UPDATE images SET state = 'labeled' WHERE id <= 500"))
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
        load_s = time.perf_counter() - t0
        s = Settings(data_dir=data / "pg", database_url=url, secret_key="bench")
        service = _time_service(s, url)
        http = _time_http(s)
        engine.dispose()
    return {
        "image_rows": rows,
        "selected": 1000,
        "still_to_label": 500,
        "limit": 20,
        "generate_rows_s": round(load_s, 1),
        "service_ms": service,
        "http_ms": http,
    }


def _pct(samples: list[float]) -> dict[str, float]:
    q = statistics.quantiles(samples, n=100)
    return {"p50": round(q[49], 2), "p95": round(q[94], 2), "n": len(samples)}


def _time_service(s: Settings, url: str) -> dict[str, float]:
    from alp.services.selection import next_batch

    sessions = make_sessionmaker(make_engine(url))
    samples = []
    for i in range(220):
        with sessions() as db:
            t = time.perf_counter()
            batch = next_batch(db, s, 1, limit=20)
            dt = (time.perf_counter() - t) * 1000
        assert len(batch.items) == 20
        if i >= 20:
            samples.append(dt)
    return _pct(samples)


def _time_http(s: Settings) -> dict[str, float]:
    from fastapi.testclient import TestClient

    from alp.services import keys
    from api.main import create_app

    with make_sessionmaker(make_engine(s.database_url))() as db:
        key = keys.create_key(db, "bench").key
        db.commit()
    samples = []
    with TestClient(create_app(s)) as c:
        c.headers["Authorization"] = f"Bearer {key}"
        for i in range(220):
            t = time.perf_counter()
            r = c.get("/api/v1/pools/1/next-batch", params={"limit": 20})
            dt = (time.perf_counter() - t) * 1000
            assert r.status_code == 200 and len(r.json()["items"]) == 20
            if i >= 20:
                samples.append(dt)
    return _pct(samples)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--images", type=int, default=256, help="unlabeled images of the pool")
    p.add_argument("--shard", type=int, default=32, help="images per scoring shard")
    p.add_argument("--rows", type=int, default=1_000_000, help="image rows for next-batch")
    p.add_argument("--skip-pg", action="store_true", help="skip the PostgreSQL latency part")
    p.add_argument("--skip-workers", action="store_true", help="skip stages and scoring")
    p.add_argument("--skip-scoring", action="store_true", help="skip the 1 vs 2 process part")
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    result: dict[str, Any] = {"cpu_cores": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="alp-bench-") as tmp:
        data = Path(tmp)
        if not args.skip_workers:
            result["stages"], s, cid = bench_stages(data / "cycle", args)
            with make_sessionmaker(make_engine(s.database_url))() as db:
                c = db.get(Cycle, cid)
                c.config = {**c.config, "_shard": args.shard}
                db.commit()
            if not args.skip_scoring:
                result["scoring"] = bench_scoring(s, cid, data)
        if not args.skip_pg:
            result["next_batch"] = bench_next_batch(args.rows, data)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
