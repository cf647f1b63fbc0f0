"""``alp up --demo``: a synthetic pool and a simulated annotator, so cycles run by themselves.

Run as its own process (``python -m simulation.demo``) beside the API and a worker. On first
start it creates the pool ``demo`` from the synthetic shape generator (a few labeled seed
images, a held-out validation set, many unlabeled images; ground truth kept in
``<data dir>/demo/truth.json``) and starts cycle 0. Then it polls the pool's next batch and
answers each image from the ground truth after ``--delay`` seconds (annotation source
``simulated``); auto-advance starts the next cycle, so mAP rises and the queue moves.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from alp.config import Settings, get_settings
from alp.db import Cycle, Pool, make_engine, make_sessionmaker
from alp.errors import AlpError
from alp.jobs import make_celery
from alp.services import annotations, cycles, selection
from alp.storage import open_storage

log = logging.getLogger("alp.demo")
POOL_NAME = "demo"
# Tuned so that mAP@0.5 visibly rises within the first cycles on a CPU (docs/cycles.md):
# an easy pool (2 classes, 1-2 big shapes, no clutter/noise), a tiny detector with anchors
# and proposal counts sized for it, and warm starts (each cycle continues from the last).
DEMO_POOL: dict[str, Any] = {
    "size": 96,
    "classes": ("circle", "square"),
    "scale": (0.3, 0.6),
    "min_objects": 1,
    "max_objects": 2,
    "clutter": 0,
    "noise": 0.0,
}
DEMO_TRAIN: dict[str, Any] = {
    "iterations": 50,
    "batch_size": 8,
    "warmup_iters": 5,
    "lr": 0.04,
    "detector": {
        "min_size": 96, "max_size": 96, "anchor_sizes": [32, 64], "rois_per_image": 64,
        "rpn_pre_nms_top_n_train": 300, "rpn_post_nms_top_n_train": 150,
        "rpn_pre_nms_top_n_test": 200, "rpn_post_nms_top_n_test": 100,
    },
}  # fmt: skip
DEMO_SETTINGS: dict[str, Any] = {
    "strategy": "hua",
    "train_preset": "huale",
    "model": "tiny",  # the demo's 96 px synthetic shapes need no pretrained detector
    "train_overrides": DEMO_TRAIN,
    "val_fraction": 0.0,  # the demo has its own held-out validation images
    "warm_start": True,
    "score_subset": 120,  # keeps scoring to ~15 s per cycle on a CPU
    "auto_advance": True,
}


def truth_path(settings: Settings) -> Path:
    return settings.data_dir / "demo" / "truth.json"


def ensure_pool(db: Any, settings: Settings, args: argparse.Namespace) -> int:
    """The demo pool's id (created with its ground truth file on first start)."""
    pool = db.scalar(select(Pool).where(Pool.name == POOL_NAME))
    if pool is not None and truth_path(settings).exists():
        return pool.id
    if pool is not None:
        raise SystemExit(f"a pool named {POOL_NAME!r} exists without demo ground truth")
    from simulation.synthetic_pool import create_synthetic_pool

    made = create_synthetic_pool(
        db, open_storage(settings), POOL_NAME,
        n_labeled=args.seed_labels, n_val=args.val, n_unlabeled=args.images,
        settings={**DEMO_SETTINGS, "batch_size": args.batch}, **DEMO_POOL,
    )  # fmt: skip
    path = truth_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({str(k): v for k, v in made.truth.items()}))
    db.commit()
    log.info("created demo pool %s with %d images", made.pool_id, len(made.truth))
    return made.pool_id


def annotate_some(
    db: Any, settings: Settings, pool_id: int, truth: dict[str, Any], delay: float, stop: list[bool]
) -> int:
    """Answer up to 5 images of the next batch from ground truth; returns how many."""
    batch = selection.next_batch(db, settings, pool_id, limit=5)
    db.rollback()
    done = 0
    for item in batch.items:
        if stop[0]:
            break
        time.sleep(delay)
        try:
            annotations.put_annotation(
                db, item.image_id, truth.get(str(item.image_id), []), source="simulated"
            )
            db.commit()
            done += 1
        except AlpError as exc:  # e.g. the image was labeled meanwhile
            db.rollback()
            log.warning("could not annotate image %s: %s", item.image_id, exc.detail)
    return done


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=300, help="unlabeled images")
    parser.add_argument("--seed-labels", type=int, default=20, help="labeled seed images")
    parser.add_argument("--val", type=int, default=40, help="held-out validation images")
    parser.add_argument("--batch", type=int, default=20, help="images selected per cycle")
    parser.add_argument("--delay", type=float, default=0.5, help="seconds per annotation")
    parser.add_argument("--poll", type=float, default=2.0, help="seconds between polls")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s demo %(message)s")
    settings = get_settings()
    sessions = make_sessionmaker(make_engine(settings.database_url), make_celery(settings))
    stop = [False]

    def _stop(_sig: int, _frame: object) -> None:
        stop[0] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with sessions() as db:
        pool_id = ensure_pool(db, settings, args)
        if db.scalar(select(Cycle.id).where(Cycle.pool_id == pool_id).limit(1)) is None:
            cycles.start_cycle(db, pool_id)
            db.commit()
            log.info("started cycle 0 of the demo pool")
    truth = json.loads(truth_path(settings).read_text())
    while not stop[0]:
        with sessions() as db:
            n = annotate_some(db, settings, pool_id, truth, args.delay, stop)
        if n == 0:
            time.sleep(args.poll)


if __name__ == "__main__":
    main()
