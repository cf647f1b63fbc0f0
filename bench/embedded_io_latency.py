"""io latency while training in the embedded runtime; prints JSON.

Starts the worker processes of a layout on SQLite + the SQLite broker, starts a cycle whose
training runs for a while, and while it trains sends ``--pings`` io tasks (``alp.ping``,
the same queue as Label Studio sync, imports and selection) one second apart, measuring
send -> task done. Layouts:

- ``one-worker``: the old ``alp up`` (one process on both queues, concurrency 1);
- ``embedded``: today's ``alp up`` (``alp.runtime.embedded_worker_commands``: a gpu and an
  io process).

Target: an io task (e.g. the Label Studio sync after a webhook) done within 5 s while
training runs. Usage: ``python bench/embedded_io_latency.py [--iterations 1500]``.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from alp import jobs, runtime  # noqa: E402
from alp.config import Settings  # noqa: E402
from alp.db import Job, WorkerHeartbeat, make_engine, make_sessionmaker  # noqa: E402
from alp.db.migrate import upgrade  # noqa: E402
from alp.services import cycles  # noqa: E402
from alp.storage import LocalStorage  # noqa: E402
from simulation.synthetic_pool import create_synthetic_pool  # noqa: E402
from tests.support.processes import ROOT as REPO  # noqa: E402
from tests.support.processes import stop_process, test_env, wait_for  # noqa: E402

TARGET_S = 5.0


def _layout(name: str, s: Settings) -> list[list[str]]:
    if name == "one-worker":
        return [runtime.worker_command(s, "gpu,io", 1, beat=True)]
    return runtime.embedded_worker_commands(s)


def measure(layout: str, iterations: int, pings: int, work: Path) -> dict[str, object]:
    s = Settings(data_dir=work / layout, secret_key="bench", worker_stale_after_s=600)
    s.ensure_dirs()
    upgrade(s.database_url)
    sessions = make_sessionmaker(make_engine(s.database_url), jobs.make_celery(s))
    train = {"iterations": iterations, "batch_size": 4, "warmup_iters": 2, "lr": 0.01,
             "detector": {"min_size": 64, "max_size": 64}}  # fmt: skip
    with sessions() as db:
        pool = create_synthetic_pool(
            db, LocalStorage(s.storage_dir), "bench", n_labeled=8, n_val=0, n_unlabeled=8,
            size=64, settings={"strategy": "random", "batch_size": 4, "val_fraction": 0.0,
                               "train_preset": "vanilla", "train_overrides": train},
        )  # fmt: skip
        cycle, _ = cycles.start_cycle(db, pool.pool_id)
        db.commit()

    def train_job() -> Job | None:
        with sessions() as db:
            return db.scalar(select(Job).where(Job.cycle_id == cycle.id, Job.kind == "train"))

    procs = []
    for cmd in _layout(layout, s):
        with (work / f"{layout}-{len(procs)}.log").open("ab") as log:
            kw = {"stdout": log, "stderr": subprocess.STDOUT, "start_new_session": True}
            procs.append(subprocess.Popen(cmd, env=test_env(s), cwd=REPO, **kw))
    celery = jobs.make_celery(s)
    latencies, during = [], 0
    try:
        wait_for(lambda: (j := train_job()) and j.state == "running" and j.progress > 0,
                 timeout=300, what="training to make progress")  # fmt: skip
        for _ in range(pings):
            nonce, t0 = secrets.token_hex(4), time.monotonic()
            jobs.send(celery, jobs.PING, nonce)

            def pong(nonce: str = nonce) -> bool:
                with sessions() as db:
                    q = select(WorkerHeartbeat).where(WorkerHeartbeat.nonce == nonce)
                    return db.scalar(q) is not None

            wait_for(pong, timeout=900, interval=0.05, what="the io task")
            latencies.append(round(time.monotonic() - t0, 2))
            during += train_job().state == "running"
            time.sleep(1.0)
        j = train_job()
    finally:
        for p in procs:
            stop_process(p, timeout=5)
    return {
        "io_task_latency_s": latencies,
        "p50_s": statistics.median(latencies),
        "max_s": max(latencies),
        "answered_while_training": during,
        "train_state_after": j.state,
        "target_met": max(latencies) <= TARGET_S,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--iterations", type=int, default=1500)
    ap.add_argument("--pings", type=int, default=5)
    ap.add_argument("--layouts", default="one-worker,embedded")
    args = ap.parse_args()
    out: dict[str, object] = {"target_s": TARGET_S, "iterations": args.iterations}
    with tempfile.TemporaryDirectory(prefix="alp-bench-") as tmp:
        for layout in args.layouts.split(","):
            out[layout] = measure(layout, args.iterations, args.pings, Path(tmp))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
