"""The frame every stage task runs in: claim the job's lease, heartbeat, stop, finish/fail.

While a stage runs (``with run:``) a background thread beats the job every
``worker_heartbeat_s`` (at most a third of ``worker_stale_after_s``), whatever the stage is
doing, so the watchdog can treat a heartbeat older than ``worker_stale_after_s`` as a dead
worker; ``progress()`` additionally records progress and a message (one write a second).

A stage runs as::

    run = StageRun.claim(job_id, "training")      # None: finished, held, or cycle moved on
    if run is None:
        return
    with run:                                     # an exception fails the stage (once)
        ...  run.progress(i / n, "iteration i/n") ... run.should_stop() ...
        run.complete(cycle_updates={...})

Nothing is written after the lease is lost (a presumed-dead worker that wakes up again
cannot overwrite the work of its replacement) or after the cycle was cancelled.
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

from alp.db import Cycle, Job, utcnow
from alp.services import cycle_flow, job_rows
from worker import context

log = logging.getLogger("alp.worker")
BEAT_EVERY_S = 1.0


class StageStopped(Exception):
    """Raised inside a stage when it must stop quietly (cancelled or lease lost)."""


@dataclass
class StageRun:
    job_id: int
    cycle_id: int
    pool_id: int
    stage: str
    token: int
    started: float = field(default_factory=time.perf_counter)
    _last_beat: float = 0.0
    _stop: bool = False
    _beater: Any = None

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
            cycle.state = stage
            if cycle.started_at is None:
                cycle.started_at = utcnow()
            db.commit()
            return cls(job_id, cycle.id, cycle.pool_id, stage, token)

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

    def _beat(self, fraction: float | None = None, message: str | None = None) -> None:
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

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    # ------------------------------------------------------------------ end of the stage
    def complete(
        self,
        message: str = "done",
        cycle_updates: dict[str, Any] | None = None,
        db: Session | None = None,
    ) -> bool:
        """Store ``cycle_updates``, finish the job and enter the next stage, atomically and
        only while holding the lease. Returns whether it happened."""
        if db is None:
            with context.session() as own:
                return self.complete(message, cycle_updates, own)
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

    def __enter__(self) -> StageRun:
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
        log.exception("stage %s of cycle %s failed", self.stage, self.cycle_id)
        self.fail(error_text(exc))
        return True


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
