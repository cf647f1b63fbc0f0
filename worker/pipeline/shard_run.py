"""The scoring shard's frame (:class:`ShardRun`, a :class:`~worker.pipeline.common.Frame`):
the shard's own lease instead of a job's, retries of a failed shard, and the hand-over to the
stage's "is the set done?" step once the shard is stored.

Leases: ``ScoreShard.attempts`` is the token (:func:`alp.services.job_rows.claim_shard`), so
a redelivered or duplicated shard message never scores twice, and a presumed-dead worker
that wakes up cannot store over its replacement's records. A failed shard goes back to
``pending`` and is re-sent (up to ``MAX_SHARD_ATTEMPTS``) without touching finished shards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alp import jobs, outbox
from alp.db import Cycle, ScoreShard
from alp.services import cycle_flow, job_rows
from worker import context
from worker.pipeline.common import Frame

MAX_SHARD_ATTEMPTS = 3
RETRY_DELAY_S = 2.0

AfterShard = Callable[[Session, int, int, int], None]  # (db, cycle id, job id, pass)


@dataclass(kw_only=True)
class ShardRun(Frame):
    """A scoring shard holding its own lease (``ScoreShard.attempts``); ``after`` runs
    once the shard is stored, and for a redelivered message of a finished shard (the
    cycle's advance may have been lost)."""

    shard_id: int
    job_id: int
    pass_no: int
    after: AfterShard

    @classmethod
    def claim(cls, shard_id: int, after: AfterShard) -> ShardRun | None:
        """Take the shard's lease while its cycle is ``scoring`` and not cancelled."""
        s = context.settings()
        with context.session() as db:
            shard = db.get(ScoreShard, shard_id)
            cycle = db.get(Cycle, shard.cycle_id) if shard is not None else None
            if shard is None or cycle is None or cycle.state != "scoring":
                return None
            if cycle.cancel_requested:
                return None
            job = job_rows.job_for(db, cycle.id, "score")
            token = job_rows.claim_shard(db, shard_id, s.worker_stale_after_s)
            if token is None or job is None:
                db.rollback()
                if job is not None and shard.state == "done":  # e.g. the advance was lost
                    after(db, cycle.id, job.id, shard.pass_no)
                return None
            job_rows.touch_running(db, job.id)
            db.commit()
            return cls(
                cycle_id=cycle.id, stage="scoring", token=token, shard_id=shard_id,
                job_id=job.id, pass_no=shard.pass_no, after=after,
            )  # fmt: skip

    def __str__(self) -> str:
        return f"shard {self.shard_id}"

    def _beat(self) -> None:
        with context.session() as db:
            job_rows.beat_shard(db, self.shard_id)
            db.commit()

    def complete(
        self, records: list[dict[str, Any]], also: Callable[[Session], None] | None = None
    ) -> bool:
        """Store the shard's ``records`` (and run ``also(db)`` in that transaction) while
        holding the lease, then ``after``. Returns whether they were stored."""
        with context.session() as db:
            ok = job_rows.end_shard(
                db, self.shard_id, self.token, "done", records=records, error=None
            )
            if ok and also is not None:
                also(db)
            db.commit()
            if ok:
                self.after(db, self.cycle_id, self.job_id, self.pass_no)
        return ok

    def fail(self, error: str) -> None:
        """Back to ``pending`` and re-sent after ``RETRY_DELAY_S`` x attempts; the
        ``MAX_SHARD_ATTEMPTS``-th failure fails the shard and the cycle's scoring."""
        with context.session() as db:
            retry = self.token < MAX_SHARD_ATTEMPTS
            state = "pending" if retry else "failed"
            if not job_rows.end_shard(db, self.shard_id, self.token, state, error=error):
                db.rollback()
                return
            if retry:
                delay = RETRY_DELAY_S * self.token
                outbox.enqueue(db, jobs.CYCLE_SCORE_SHARD, self.shard_id, countdown=delay)
                job_rows.touch_running(db, self.job_id)
            else:
                cycle = db.get(Cycle, self.cycle_id)
                assert cycle is not None
                index = db.scalar(select(ScoreShard.index).where(ScoreShard.id == self.shard_id))
                cycle_flow.fail_stage(
                    db, cycle, "scoring", self.job_id,
                    f"shard {index} failed after {self.token} attempts: {error}",
                )  # fmt: skip
            db.commit()
