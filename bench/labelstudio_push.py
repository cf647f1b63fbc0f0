"""Benchmark: push N tasks with K predicted boxes each through alp, versus Label Studio's
own bulk import of the same payload (one POST). Prints JSON.

    .venv/bin/python bench/labelstudio_push.py [--tasks 2000] [--boxes 5] [--batch 500]

Starts a throw-away Label Studio server (own venv via scripts/ensure_labelstudio.sh) and
a throw-away SQLite alp database; nothing else is touched. Target: alp <= 2x bulk import.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alp.config import Settings  # noqa: E402
from alp.db import (  # noqa: E402
    Cycle,
    Image,
    LabelStudioConnection,
    Pool,
    Selection,
    make_engine,
    make_sessionmaker,
)
from alp.db.migrate import upgrade  # noqa: E402
from alp.labelstudio import mapping  # noqa: E402
from alp.labelstudio.client import LabelStudioClient  # noqa: E402
from alp.labelstudio.push import push_cycle  # noqa: E402
from alp.services.signing import signed_content_url  # noqa: E402
from tests.support import labelstudio as ls  # noqa: E402

CLASSES = ["car", "person", "dog"]
W, H = 640, 480


def fake_prediction(rng: random.Random, k: int) -> dict:
    boxes = []
    for _ in range(k):
        x1, y1 = rng.uniform(0, W - 50), rng.uniform(0, H - 50)
        boxes.append([x1, y1, x1 + rng.uniform(10, 50), y1 + rng.uniform(10, 50)])
    return {"boxes": boxes, "labels": [rng.randrange(len(CLASSES)) for _ in range(k)],
            "scores": [rng.random() for _ in range(k)]}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=2000)
    ap.add_argument("--boxes", type=int, default=5)
    ap.add_argument("--batch", type=int, default=500)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="alp-bench-ls-"))
    exe = ls.label_studio_executable()
    server = ls.fresh_server(exe, ls.template_data_dir(exe), tmp)
    try:
        settings = Settings(data_dir=tmp / "alp", secret_key="bench", public_base_url="http://alp")
        settings.ensure_dirs()
        upgrade(settings.database_url)
        sessions = make_sessionmaker(make_engine(settings.database_url))
        client = LabelStudioClient(server.url, server.token)
        rng = random.Random(0)
        with sessions() as db:
            pool = Pool(name="bench", classes=CLASSES, settings={})
            db.add(pool)
            db.flush()
            cycle = Cycle(pool_id=pool.id, index=0, state="labeling", config={}, metrics={},
                          timings={}, issues=[])  # fmt: skip
            db.add(cycle)
            db.flush()
            imgs = [
                Image(pool_id=pool.id, sha256=f"{i:064x}", storage_key=f"k{i}",
                      filename=f"{i}.jpg", content_type="image/jpeg", size_bytes=1,
                      width=W, height=H, state="queued")
                for i in range(args.tasks)
            ]  # fmt: skip
            db.add_all(imgs)
            db.flush()
            preds = [fake_prediction(rng, args.boxes) for _ in imgs]
            db.add_all(Selection(cycle_id=cycle.id, image_id=img.id, rank=r, score=1.0 / (r + 1),
                                 components={}, prediction=p)
                       for r, (img, p) in enumerate(zip(imgs, preds, strict=True)))  # fmt: skip
            project_alp = client.create_project("alp push", mapping.label_config(CLASSES)).id
            project_ls = client.create_project("bulk import", mapping.label_config(CLASSES)).id
            db.add(LabelStudioConnection(pool_id=pool.id, url=server.url, token=server.token,
                                         project_id=project_alp))  # fmt: skip
            db.commit()
            # The same payload, through Label Studio's own bulk import (one request).
            payload = [
                mapping.task_payload(
                    image_url=signed_content_url(settings, img.id, 3600), image_id=img.id,
                    cycle=cycle.index, rank=r, width=W, height=H,
                    boxes=[{"x1": b[0], "y1": b[1], "x2": b[2], "y2": b[3],
                            "label": CLASSES[lab], "score": s}
                           for b, lab, s in zip(p["boxes"], p["labels"], p["scores"], strict=True)],
                    version="alp-cycle-0",
                )
                for r, (img, p) in enumerate(zip(imgs, preds, strict=True))
            ]  # fmt: skip
            t0 = time.perf_counter()
            resp = httpx.post(f"{server.url}/api/projects/{project_ls}/import", json=payload,
                              headers={"Authorization": f"Token {server.token}"},
                              timeout=600)  # fmt: skip
            resp.raise_for_status()
            bulk_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            result = push_cycle(db, settings, cycle.id, checkpoint=db.commit,
                                batch_size=args.batch)  # fmt: skip
            db.commit()
            alp_s = time.perf_counter() - t0
        n_alp = sum(1 for _ in client.iter_tasks(project_alp, fields="task_only"))
        print(json.dumps({
            "tasks": args.tasks, "boxes_per_task": args.boxes, "batch_size": args.batch,
            "alp_push_s": round(alp_s, 3), "ls_bulk_import_s": round(bulk_s, 3),
            "ratio_alp_over_bulk": round(alp_s / bulk_s, 3), "target_ratio": 2.0,
            "alp_tasks_created": result.created, "tasks_in_project": n_alp,
            "ls_bulk_task_count": resp.json().get("task_count"),
        }, indent=2))  # fmt: skip
    finally:
        server.stop()


if __name__ == "__main__":
    main()
