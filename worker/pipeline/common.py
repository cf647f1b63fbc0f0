"""The frame every stage task runs in: claim a lease, heartbeat, stop, finish/fail.

Two kinds of frame share one shape (:class:`Frame`): :class:`StageRun` holds a stage's
job lease (training, evaluation, selection), ``ShardRun`` (:mod:`worker.pipeline.shard_run`)
a scoring shard's lease (the cycle's scoring job is touched, not leased: many shards run at
once). While a frame runs (``with run:``) a background thread beats every
``worker_heartbeat_s`` (at most a third of ``worker_stale_after_s``), whatever the stage is
doing, so the watchdog can treat a heartbeat older than ``worker_stale_after_s`` as a dead
worker; ``progress()`` additionally records progress and a message (one write a second).
An exception inside the block fails the frame once (a shard is retried up to
``MAX_SHARD_ATTEMPTS``).

A stage runs as::

    run = StageRun.claim(job_id, "training")      # None: finished, held, or cycle moved on
    if run is None:
        return
    with run:                                     # an exception fails the stage (once)
        ...  run.progress(i / n, "iteration i/n") ... run.should_stop() ...
        run.complete(cycle_updates={...})

and a shard as ``run = ShardRun.claim(shard_id, after)`` / ``with run: ...
run.complete(records)``, where ``after`` (the stage's "is the set done?" step, ending in
:func:`alp.services.cycle_flow.complete_scoring`) runs once the shard is stored.

Nothing is written after the lease is lost (a presumed-dead worker that wakes up again
cannot overwrite the work of its replacement) or after the cycle was cancelled. Cycle
state changes only through :mod:`alp.services.cycle_flow`.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from sqlalchemy.orm import Session

from alp.db import Cycle, Job
from alp.services import cycle_flow, job_rows
from worker import context

log = logging.getLogger("alp.worker")
BEAT_EVERY_S = 1.0


class StageStopped(Exception):
    """Raised inside a stage when it must stop quietly (cancelled or lease lost)."""


@dataclass(kw_only=True)
class Frame:
    """What every frame shares: the lease ``token``, the background heartbeat while the
    block runs, and failing once on an exception (:class:`StageStopped` ends it quietly)."""

    cycle_id: int
    stage: str
    token: int
    started: float = field(default_factory=time.perf_counter)
    _beater: Any = None

    def _beat(self) -> None:
        raise NotImplementedError

    def fail(self, error: str) -> None:
        raise NotImplementedError

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def __enter__(self) -> Any:
        self._beater = beating(self._beat, heartbeat_interval())
        self._beater.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if self._beater is not None:
            self._beater.__exit__(None, None, None)
            self._beater = None
        if exc is None or isinstance(exc, StageStopped):
            return exc is not None
        if not isinstance(exc, Exception):  # KeyboardInterrupt, SystemExit: let it go
            return False
        log.exception("%s of cycle %s failed", self, self.cycle_id)
        self.fail(error_text(exc))
        return True


@dataclass(kw_only=True)
class StageRun(Frame):
    """A stage holding its job's lease (training, evaluation, selection)."""

    job_id: int
    pool_id: int
    _last_beat: float = 0.0
    _stop: bool = False

    @classmethod
    def claim(cls, job_id: int, stage: str) -> StageRun | None:
        """Take the job's lease if the cycle is in ``stage`` (``pending`` for training)."""
        allowed = ("pending", "training") if stage == "training" else (stage,)
        s = context.settings()
        with context.session() as db:
            job = db.get(Job, job_id)
            cycle = db.get(Cycle, job.cycle_id) if job is not None and job.cycle_id else None
            if job is None or cycle is None or cycle.state not in allowed:
                log.info("job %s: nothing to do (cycle %s)", job_id, cycle and cycle.state)
                return None
            token = job_rows.claim(db, job_id, s.worker_stale_after_s)
            if token is None:
                log.info("job %s: finished or held by another worker", job_id)
                db.rollback()
                return None
            cycle_flow.begin_stage(db, cycle, stage)
            db.commit()
            return cls(
                job_id=job_id, cycle_id=cycle.id, pool_id=cycle.pool_id, stage=stage, token=token
            )

    def __str__(self) -> str:
        return f"stage {self.stage}"

    # ------------------------------------------------------------------ during the stage
    def progress(
        self, fraction: float | None = None, message: str | None = None, force: bool = False
    ) -> bool:
        """Heartbeat with progress (throttled to one write per second unless ``force``);
        returns False (and ``should_stop()`` becomes true) when the stage must stop."""
        now = time.perf_counter()
        if not force and now - self._last_beat < BEAT_EVERY_S:
            return not self._stop
        self._last_beat = now
        self._beat(fraction, message)
        return not self._stop

    def _beat(  # type: ignore[override]
        self, fraction: float | None = None, message: str | None = None
    ) -> None:
        with context.session() as db:
            held = job_rows.beat(db, self.job_id, self.token, fraction, message)
            cycle = db.get(Cycle, self.cycle_id)
            if not held or cycle is None or cycle.cancel_requested or cycle.state != self.stage:
                self._stop = True
            db.commit()

    def should_stop(self) -> bool:
        self.progress()
        return self._stop

    def check(self) -> None:
        """Raise :class:`StageStopped` if the stage must stop."""
        if self.should_stop():
            raise StageStopped()

    # ------------------------------------------------------------------ end of the stage
    def complete(
        self,
        message: str = "done",
        cycle_updates: dict[str, Any] | None = None,
        db: Session | None = None,
        selected: int = 0,
    ) -> bool:
        """Store ``cycle_updates``, finish the job and enter the next stage (after the
        selection: labeling, ``selected`` images), atomically (with whatever ``db`` holds)
        and only while holding the lease. Returns whether it happened (else ``db`` is
        rolled back)."""
        if db is None:
            with context.session() as own:
                return self.complete(message, cycle_updates, own, selected)
        cycle = db.get(Cycle, self.cycle_id)
        assert cycle is not None
        for key, value in (cycle_updates or {}).items():
            setattr(cycle, key, value)
        ok = cycle_flow.complete_stage(
            db,
            cycle,
            self.stage,
            self.job_id,
            self.token,
            self.seconds,
            message,
            shard_size=context.settings().score_shard_size,
            selected=selected,
        )
        if ok:
            db.commit()
        else:
            db.rollback()
            log.info("job %s: lease lost or cycle moved on; result discarded", self.job_id)
        return ok

    def fail(self, error: str) -> None:
        with context.session() as db:
            if job_rows.finish(db, self.job_id, self.token, "failed", "failed", error):
                cycle = db.get(Cycle, self.cycle_id)
                assert cycle is not None
                cycle_flow.fail_stage(db, cycle, self.stage, None, error)
            db.commit()


def heartbeat_interval() -> float:
    """Seconds between background heartbeats: ``worker_heartbeat_s``, at most a third of
    ``worker_stale_after_s`` (a few missed beats never look like a dead worker)."""
    s = context.settings()
    return max(0.2, min(float(s.worker_heartbeat_s), s.worker_stale_after_s / 3))


@contextmanager
def beating(beat: Callable[[], object], every_s: float) -> Iterator[None]:
    """Call ``beat()`` every ``every_s`` seconds from a daemon thread while the block runs
    (errors are logged and the next beat is tried; the thread ends with the block)."""
    done = threading.Event()

    def loop() -> None:
        while not done.wait(every_s):
            try:
                beat()
            except Exception:  # e.g. the database is briefly unreachable
                log.warning("heartbeat failed", exc_info=True)

    thread = threading.Thread(target=loop, name="alp-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=every_s + 30)


def error_text(exc: BaseException) -> str:
    """``Type: message`` plus the innermost frame, short enough for the dashboard."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"[:2000]


def device_name(setting: str) -> str:
    """``settings.device`` resolved: ``auto`` -> ``cuda`` when available, else ``cpu``.
    Imports torch lazily (never before the worker forks)."""
    import torch

    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return setting
