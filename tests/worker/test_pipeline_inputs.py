"""What the stages feed the model and the strategy, run in process on one small pool:

* unreadable image files (missing, garbage, truncated) are skipped with a cycle issue in
  training, evaluation and scoring instead of failing the cycle;
* the scoring context carries the labeled class frequencies (every shard and the
  selection) and, for k-centre strategies, the labeled images' embeddings (selection).

One cycle is run once for the module (training a tiny detector is the slow part); each test
checks one aspect of the stored outcome.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from alp.db import Cycle, Image, ScoreShard, Selection
from alp.services import cycles
from simulation.synthetic_pool import create_synthetic_pool
from tests.conftest import make_settings
from tests.worker.cycle_support import pool_settings, storage_for
from tests.worker.inprocess import run_stages, spy_on_strategies, use_settings
from worker.pipeline import data, embeddings

CLASSES = ("circle", "square", "triangle")
STRATEGY = {
    "strategy": "two_stage",  # k-centre on embeddings after hua with CD "pool"
    "strategy_params": {"uncertainty": "hua", "uncertainty_params": {"cd_variant": "pool"}},
}


@dataclass
class Outcome:
    cycle: Cycle
    broken: dict[str, int]  # what -> image id
    labeled: list[int]
    unlabeled: list[int]
    truth: dict[int, list[dict[str, Any]]]
    records: list[int]  # image ids with a scoring record
    selected: list[int]
    calls: list[tuple[str, Any]] = field(default_factory=list)
    embeddings_shape: tuple[int, ...] | None = None
    # (labeled_count, metrics["train_images"]) of the cycle row when training began
    counts_at_training: list[tuple[int, Any]] = field(default_factory=list)


def _break(path: Path, how: str) -> None:
    if how == "missing":
        path.unlink()
    elif how == "garbage":
        path.write_bytes(b"this is not an image")
    else:  # truncated
        path.write_bytes(path.read_bytes()[:200])


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory, _sqlite_template: Path) -> Iterator[Outcome]:
    tmp = tmp_path_factory.mktemp("inputs")
    (tmp / "alp.db").write_bytes(_sqlite_template.read_bytes())
    s = make_settings(tmp / "data", f"sqlite:///{tmp / 'alp.db'}", score_shard_size=4,
                      device="cpu")  # fmt: skip
    s.ensure_dirs()
    storage = storage_for(s)
    with pytest.MonkeyPatch.context() as mp:
        sessions = use_settings(mp, s)
        calls = spy_on_strategies(mp)
        counts_at_training: list[tuple[int, Any]] = []
        import models.engine

        real_train = models.engine.train

        def spy_train(*args: Any, **kw: Any) -> Any:
            with sessions() as db:
                row = db.get(Cycle, cycle.id)
                counts_at_training.append((row.labeled_count, row.metrics.get("train_images")))
            return real_train(*args, **kw)

        mp.setattr(models.engine, "train", spy_train)
        with sessions() as db:
            pool = create_synthetic_pool(
                db, storage, "inputs", n_labeled=6, n_val=3, n_unlabeled=8, size=64,
                classes=CLASSES, settings=pool_settings(batch_size=3, **STRATEGY),
            )  # fmt: skip
            cycle, _ = cycles.start_cycle(db, pool.pool_id)
            db.commit()
            broken = {"training": pool.labeled_ids[0], "evaluation": pool.val_ids[0],
                      "scoring-missing": pool.unlabeled_ids[0],
                      "scoring-garbage": pool.unlabeled_ids[5]}  # fmt: skip
            for image_id, how in zip(
                broken.values(), ["garbage", "truncated", "missing", "garbage"], strict=True
            ):
                _break(storage.path(db.get(Image, image_id).storage_key), how)
        run_stages(sessions, cycle.id)
        with sessions() as db:
            row = db.get(Cycle, cycle.id)
            shards = db.scalars(select(ScoreShard).where(ScoreShard.cycle_id == cycle.id))
            records = sorted(e["record"]["image_id"] for sh in shards for e in sh.records or [])
            selected = list(
                db.scalars(
                    select(Selection.image_id)
                    .where(Selection.cycle_id == cycle.id)
                    .order_by(Selection.rank)
                )
            )
        emb = None
        if row.checkpoint_key:
            loaded = embeddings.load(storage, embeddings.embeddings_key(row.checkpoint_key))
            emb = tuple(loaded.shape) if loaded is not None else None
        yield Outcome(row, broken, pool.labeled_ids, pool.unlabeled_ids, pool.truth, records,
                      selected, calls, emb, counts_at_training)  # fmt: skip


def _issues(o: Outcome) -> list[str]:
    return [i["message"] for i in o.cycle.issues]


def test_cycle_reaches_labeling_despite_unreadable_images(outcome: Outcome) -> None:
    assert outcome.cycle.state == "labeling", outcome.cycle.error
    assert len(outcome.selected) == 3


def test_training_and_evaluation_skip_unreadable_images(outcome: Outcome) -> None:
    issues = _issues(outcome)
    assert any(f"image {outcome.broken['training']} skipped in training" in m for m in issues)
    assert any(f"image {outcome.broken['evaluation']} skipped in evaluation" in m for m in issues)
    assert outcome.cycle.metrics["val_images"] == 2  # 3 held out, 1 unreadable
    assert "map50" in outcome.cycle.metrics


def test_training_count_is_stored_before_training_and_kept(outcome: Outcome) -> None:
    """The dashboard shows what a cycle trains on while it trains (issue 15): all 9 labeled
    images, of which 5 readable training images (3 held out, 1 unreadable)."""
    assert outcome.counts_at_training == [(9, 5)]
    assert (outcome.cycle.labeled_count, outcome.cycle.metrics["train_images"]) == (9, 5)


def test_scoring_skips_unreadable_images_without_records(outcome: Outcome) -> None:
    missing, garbage = outcome.broken["scoring-missing"], outcome.broken["scoring-garbage"]
    issues = _issues(outcome)
    assert any(f"image {missing} skipped in scoring" in m and "file missing" in m for m in issues)
    assert any(f"image {garbage} skipped in scoring" in m for m in issues)
    assert outcome.records == sorted(set(outcome.unlabeled) - {missing, garbage})
    assert not {missing, garbage} & set(outcome.selected)


def test_labeled_class_freq_reaches_scoring_and_selection(outcome: Outcome) -> None:
    counts = [0.0] * len(CLASSES)
    for image_id in outcome.labeled:  # from annotations, so the unreadable one counts too
        for box in outcome.truth[image_id]:
            counts[CLASSES.index(box["label"])] += 1
    expected = pytest.approx([c / len(outcome.labeled) for c in counts])
    phases = {phase for phase, _ in outcome.calls}
    assert phases == {"score", "select"}
    for _phase, ctx in outcome.calls:
        assert ctx.labeled_class_freq == expected


def test_k_centre_selection_gets_labeled_embeddings(outcome: Outcome) -> None:
    readable_labeled = len(outcome.labeled) - 1
    assert outcome.embeddings_shape is not None and outcome.embeddings_shape[0] == readable_labeled
    selects = [ctx for phase, ctx in outcome.calls if phase == "select"]
    assert len(selects) == 1
    centres = selects[0].labeled_embeddings
    assert centres is not None and tuple(centres.shape) == outcome.embeddings_shape
    scores = [ctx for phase, ctx in outcome.calls if phase == "score"]
    assert all(ctx.labeled_embeddings is None for ctx in scores), "only selection needs them"


def test_unreadable_reason_names_the_problem(tmp_path: Path) -> None:
    from PIL import Image as PILImage

    good = tmp_path / "good.jpg"
    PILImage.new("RGB", (64, 48), (200, 10, 10)).save(good, quality=95)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"\x89PNG not really")
    assert data.unreadable_reason(good) is None
    assert data.unreadable_reason(tmp_path / "nope.png") == "file missing"
    assert "truncated" in (data.unreadable_reason(truncated) or "").lower()
    assert "UnidentifiedImageError" in (data.unreadable_reason(garbage) or "")
    kept, skipped = data.readable_manifest(
        [{"path": str(good), "image_id": 1}, {"path": str(garbage), "image_id": 2}]
    )
    assert [e["image_id"] for e in kept] == [1] and [i for i, _ in skipped] == [2]


def test_training_fails_clearly_when_no_labeled_image_is_readable(sqlite_worker) -> None:
    s, sessions = sqlite_worker
    storage = storage_for(s)
    with sessions() as db:
        pool = create_synthetic_pool(db, storage, "unreadable", n_labeled=2, n_val=0,
                                     n_unlabeled=2, size=32, settings=pool_settings())  # fmt: skip
        for image_id in pool.labeled_ids:
            storage.path(db.get(Image, image_id).storage_key).unlink()
        cycle, _ = cycles.start_cycle(db, pool.pool_id)
        db.commit()
    run_stages(sessions, cycle.id, ("training",))
    with sessions() as db:
        c = db.get(Cycle, cycle.id)
        assert (c.state, c.failed_stage) == ("failed", "training")
        assert "none of the 2 labeled training images is readable" in c.error
        assert len(c.issues) == 2
