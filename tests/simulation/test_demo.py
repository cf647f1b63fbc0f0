"""The demo's pool setup and simulated annotator (in process, no worker)."""

from __future__ import annotations

import argparse

from sqlalchemy import select

from alp.db import Annotation, Cycle, Image
from alp.services import cycles
from simulation import demo
from tests.api.cycle_fixtures import labeling_cycle
from tests.worker.cycle_support import sessions_for


def test_demo_pool_and_simulated_annotator(settings) -> None:
    sessions = sessions_for(settings)
    args = argparse.Namespace(images=6, seed_labels=2, val=2, batch=2)
    with sessions() as db:
        pool_id = demo.ensure_pool(db, settings, args)
        assert demo.ensure_pool(db, settings, args) == pool_id, "created once"
        states = db.execute(select(Image.split, Image.state).where(Image.pool_id == pool_id))
        assert sorted(map(tuple, states)) == sorted(
            [("train", "labeled")] * 2 + [("val", "labeled")] * 2 + [("train", "unlabeled")] * 6
        )
        unlabeled = list(
            db.scalars(select(Image.id).where(Image.pool_id == pool_id, Image.state == "unlabeled"))
        )
        cid = labeling_cycle(db, pool_id, unlabeled[:2])
        db.commit()
    truth = __import__("json").loads(demo.truth_path(settings).read_text())
    with sessions() as db:
        assert demo.annotate_some(db, settings, pool_id, truth, 0.0, [False]) == 2
    with sessions() as db:
        rows = db.scalars(select(Annotation).where(Annotation.image_id.in_(unlabeled[:2]))).all()
        assert [(r.source, r.boxes) for r in rows] == [
            ("simulated", truth[str(i)]) for i in unlabeled[:2]
        ]
        assert db.get(Cycle, cid).state == "done"
        nxt = cycles.active_cycle(db, pool_id)
        assert nxt is not None and nxt.index == 1, "auto-advance queued the next cycle"
