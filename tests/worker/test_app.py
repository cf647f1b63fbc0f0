"""The worker's Celery app gets every task the task modules declare, and is handed to
``worker.context`` (the outbox sends through it); a process without it makes its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from alp import jobs

ROOT = Path(__file__).resolve().parents[2]
IMPLEMENTED = {
    jobs.PING, jobs.CYCLE_TRAIN, jobs.CYCLE_EVALUATE, jobs.CYCLE_SCORE_SHARD, jobs.CYCLE_SELECT,
    jobs.PREDICT, jobs.BACKTEST_RUN, jobs.WATCHDOG, jobs.LS_PUSH, jobs.LS_SYNC,
    jobs.LS_RECONCILE, jobs.LS_MARK_DELETED, jobs.BLOBS_DELETE, jobs.EXPORT_ONNX,
}  # fmt: skip


def _run(code: str, data_dir: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ALP_DATA_DIR": str(data_dir)}
    env.pop("ALP_PARENT_PID", None)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        check=True, timeout=120,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_app_registers_every_task_and_is_handed_to_the_context(tmp_path: Path) -> None:
    got = _run(
        "import json, sys\nfrom worker import context\nfrom worker.app import celery_app\n"
        "names = sorted(n for n in celery_app.tasks if not n.startswith('celery.'))\n"
        "print(json.dumps({'names': names, 'handed': context.celery() is celery_app,\n"
        "    'retries': celery_app.tasks['alp.labelstudio.push'].max_retries,\n"
        "    'torch': 'torch' in sys.modules}))",
        tmp_path,
    )
    assert set(got["names"]) == IMPLEMENTED
    assert got["handed"] and got["retries"] > 0 and not got["torch"]


def test_outside_a_worker_the_context_makes_an_app_that_sends_by_name(tmp_path: Path) -> None:
    got = _run(
        "import json, sys\nfrom worker import context\napp = context.celery()\n"
        "print(json.dumps({'same': context.celery() is app, 'main': app.main,\n"
        "    'app_module': 'worker.app' in sys.modules}))",
        tmp_path,
    )
    assert got == {"same": True, "main": "alp", "app_module": False}
