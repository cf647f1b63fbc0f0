"""Model profiles in the training stage: ``auto`` resolved on the worker's device and
recorded on the cycle; missing pretrained weights fail an explicit profile with the
documented message and make ``auto`` train from scratch, loudly; a whole cycle with the
``fast`` profile on generated COCO weights in a temporary TORCH_HOME."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from alp.db import Cycle
from alp.services import cycles
from simulation.synthetic_pool import create_synthetic_pool
from tests.support.weights import install_fake_weights
from tests.worker.cycle_support import FAST_SMALL, engine_settings, pool_settings, storage_for
from tests.worker.inprocess import run_stages, use_settings
from worker.pipeline import modelling


@pytest.fixture
def restore_hub() -> object:
    old = torch.hub.get_dir()
    yield None
    torch.hub.set_dir(old)


def test_snapshots_without_a_model_keep_the_tiny_detector() -> None:
    cfg = modelling.train_config({"train_preset": "vanilla"}, "cpu", None)
    assert cfg.detector.backbone == "tiny"
    cfg = modelling.train_config({"model": "auto", "train_preset": "vanilla"}, "cpu", None)
    assert (cfg.detector.backbone, cfg.detector.weights) == ("mobilenet_v3_large_fpn", "coco")


def test_auto_without_weights_trains_from_scratch_and_says_so(tmp_path, restore_hub) -> None:
    cfg = {"model": "auto", "train_preset": "huale"}
    setup = modelling.model_setup(cfg, "cpu", tmp_path, download=False)
    assert (setup.profile, setup.pretrained) == ("fast", False)
    assert "TRAINING FROM SCRATCH" in setup.issue
    assert "fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth" in setup.issue
    config = modelling.train_config(cfg, "cpu", None, setup)
    assert (config.detector.backbone, config.detector.weights) == ("mobilenet_v3_large_fpn",
                                                                   "none")  # fmt: skip
    assert setup.metrics() == {"model": "fast", "pretrained": False}


def test_explicit_profile_without_weights_fails_with_both_commands(tmp_path, restore_hub) -> None:
    from models.weights import MissingWeightsError

    with pytest.raises(MissingWeightsError, match=r"alp weights fetch fast.*alp weights import"):
        modelling.model_setup({"model": "fast"}, "cpu", tmp_path, download=False)


def test_explicit_weights_none_needs_no_file(tmp_path, restore_hub) -> None:
    cfg = {"model": "standard", "train_overrides": {"detector": {"weights": "none"}}}
    setup = modelling.model_setup(cfg, "cpu", tmp_path, download=False)
    assert (setup.profile, setup.pretrained, setup.issue) == ("standard", False, None)


def test_fast_cycle_reaches_labeling_with_cached_weights(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch, restore_hub
) -> None:
    from models.checkpoint import read_checkpoint
    from models.weights import known_weights

    home = tmp_path / "torch-home"
    weights = known_weights()["fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth"]
    install_fake_weights(home / "hub", weights)
    s = engine_settings(tmp_path, sqlite_url, device="cpu", torch_home=home,
                        weights_download=False)  # fmt: skip
    sessions = use_settings(monkeypatch, s)
    storage = storage_for(s)
    with sessions() as db:
        pool = create_synthetic_pool(
            db, storage, "fast", n_labeled=4, n_val=2, n_unlabeled=4, size=96,
            settings=pool_settings(strategy="entropy", train_preset="vanilla", model="auto",
                                   batch_size=2, train_overrides=FAST_SMALL),
        )  # fmt: skip
        cycle, _ = cycles.start_cycle(db, pool.pool_id)
        db.commit()
    run_stages(sessions, cycle.id)
    with sessions() as db:
        c = db.get(Cycle, cycle.id)
        assert c.state == "labeling", c.error
        assert (c.metrics["model"], c.metrics["pretrained"]) == ("fast", True)
        assert "map50" in c.metrics
        assert not any("FROM SCRATCH" in i["message"] for i in c.issues)
        blob = read_checkpoint(storage.path(c.checkpoint_key))
        assert blob["config"]["detector"]["backbone"] == "mobilenet_v3_large_fpn"
        assert blob["config"]["detector"]["weights"] == "coco"


def test_cuda_training_uses_pinned_loader_workers() -> None:
    import os

    cfg = modelling.train_config({"model": "auto"}, "cuda", None)
    assert cfg.detector.backbone == "resnet50_fpn_v2" and cfg.amp
    assert cfg.num_workers == min(8, max(0, (os.cpu_count() or 1) - 1))
    tiny = modelling.train_config({"model": "tiny"}, "cuda", None)
    assert tiny.num_workers == 0
    assert modelling.train_config({"model": "auto"}, "cpu", None).num_workers == 0


def test_scoring_batch_size_follows_the_profile_and_overrides() -> None:
    assert modelling.score_batch_size({}, "cpu") == 8  # tiny: TrainConfig's default
    assert modelling.score_batch_size({"model": "auto"}, "cpu") == 8  # fast
    assert modelling.score_batch_size({"model": "auto"}, "cuda") == 4  # standard
    assert modelling.score_batch_size({"model": "standard"}, "cpu") == 4
    over = {"model": "fast", "train_overrides": {"batch_size": 2}}
    assert modelling.score_batch_size(over, "cpu") == 2
    assert modelling.score_batch_size(pool_settings(), "cpu") == 4  # TINY_TRAIN
