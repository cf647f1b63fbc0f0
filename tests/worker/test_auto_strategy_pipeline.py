"""``auto`` and ``typiclust`` through the real stages (in process, SQLite, tiny detector):
the selection stage feeds ``auto`` the labelled images per class and the validation mAP,
and stores which strategy it used and why in ``Cycle.metrics["strategy_decision"]``."""

from __future__ import annotations

from sqlalchemy import select

from alp.db import Cycle, Selection
from alp.services import cycles
from simulation.synthetic_pool import create_synthetic_pool
from tests.worker.cycle_support import pool_settings, storage_for
from tests.worker.inprocess import run_stages

CLASSES = ("circle", "square")


def _cycle(sqlite_worker, **strategy) -> tuple[Cycle, list[int], dict]:
    s, sessions = sqlite_worker
    storage = storage_for(s)
    with sessions() as db:
        pool = create_synthetic_pool(
            db, storage, "auto", n_labeled=6, n_val=2, n_unlabeled=8, size=48,
            classes=CLASSES, settings=pool_settings(batch_size=3, **strategy),
        )  # fmt: skip
        cycle, _ = cycles.start_cycle(db, pool.pool_id)
        db.commit()
    run_stages(sessions, cycle.id)
    with sessions() as db:
        row = db.get(Cycle, cycle.id)
        chosen = list(db.scalars(select(Selection.image_id).where(Selection.cycle_id == row.id)))
    per_class = [sum(any(b["label"] == c for b in pool.truth[i]) for i in pool.labeled_ids)
                 for c in CLASSES]  # fmt: skip
    return row, chosen, {"per_class": per_class, "unlabeled": set(pool.unlabeled_ids)}


def test_auto_uses_typiclust_on_a_small_pool_and_records_why(sqlite_worker) -> None:
    cycle, chosen, info = _cycle(sqlite_worker, strategy="auto")
    assert cycle.state == "labeling", cycle.error
    assert len(chosen) == 3 and set(chosen) <= info["unlabeled"]
    fewest = min(info["per_class"])
    assert cycle.metrics["strategy_decision"] == {
        "by": "auto",
        "strategy": "typiclust",
        "reason": f"a class has {fewest} labelled images (< 20)",
    }


def test_auto_switches_to_hua_when_the_rule_says_the_pool_is_large(sqlite_worker) -> None:
    params = {"min_images_per_class": None, "min_validation_map": 0.0}
    cycle, chosen, _ = _cycle(sqlite_worker, strategy="auto", strategy_params=params)
    assert cycle.state == "labeling", cycle.error
    decision = cycle.metrics["strategy_decision"]
    assert decision["strategy"] == "hua"
    assert decision["reason"].startswith("validation mAP@0.5 ") and ">= 0" in decision["reason"]
    assert len(chosen) == 3
