"""Enqueue-after-commit: services call ``enqueue(db, TASK, *args)``; the task is sent to the
broker only once the session's transaction commits (and dropped on rollback), so a worker
never sees an id whose row is not yet visible.

The Celery app comes from the session's ``info["celery"]`` (set by
``make_sessionmaker(engine, celery=app)``).

When the broker refuses a task (unreachable, locked), the commit still stands (the cycle
and its ``queued`` job exist) and the failure is made visible and retried:

* the task's job (stage tasks: the job id; scoring shards: the cycle's ``score`` job) gets
  the message ``waiting for broker: <reason>``, in the database and on the committing
  session's object, so the API answer that follows already shows it;
* a daemon thread of this process re-sends the task with exponential back-off (0.5 s,
  doubling, at most ``app.conf.alp_outbox_retry_max_s``, default 5 s) until the broker takes
  it, then sets the job's message back to ``queued``;
* should this process die first, the watchdog re-sends every job still ``waiting for
  broker`` on its next pass once the broker is back.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from alp import jobs

log = logging.getLogger("alp.outbox")
_KEY = "alp_outbox"
WAITING = "waiting for broker"
RETRY_FIRST_S = 0.5
MAX_PENDING = 10_000


def enqueue(db: Session, name: str, *args: Any, countdown: float | None = None) -> None:
    db.info.setdefault(_KEY, []).append((name, args, countdown))


def pending(db: Session) -> list[tuple[str, tuple[Any, ...], float | None]]:
    return list(db.info.get(_KEY, []))


def _publish(app: Any, name: str, args: tuple[Any, ...], countdown: float | None) -> None:
    app.send_task(name, args=list(args), queue=jobs.route_for(name), countdown=countdown)


@event.listens_for(Session, "after_commit")
def _send(session: Session) -> None:
    items = session.info.pop(_KEY, [])
    if not items:
        return
    app = session.info.get("celery")
    if app is None:
        log.warning("no celery app on session; dropping %d task(s)", len(items))
        return
    refused: str | None = None  # once the broker refused one, queue the rest directly
    for name, args, countdown in items:
        if refused is None:
            try:
                _publish(app, name, args, countdown)
                continue
            except Exception as exc:
                log.warning("broker refused %s%r: %s; retrying", name, args, exc)
                refused = f"{WAITING}: {_reason(exc)}"
        _mark(session.get_bind(), name, args, refused, session)
        _retrier().add(_Item(app, session.get_bind(), name, args, countdown))


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:300]


def _job_ids(conn: Any, name: str, args: tuple[Any, ...]) -> list[int]:
    """Ids of the jobs a task runs (empty for tasks without a job)."""
    from alp.db import Job, ScoreShard

    if not args:
        return []
    if name in jobs.JOB_ID_TASKS:
        return [int(args[0])]
    if name in jobs.SHARD_ID_TASKS:
        cycle = select(ScoreShard.cycle_id).where(ScoreShard.id == args[0]).scalar_subquery()
        return list(conn.scalars(select(Job.id).where(Job.cycle_id == cycle, Job.kind == "score")))
    return []


def _mark(
    bind: Any, name: str, args: tuple[Any, ...], message: str, session: Session | None = None
) -> None:
    """Set the message of the task's job (while it is still ``queued``/``running`` and, when
    clearing, only if it still says it waits for the broker). Never raises."""
    from alp.db import Job

    try:
        engine: Engine = bind.engine if hasattr(bind, "engine") else bind
        with engine.begin() as conn:
            ids = _job_ids(conn, name, args)
            if not ids:
                return
            stmt = update(Job).where(Job.id.in_(ids), Job.state.in_(("queued", "running")))
            if message == "queued":
                stmt = stmt.where(Job.state == "queued", Job.message.startswith(WAITING))
            conn.execute(stmt.values(message=message))
        if session is not None:  # the caller's objects show it without a reload
            for obj in list(session.identity_map.values()):
                if isinstance(obj, Job) and obj.id in ids and obj.state == "queued":
                    set_committed_value(obj, "message", message)
    except Exception:
        log.exception("could not mark job of %s%r as %r", name, args, message)


@dataclass
class _Item:
    app: Any
    bind: Any
    name: str
    args: tuple[Any, ...]
    countdown: float | None
    attempts: int = 0


class _Retrier:
    """Re-sends refused tasks from a daemon thread, earliest due first, with back-off."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.cond = threading.Condition()
        self.heap: list[tuple[float, int, _Item]] = []
        self.counter = itertools.count()
        self.thread: threading.Thread | None = None

    def add(self, item: _Item) -> None:
        with self.cond:
            if len(self.heap) >= MAX_PENDING:
                log.error("outbox retry queue full; dropping %s%r", item.name, item.args)
                return
            heapq.heappush(self.heap, (time.monotonic() + RETRY_FIRST_S, next(self.counter), item))
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="alp-outbox", daemon=True)
                self.thread.start()
            self.cond.notify()

    def size(self) -> int:
        with self.cond:
            return len(self.heap)

    def _run(self) -> None:
        while True:
            with self.cond:
                while not self.heap or self.heap[0][0] > time.monotonic():
                    self.cond.wait(self.heap[0][0] - time.monotonic() if self.heap else None)
                _, _, item = heapq.heappop(self.heap)
            self._attempt(item)

    def _attempt(self, item: _Item) -> None:
        try:
            _publish(item.app, item.name, item.args, item.countdown)
        except Exception as exc:
            item.attempts += 1
            cap = float(getattr(item.app.conf, "alp_outbox_retry_max_s", 5.0) or 5.0)
            delay = min(RETRY_FIRST_S * 2**item.attempts, cap)
            if item.attempts in (1, 5) or item.attempts % 50 == 0:
                log.warning("broker still refuses %s%r (%s); next try in %.1fs",
                            item.name, item.args, exc, delay)  # fmt: skip
            _mark(item.bind, item.name, item.args, f"{WAITING}: {_reason(exc)}")
            with self.cond:
                heapq.heappush(self.heap, (time.monotonic() + delay, next(self.counter), item))
            return
        log.info("sent %s%r after %d retries", item.name, item.args, item.attempts + 1)
        _mark(item.bind, item.name, item.args, "queued")


_RETRIER: _Retrier | None = None
_RETRIER_LOCK = threading.Lock()


def _retrier() -> _Retrier:
    """This process's retrier (a forked child starts its own; threads do not fork)."""
    global _RETRIER
    with _RETRIER_LOCK:
        if _RETRIER is None or _RETRIER.pid != os.getpid():
            _RETRIER = _Retrier()
        return _RETRIER


def waiting() -> int:
    """Tasks of this process waiting for the broker (for tests and health)."""
    return _RETRIER.size() if _RETRIER is not None and _RETRIER.pid == os.getpid() else 0


@event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    session.info.pop(_KEY, None)
