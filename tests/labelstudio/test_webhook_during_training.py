"""Issue 15, finding 5, end to end: the real embedded runtime (``alp up``: API, gpu worker,
io worker) and a real Label Studio server. While one pool's cycle trains on the gpu worker,
an annotator submits in another pool's Label Studio project; the webhook-driven sync must
bring the annotation into alp while the training is still running (the old single worker
made it wait for the whole training run). Prints the measured latency."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from label_studio_sdk import LabelStudio
from sqlalchemy import select

from alp.config import Settings
from alp.db import Job
from alp.jobs import make_celery
from simulation.synthetic_pool import create_synthetic_pool
from tests.labelstudio.conftest import Stack
from tests.labelstudio.test_server_roundtrip import CLASSES, connect, pred, project_tasks, region
from tests.support import labelstudio as ls
from tests.support.processes import ROOT, stop_tree, wait_for
from tests.worker.cycle_support import TINY_TRAIN, pool_settings, sessions_for, storage_for

pytestmark = pytest.mark.labelstudio


def _alp_up(data: Path, port: int, key: str, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALP_")}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", ALP_BOOTSTRAP_API_KEY=key,
               ALP_PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
               ALP_WORKER_STALE_AFTER_S="600")  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-m", "alp.cli", "up", "--port", str(port), "--data-dir", str(data)],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def test_annotation_reaches_alp_while_a_cycle_trains(
    tmp_path: Path, ls_server: ls.LabelStudioServer
) -> None:
    port, data = ls.free_port(), tmp_path / "data"
    key = f"alp_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"
    settings = Settings(data_dir=data, public_base_url=f"http://127.0.0.1:{port}")
    proc = _alp_up(data, port, key, tmp_path / "up.log")
    try:
        api = httpx.Client(base_url=settings.public_base_url, timeout=30,
                           headers={"Authorization": f"Bearer {key}"})  # fmt: skip

        def healthy() -> bool:
            try:
                r = api.get("/healthz", params={"wait": 3})
            except httpx.HTTPError:
                return False
            return r.status_code == 200 and r.json()["worker"]["status"] == "ok"

        wait_for(healthy, timeout=120, what="alp up (API + workers)")
        sessions = sessions_for(settings)
        stack = Stack(settings, sessions, make_celery(settings), api)
        with sessions() as db:  # a pool whose cycle trains for minutes on the gpu worker
            train_pool = create_synthetic_pool(
                db, storage_for(settings), "trains", n_labeled=8, n_val=0, n_unlabeled=8,
                settings=pool_settings(strategy="random", train_preset="vanilla",
                                       train_overrides={**TINY_TRAIN, "iterations": 5000}),
            )  # fmt: skip
            db.commit()
        started = api.post(f"/api/v1/pools/{train_pool.pool_id}/cycles")
        assert started.status_code == 202, started.text
        cycle_id = started.json()["cycle"]["id"]

        def train_job() -> Job | None:
            with sessions() as db:
                q = select(Job).where(Job.cycle_id == cycle_id, Job.kind == "train")
                return db.scalar(q)

        pool_id, ids = stack.create_pool("annotated", CLASSES, 3)
        project_id = connect(stack, pool_id, ls_server, ls_server.token)["project_id"]
        stack.enter_labeling(pool_id, {i: pred((1, 2, 30, 40, 0, 0.9)) for i in ids})
        sdk = LabelStudio(base_url=ls_server.url, api_key=ls_server.token)
        tasks = wait_for(lambda: (t := project_tasks(sdk, project_id)) and len(t) == 3 and t,
                         timeout=120, what="3 tasks pushed")  # fmt: skip
        wait_for(lambda: (j := train_job()) and j.state == "running" and j.progress > 0,
                 timeout=300, what="training to make progress")  # fmt: skip

        latencies = []
        for task in tasks[:2]:
            image_id = task["data"]["alp_image_id"]
            sent = time.monotonic()
            with ls_server.http() as c:  # the annotator submits: Label Studio fires the webhook
                body = {"result": [region(10, 20, 50, 25, "dog")]}
                c.post(f"/api/tasks/{task['id']}/annotations/", json=body).raise_for_status()

            def visible(image_id: int = image_id) -> bool:
                ann = api.get(f"/api/v1/images/{image_id}/annotation").json()
                return ann["state"] == "labeled" and [b["label"] for b in ann["boxes"]] == ["dog"]

            wait_for(visible, timeout=120, interval=0.05, what="the annotation in alp")
            latencies.append(round(time.monotonic() - sent, 2))
            train = train_job()
            assert train.state == "running", f"training ended first ({latencies}s)"
        print(f"Label Studio annotation -> alp while training: {latencies} s")
    finally:
        stop_tree(proc)
