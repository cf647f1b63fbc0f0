"""A real worker process with the ``fast`` profile on the embedded runtime: COCO weights
come from a temporary TORCH_HOME (generated, no internet); with the file missing, an
explicit profile fails the cycle with the documented message."""

from __future__ import annotations

from pathlib import Path

from alp.db import Cycle
from alp.services import cycles
from simulation.synthetic_pool import create_synthetic_pool
from tests.support.processes import celery_worker
from tests.support.weights import install_fake_weights
from tests.worker.cycle_support import (
    FAST_SMALL,
    WORKER_ENV,
    engine_settings,
    pool_settings,
    sessions_for,
    storage_for,
    wait_state,
)

MOBILENET = "fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth"


def test_fast_profile_cycle_in_a_worker_process(tmp_path: Path, sqlite_url: str) -> None:
    from models.weights import known_weights

    home = tmp_path / "torch-home"
    install_fake_weights(home / "hub", known_weights()[MOBILENET])
    s = engine_settings(tmp_path, sqlite_url)
    sessions = sessions_for(s)
    storage = storage_for(s)
    started = {}
    with sessions() as db:
        for name, model in (("fast", "fast"), ("standard", "standard")):
            pool = create_synthetic_pool(
                db, storage, name, n_labeled=4, n_val=2, n_unlabeled=4, size=96, seed=1,
                settings=pool_settings(strategy="entropy", train_preset="vanilla", model=model,
                                       batch_size=2, train_overrides=FAST_SMALL),
            )  # fmt: skip
            started[name] = cycles.start_cycle(db, pool.pool_id)[0].id
        db.commit()
    env = {**WORKER_ENV, "ALP_TORCH_HOME": str(home), "ALP_WEIGHTS_DOWNLOAD": "false",
           "ALP_DEVICE": "cpu"}  # fmt: skip
    with celery_worker(s, **env) as proc:
        done = wait_state(sessions, started["fast"], ("labeling",), timeout=300, proc=proc)
        failed = wait_state(sessions, started["standard"], ("failed",), timeout=120, proc=proc)
    assert (done.metrics["model"], done.metrics["pretrained"]) == ("fast", True)
    assert done.checkpoint_key and storage.exists(done.checkpoint_key)
    assert failed.failed_stage == "training"
    assert "fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth" in failed.error
    assert "alp weights fetch standard" in failed.error and "alp weights import" in failed.error
    with sessions() as db:
        assert db.get(Cycle, started["standard"]).checkpoint_key is None
