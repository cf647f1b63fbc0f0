"""Training stage: hold out validation images, train on the labeled train split (fresh or
warm start; unreadable images are skipped with a cycle issue), save the checkpoint to
storage with the head's PPAL class qualities (also in ``Cycle.metrics``, beside
``train_images``, the labeled training images, stored before training starts) and, for
k-centre strategies, the labeled images' embeddings. Without labels it is skipped (the cycle
then selects at random).

Resumable (:mod:`worker.pipeline.resume`): every ``train_checkpoint_every`` iterations
and/or ``train_checkpoint_every_s`` seconds the training state is saved; a worker that
takes the stage over after a crash continues from it (job message and cycle issue say
from which iteration). The file is deleted when the stage completes, fails or is
cancelled."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alp.cycle_config import CycleConfig
from alp.db import Cycle, Pool
from alp.services import cycles
from alp.storage import Storage, checkpoint_key
from worker import context
from worker.pipeline import data, embeddings, modelling, resume
from worker.pipeline.common import StageRun, StageStopped, device_name


def _previous_checkpoint(db: Session, cycle: Cycle) -> str | None:
    return db.scalar(
        select(Cycle.checkpoint_key)
        .where(
            Cycle.pool_id == cycle.pool_id,
            Cycle.index < cycle.index,
            Cycle.checkpoint_key.is_not(None),
        )
        .order_by(Cycle.index.desc())
        .limit(1)
    )


def run(job_id: int) -> None:
    run = StageRun.claim(job_id, "training")
    if run is None:
        return
    storage, key = context.storage(), resume.resume_key(run.pool_id, run.cycle_id)
    with run:
        try:
            _train(run)
        except StageStopped:
            raise
        except Exception:
            resume.discard(storage, key)
            raise
    with context.session() as db:
        cycle = db.get(Cycle, run.cycle_id)
        if cycle is None or cycle.state == "cancelled":
            resume.discard(storage, key)


def _train(run: StageRun) -> None:
    storage = context.storage()
    with context.session() as db:
        cycle = db.get(Cycle, run.cycle_id)
        pool = db.get(Pool, run.pool_id)
        assert cycle is not None and pool is not None
        cfg = CycleConfig.parse(cycle.config)
        data.assign_validation(db, pool.id, cfg.val_fraction, cfg.seed)
        labeled = data.count_labeled(db, pool.id)
        manifest = data.labeled_manifest(db, context.cache(), pool.id, "train", pool.classes)
        classes = list(pool.classes)
        previous = _previous_checkpoint(db, cycle) if cfg.warm_start else None
        db.commit()
    readable, skipped = data.readable_manifest(manifest)
    with context.session() as db:
        if skipped:
            data.record_skipped(db, run.cycle_id, "training", skipped)
        # known before training starts: the dashboard shows it while the cycle trains
        _record_counts(db, run.cycle_id, labeled, len(readable))
        db.commit()
    if skipped:
        if not readable:
            raise RuntimeError(
                f"none of the {len(manifest)} labeled training images is readable "
                f"(e.g. image {skipped[0][0]}: {skipped[0][1]})"
            )
        manifest = readable
    if not manifest:
        run.complete(
            "no labeled images: this cycle selects at random",
            {"labeled_count": labeled, "checkpoint_key": None, "metrics": {"train_images": 0}},
        )
        return
    device = device_name(context.settings().device)
    weights = (
        str(context.cache().fetch(previous)) if previous and storage.exists(previous) else None
    )
    setup = _model_setup(run, cfg, device)  # model profile + pretrained weights (issue 18)
    config = modelling.train_config(cfg, device, weights, setup, len(manifest))
    from models.builders import build_detector
    from models.engine import train

    try:
        model = build_detector(config, len(classes))
    except ValueError as exc:  # e.g. classes appended since the previous checkpoint
        if weights is None:
            raise
        with context.session() as db:
            cycles.record_issue(db, run.cycle_id, f"warm start failed, fresh init: {exc}")
            db.commit()
        config = modelling.train_config(cfg, device, None, setup, len(manifest))
        model = build_detector(config, len(classes))

    s = context.settings()
    rkey = resume.resume_key(pool.id, run.cycle_id)
    resume.discard_others(storage, pool.id, rkey)
    digest = resume.fingerprint(config, manifest, classes)
    state = resume.load(storage, rkey, digest)
    first = int(state["iteration"]) if state else 0
    note = f" (resumed at {first})" if first else ""
    if first:
        with context.session() as db:
            cycles.record_issue(
                db, run.cycle_id, f"training resumed from its checkpoint at iteration {first}"
            )
            db.commit()

    shown: dict[str, Any] = {"fraction": None, "message": None}  # the latest progress

    def progress(it: int, total: int, losses: dict[str, float]) -> None:
        shown["fraction"] = 0.98 * it / total
        shown["message"] = f"iteration {it}/{total}{note} loss {losses['loss']:.3f}"
        run.progress(shown["fraction"], shown["message"], force=it == total)

    def checkpoint(st: dict[str, Any]) -> None:
        # a forced beat (lease check) that also writes the latest progress: a bare one
        # would restart the once-a-second throttle and hide progress between checkpoints
        if not run.progress(shown["fraction"], shown["message"], force=True):
            return  # lease lost: the new holder owns the file
        resume.save(storage, rkey, digest, st)

    result = train(
        model, manifest, config, progress=progress, should_stop=run.should_stop,
        resume=state, checkpoint=checkpoint, checkpoint_every=s.train_checkpoint_every,
        checkpoint_every_s=s.train_checkpoint_every_s,
    )  # fmt: skip
    if result.stopped:
        return
    key = checkpoint_key(pool.id, run.cycle_id)
    quality = modelling.class_quality(model, classes)
    metrics: dict[str, Any] = {"train_images": len(manifest)}
    if quality is not None:
        metrics["class_quality"] = quality
    metrics.update(setup.metrics())
    modelling.save_checkpoint(storage, key, model, config, classes, metrics)
    if embeddings.needed(cfg):
        _embed_labeled(run, storage, key, model, manifest, device, cfg.seed)
    if run.complete(
        f"trained {result.iterations} iterations{note} on {len(manifest)} images "
        f"(final loss {result.final_losses.get('loss', float('nan')):.3f})",
        {"labeled_count": labeled, "checkpoint_key": key, "metrics": metrics},
    ):
        resume.discard(storage, rkey)


def _record_counts(db: Session, cycle_id: int, labeled: int, train_images: int) -> None:
    """Store the cycle's labeled count (all labeled images, validation included) and
    ``metrics["train_images"]`` (the labeled training images it trains on)."""
    cycle = db.get(Cycle, cycle_id)
    if cycle is not None:
        cycle.labeled_count = labeled
        cycle.metrics = {**(cycle.metrics or {}), "train_images": train_images}


def _model_setup(run: StageRun, cfg: CycleConfig, device: str) -> modelling.ModelSetup:
    """Resolve the pool's model profile; record the from-scratch fallback as a cycle issue."""
    settings = context.settings()
    setup = modelling.model_setup(cfg, device, settings.torch_home, settings.weights_download)
    if setup.issue:
        with context.session() as db:
            cycles.record_issue(db, run.cycle_id, setup.issue)
            db.commit()
    return setup


def _embed_labeled(
    run: StageRun, storage: Storage, key: str, model: Any, manifest: list[dict[str, Any]],
    device: str, seed: int,
) -> None:  # fmt: skip
    """Embeddings of the labeled train images with the new model (k-centre strategies)."""

    def progress(done: int, total: int) -> None:
        run.progress(0.98 + 0.02 * done / total, f"embedding labeled images {done}/{total}")
        run.check()

    vectors = embeddings.compute(model, manifest, device, seed, progress=progress)
    embeddings.save(storage, embeddings.embeddings_key(key), vectors)
