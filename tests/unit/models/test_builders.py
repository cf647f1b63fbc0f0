"""Detector builders: tiny presets, heads installed, seeding, weights from a checkpoint."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torchvision.models.detection import FasterRCNN, RetinaNet

from models.backbones import TinyBackbone
from models.builders import build_detector, build_stock_detector, label_offset, num_classes_of
from models.checkpoint import save_checkpoint
from models.config import DetectorConfig, TrainConfig


def test_tiny_backbone_has_stride_8_and_one_map() -> None:
    backbone = TinyBackbone()
    out = backbone(torch.rand(2, 3, 64, 48))
    assert out.shape == (2, 64, 8, 6)
    assert backbone.out_channels == 64
    with pytest.raises(ValueError, match="channel"):
        TinyBackbone(channels=(8, 8))


@pytest.mark.parametrize("arch", ["fasterrcnn", "retinanet"])
def test_tiny_detectors_train_and_predict(
    arch: str, tiny_detector_config: Callable, tiny_batch: tuple
) -> None:
    model = build_detector(tiny_detector_config(arch), num_classes=3, seed=0)
    two_stage = arch == "fasterrcnn"
    assert isinstance(model, FasterRCNN if two_stage else RetinaNet)
    assert num_classes_of(model) == 3 and label_offset(model) == (1 if two_stage else 0)
    images, targets = tiny_batch
    if not two_stage:
        targets = [{**t, "labels": t["labels"] - 1} for t in targets]
    losses = model(images, targets)
    expected = (
        {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}
        if two_stage
        else {"classification", "bbox_regression"}
    )
    assert expected <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())
    model.eval()
    with torch.no_grad():
        out = model(images[:2])
    cols = 4 if two_stage else 3
    assert out[0]["probs"].shape == (len(out[0]["boxes"]), cols)


def test_tiny_rcnn_uses_128_rois_and_the_configured_anchors(tiny_detector_config: Callable) -> None:
    model = build_stock_detector(tiny_detector_config(), 3)
    assert model.roi_heads.fg_bg_sampler.batch_size_per_image == 128
    assert model.rpn.anchor_generator.sizes == ((12, 24, 48),)
    assert model.roi_heads.box_head.fc7.out_features == 256


def test_seeded_builds_are_identical_and_leave_global_rng_alone(
    tiny_detector_config: Callable,
) -> None:
    state = torch.get_rng_state()
    a = build_detector(tiny_detector_config(), 3, seed=7)
    b = build_detector(tiny_detector_config(), 3, seed=7)
    c = build_detector(tiny_detector_config(), 3, seed=8)
    assert torch.equal(torch.get_rng_state(), state)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa)


def test_train_config_selects_heads(tiny_detector_config: Callable) -> None:
    config = TrainConfig.preset("huale", detector=tiny_detector_config())
    model = build_detector(config, 2)
    model.eval()
    with torch.no_grad():
        out = model([torch.rand(3, 64, 64)])[0]
    assert out["log_vars"].shape == (len(out["boxes"]), 4)


def test_weights_from_checkpoint_path(tmp_path: Path, tiny_detector_config: Callable) -> None:
    config = TrainConfig.preset("vanilla", detector=tiny_detector_config())
    source = build_detector(config, 3, seed=1)
    path = save_checkpoint(tmp_path / "m.pt", source, config, ["a", "b", "c"])
    loaded = build_detector(tiny_detector_config(weights=str(path)), 3, seed=2)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in source.state_dict().items())
    with pytest.raises(ValueError, match="do not fit"):
        build_detector(tiny_detector_config(weights=str(path)), 5)
    with pytest.raises(FileNotFoundError):
        build_detector(tiny_detector_config(weights=str(tmp_path / "missing.pt")), 3)


@pytest.mark.parametrize(
    ("arch", "backbone"),
    [
        ("fasterrcnn", "mobilenet_v3_large_fpn"),
        ("fasterrcnn", "resnet50_fpn"),
        ("retinanet", "resnet50_fpn"),
    ],
)
def test_torchvision_backbones_build_without_downloads(arch: str, backbone: str) -> None:
    config = DetectorConfig(arch=arch, backbone=backbone, min_size=320, max_size=320)
    model = build_detector(config, 4)
    assert num_classes_of(model) == 4
    assert sum(p.numel() for p in model.parameters()) > 10_000_000
    if arch == "fasterrcnn":
        assert model.roi_heads.fg_bg_sampler.batch_size_per_image == 512


def test_invalid_class_count() -> None:
    with pytest.raises(ValueError, match="num_classes"):
        build_stock_detector(DetectorConfig(), 0)
