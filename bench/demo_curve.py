"""The demo's learning curve, headless; prints JSON (one line per cycle, then a summary).

Creates the ``alp up --demo`` pool (``simulation.demo`` settings and generator) in a temporary
data dir and runs its cycles in this process, stage by stage, exactly as the worker would
(train -> evaluate -> score shards -> select), then answers the selected images from the
ground truth like the demo's simulated annotator (auto-advance starts the next cycle).

Usage: ``python bench/demo_curve.py [--cycles 4] [--threads N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=4)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--seed-labels", type=int, default=20)
    parser.add_argument("--val", type=int, default=40)
    parser.add_argument("--batch", type=int, default=20)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="alp-demo-curve-"))
    os.environ.update({
        "ALP_DATA_DIR": str(tmp), "ALP_BROKER_URL": "memory://", "ALP_DEVICE": "cpu",
        "ALP_SECRET_KEY": "demo-curve", "ALP_SCORE_SHARD_SIZE": "64",
    })  # fmt: skip
    import torch
    from sqlalchemy import select

    from alp.config import get_settings
    from alp.db import Cycle, Job, ScoreShard
    from alp.db.migrate import upgrade
    from simulation import demo
    from worker import context
    from worker.pipeline import evaluate, score, train
    from worker.pipeline import select as select_stage

    if args.threads:
        torch.set_num_threads(args.threads)
    settings = get_settings()
    settings.ensure_dirs()
    upgrade(settings.database_url)
    sessions = context.sessions()
    ns = argparse.Namespace(images=args.images, seed_labels=args.seed_labels, val=args.val,
                            batch=args.batch)  # fmt: skip
    start = time.perf_counter()
    with sessions() as db:
        pool_id = demo.ensure_pool(db, settings, ns)
        demo.cycles.start_cycle(db, pool_id)
        db.commit()
    truth = json.loads(demo.truth_path(settings).read_text())
    curve = []
    for index in range(args.cycles):
        t0 = time.perf_counter()
        with sessions() as db:
            cycle = db.scalar(select(Cycle).where(Cycle.pool_id == pool_id, Cycle.index == index))
            assert cycle is not None, f"cycle {index} was not started"
            jobs = {j.kind: j.id for j in db.scalars(select(Job).where(Job.cycle_id == cycle.id))}
        train.run(jobs["train"])
        with sessions() as db:
            jobs = {j.kind: j.id for j in db.scalars(select(Job).where(Job.cycle_id == cycle.id))}
        evaluate.run(jobs["evaluate"])
        with sessions() as db:
            shards = list(db.scalars(select(ScoreShard.id).where(ScoreShard.cycle_id == cycle.id)))
            jobs = {j.kind: j.id for j in db.scalars(select(Job).where(Job.cycle_id == cycle.id))}
        for sid in shards:
            score.run_shard(sid)
        with sessions() as db:
            jobs = {j.kind: j.id for j in db.scalars(select(Job).where(Job.cycle_id == cycle.id))}
        select_stage.run(jobs["select"])
        stages_s = time.perf_counter() - t0
        while True:
            with sessions() as db:
                if demo.annotate_some(db, settings, pool_id, truth, 0.0, [False]) == 0:
                    break
        with sessions() as db:
            row = db.get(Cycle, cycle.id)
            assert row is not None
            if row.state == "failed":
                raise SystemExit(f"cycle {index} failed at {row.failed_stage}: {row.error}")
            point = {"cycle": index, "labeled": row.labeled_count,
                     "map50": round(float(row.metrics.get("map50", float("nan"))), 3),
                     "coco_ap": round(float(row.metrics.get("coco_ap", float("nan"))), 3),
                     "timings_s": row.timings, "cycle_wall_s": round(stages_s, 1),
                     "elapsed_s": round(time.perf_counter() - start, 1)}  # fmt: skip
        curve.append(point)
        print(json.dumps(point), flush=True)
    print(json.dumps({"map50": [p["map50"] for p in curve],
                      "total_s": round(time.perf_counter() - start, 1),
                      "torch_threads": torch.get_num_threads(),
                      "load_avg_1m": os.getloadavg()[0]}))  # fmt: skip


if __name__ == "__main__":
    main()
