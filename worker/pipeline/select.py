"""Selection stage: merge the shards' records, run the strategy's global step, store the
Selection rows (rank, score, components, pre-annotation) and enter ``labeling``.

Idempotent: the cycle's selections are replaced in the same transaction that finishes the
job, so a redelivered task never duplicates rows.
"""

from __future__ import annotations

from sqlalchemy import delete, select, update

from alp.db import Cycle, Image, Pool, ScoreShard, Selection
from alp.services import cycle_flow, job_rows
from worker import context
from worker.pipeline.common import StageRun
from worker.pipeline.score import scoring_context, strategy_for


def run(job_id: int) -> None:
    run = StageRun.claim(job_id, "selecting")
    if run is None:
        return
    with run:
        _select(run)


def _select(run: StageRun) -> None:
    from acquisition.records import ImageRecord

    with context.session() as db:
        cycle = db.get(Cycle, run.cycle_id)
        pool = db.get(Pool, run.pool_id)
        assert cycle is not None and pool is not None
        shards = list(db.scalars(select(ScoreShard).where(ScoreShard.cycle_id == cycle.id)))
        missing = [s.index for s in shards if s.state != "done"]
        if missing:
            raise RuntimeError(f"shards {missing} are not scored")
        still_unlabeled = set(
            db.scalars(select(Image.id).where(Image.pool_id == pool.id, Image.state == "unlabeled"))
        )
        records, predictions = [], {}
        for shard in shards:
            for entry in shard.records or []:
                rec = ImageRecord.from_dict(entry["record"])
                if rec.image_id in still_unlabeled:
                    records.append(rec)
                    predictions[rec.image_id] = entry.get("prediction") or {}
        strategy = strategy_for(cycle)
        ctx = scoring_context(db, cycle, list(pool.classes))
        budget = int(cycle.config.get("batch_size", 20))
        seed = int(cycle.config.get("seed", 0)) * 100_003 + cycle.index
        chosen = strategy.select(records, budget, ctx, seed)
        db.execute(delete(Selection).where(Selection.cycle_id == cycle.id))
        db.add_all(
            Selection(
                cycle_id=cycle.id,
                image_id=int(s.image_id),
                rank=s.rank,
                score=float(s.score),
                components=dict(s.components),
                prediction=predictions.get(s.image_id, {}),
            )
            for s in chosen
        )
        ids = [int(s.image_id) for s in chosen]
        if ids:
            db.execute(
                update(Image)
                .where(Image.id.in_(ids), Image.state == "unlabeled")
                .values(state="queued")
                .execution_options(synchronize_session=False)
            )
        if cycle.state != "selecting" or cycle.cancel_requested:
            db.rollback()
            return
        if not job_rows.finish(
            db, run.job_id, run.token, message=f"selected {len(ids)} of {len(records)} images"
        ):
            db.rollback()
            return
        cycle = db.get(Cycle, run.cycle_id)
        assert cycle is not None
        cycle.timings = {**(cycle.timings or {}), "selecting": round(run.seconds, 3)}
        cycle_flow.enter_labeling(db, cycle, len(ids))
        db.commit()
