"""Pretrained detectors through torchvision's own cache, without internet: generated
state dicts under torchvision's file names in a temporary hub directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from models.builders import build_detector
from models.checkpoint import load_checkpoint, save_checkpoint
from models.config import PRESETS, TrainConfig
from models.engine.train import train
from models.profiles import merged_overrides
from models.weights import MissingWeightsError, cached_file, ensure, import_file, known_weights
from tests.support.weights import install_fake_weights

C = 3
SMALL = {  # one step on the CPU in seconds, not minutes
    "iterations": 1, "batch_size": 2, "warmup_iters": 0,
    "detector": {"min_size": 64, "max_size": 64, "rois_per_image": 32,
                 "rpn_pre_nms_top_n_train": 100, "rpn_post_nms_top_n_train": 50,
                 "rpn_pre_nms_top_n_test": 50, "rpn_post_nms_top_n_test": 20},
}  # fmt: skip


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A hub dir holding every COCO file alp uses (generated), set as torch's hub dir."""
    root = tmp_path_factory.mktemp("torch") / "hub"
    for name, weights in known_weights().items():
        if not name.startswith("fasterrcnn_resnet50_fpn_coco"):  # v1 R-CNN: no profile uses it
            install_fake_weights(root, weights, seed=1)
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(root))
    yield root
    torch.hub.set_dir(old)


def _config(profile: str, preset: str, **extra: Any) -> TrainConfig:
    return TrainConfig.preset(preset, **merged_overrides(profile, preset, {**SMALL, **extra}))


def _file_state(hub: Path, cfg: TrainConfig) -> dict[str, torch.Tensor]:
    from models.weights import needed

    return torch.load(cached_file(needed(cfg.detector), hub), weights_only=True)


def test_coco_weights_load_with_a_new_class_layer(hub: Path) -> None:
    cfg = _config("fast", "huale")
    model = build_detector(cfg, C)
    state = _file_state(hub, cfg)
    key = "backbone.body.0.0.weight"
    assert torch.equal(model.state_dict()[key], state[key].float())  # COCO weights loaded
    head = "rpn.head.conv.0.0.weight"
    assert torch.equal(model.state_dict()[head], state[head].float())
    predictor = model.roi_heads.box_predictor
    assert predictor.cls_score.out_features == C + 1  # background + our classes
    assert predictor.bbox_pred.out_features == 4 * (C + 1)
    assert state["roi_heads.box_predictor.cls_score.weight"].shape[0] == 91  # COCO's


def test_coco_retinanet_keeps_the_tower_and_replaces_the_class_layer(hub: Path) -> None:
    cfg = _config("standard", "aploss")
    model = build_detector(cfg, C)
    state = _file_state(hub, cfg)
    own = model.state_dict()
    tower = next(k for k in state if k.startswith("head.classification_head.conv"))
    assert torch.equal(own[tower], state[tower].float())
    logits = [k for k in own if k.endswith("cls_logits.weight")]
    assert len(logits) == 1 and own[logits[0]].shape[0] == 9 * C
    assert state["head.classification_head.cls_logits.weight"].shape[0] == 9 * 91


def test_missing_weights_error_names_the_file_and_both_commands(tmp_path: Path) -> None:
    cfg = _config("standard", "huale")
    from models.weights import needed

    with pytest.raises(MissingWeightsError) as info:
        ensure(needed(cfg.detector), "standard", download=False, hub_dir=tmp_path)
    msg = str(info.value)
    assert "fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth" in msg and str(tmp_path) in msg
    assert "alp weights fetch standard" in msg and "alp weights import" in msg
    assert not any(tmp_path.rglob("*.pth"))


def test_import_checks_the_published_hash_prefix(tmp_path: Path) -> None:
    import hashlib

    src = tmp_path / "download.bin"
    src.write_bytes(b"weights" * 1000)
    prefix = hashlib.sha256(src.read_bytes()).hexdigest()[:8]
    name = f"detector_coco-{prefix}.pth"
    dest = import_file(src, tmp_path / "hub", known=[name, "other-0123abcd.pth"])
    assert dest == tmp_path / "hub" / "checkpoints" / name
    assert dest.read_bytes() == src.read_bytes()
    bad = tmp_path / name
    bad.write_bytes(b"truncated")
    with pytest.raises(ValueError, match="not the published hash"):
        import_file(bad, tmp_path / "hub2", known=[name])
    with pytest.raises(ValueError, match="none of torchvision's files"):
        import_file(src, tmp_path / "hub2", known=["other-0123abcd.pth"])
    assert not (tmp_path / "hub2").exists()  # nothing written


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("profile", ["standard", "fast"])
def test_every_profile_and_preset_trains_a_step(
    hub: Path, profile: str, preset: str, synthetic_samples: list[dict[str, Any]]
) -> None:
    cfg = _config(profile, preset)
    model = build_detector(cfg, C)
    result = train(model, synthetic_samples[:2], cfg)
    assert result.iterations == 1 and torch.isfinite(torch.tensor(result.final_losses["loss"]))


def test_checkpoint_of_a_coco_model_loads_without_the_coco_file(
    hub: Path, tmp_path: Path, synthetic_samples: list[dict[str, Any]], monkeypatch
) -> None:
    cfg = _config("fast", "huale")
    model = build_detector(cfg, C)
    train(model, synthetic_samples[:2], cfg)
    path = save_checkpoint(tmp_path / "c.pt", model, cfg, ["a", "b", "c"])
    torch.hub.set_dir(str(tmp_path / "empty"))  # the COCO file is gone
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_download)
    try:
        loaded, config, names, _ = load_checkpoint(path)
    finally:
        torch.hub.set_dir(str(hub))
    assert names == ["a", "b", "c"] and config.detector.weights == "coco"
    model.eval()
    image = synthetic_samples[0]["image"]
    with torch.no_grad():
        a, b = model([image])[0], loaded([image])[0]
    assert torch.allclose(a["boxes"], b["boxes"]) and torch.equal(a["labels"], b["labels"])


def _no_download(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("loading a checkpoint must not download")


def test_warm_start_from_a_coco_checkpoint_keeps_its_layout(
    hub: Path, tmp_path: Path, synthetic_samples: list[dict[str, Any]]
) -> None:
    cfg = _config("fast", "vanilla")
    first = build_detector(cfg, C)
    train(first, synthetic_samples[:2], cfg)
    path = save_checkpoint(tmp_path / "c0.pt", first, cfg, ["a", "b", "c"])
    warm_cfg = TrainConfig.from_dict(
        {**cfg.to_dict(), "detector": {**cfg.detector.to_dict(), "weights": str(path)}}
    )
    warm = build_detector(warm_cfg, C)
    for key, value in first.state_dict().items():
        assert torch.equal(warm.state_dict()[key], value), key
    again = save_checkpoint(tmp_path / "c1.pt", warm, warm_cfg, ["a", "b", "c"])
    assert torch.load(again, weights_only=True)["config"]["detector"]["weights"] == "coco"
