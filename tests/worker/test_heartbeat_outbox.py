"""Background heartbeats (``worker.pipeline.common.beating``), their interval, and the
watchdog re-sending jobs that the outbox left ``waiting for broker``."""

from __future__ import annotations

import threading

import pytest

from alp import jobs, outbox
from alp.config import Settings
from alp.db import Cycle
from alp.services import cycles, job_rows
from alp.storage import LocalStorage
from tests.api.cycle_fixtures import make_pool
from tests.support.processes import wait_for
from worker import context
from worker.pipeline import common, watchdog


def test_beating_calls_beat_until_the_block_ends() -> None:
    calls: list[int] = []
    fails = [True]

    def beat() -> None:
        calls.append(threading.get_ident())
        if fails[0]:  # one error is logged, the beats go on
            fails[0] = False
            raise RuntimeError("database away")

    with common.beating(beat, 0.01):
        wait_for(lambda: len(calls) >= 3, timeout=5, interval=0.01, what="three beats")
    assert threading.get_ident() not in calls  # beats come from the background thread
    assert not any(t.name == "alp-heartbeat" and t.is_alive() for t in threading.enumerate())


@pytest.mark.parametrize(("beat", "stale", "expected"), [(5, 30, 5), (5, 3, 1), (0, 30, 0.2)])
def test_heartbeat_interval_is_a_third_of_the_stale_time_at_most(
    monkeypatch: pytest.MonkeyPatch, tmp_path, beat: float, stale: int, expected: float
) -> None:
    s = Settings(data_dir=tmp_path, worker_heartbeat_s=beat, worker_stale_after_s=stale)
    monkeypatch.setattr(context, "settings", lambda: s)
    assert common.heartbeat_interval() == pytest.approx(expected)


def test_watchdog_resends_a_job_waiting_for_broker_at_once(db, settings) -> None:
    pid, _ = make_pool(db, LocalStorage(settings.storage_dir), n=3)
    cycle, job = cycles.start_cycle(db, pid)
    db.info.pop("alp_outbox", None)
    job.message = f"{outbox.WAITING}: OperationalError: connection refused"
    db.flush()
    assert watchdog.check(db, stale_after_s=60)["resent"] == 1  # fresh, yet re-sent
    assert outbox.pending(db) == [(jobs.CYCLE_TRAIN, (job.id,), None)]
    assert job_rows.job_for(db, cycle.id, "train").message == "queued"
    db.info.pop("alp_outbox", None)
    assert watchdog.check(db, stale_after_s=60)["resent"] == 0  # a queued job is left alone
    assert db.get(Cycle, cycle.id).state == "pending"
