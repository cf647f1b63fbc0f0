"""TrainConfig / DetectorConfig: presets, overrides, serialisation, validation, LR schedule."""

from __future__ import annotations

import json

import pytest

from models.config import PRESETS, DetectorConfig, TrainConfig, merge_overrides


@pytest.mark.parametrize("name", PRESETS)
def test_preset_round_trips_through_json(name: str) -> None:
    config = TrainConfig.preset(name)
    data = json.loads(json.dumps(config.to_dict()))
    again = TrainConfig.from_dict(data)
    assert again == config
    assert again.name == name
    expected_arch = "retinanet" if name in ("aploss", "retinanet") else "fasterrcnn"
    assert again.detector.arch == expected_arch


def test_presets_differ_in_their_heads() -> None:
    vanilla, huale = TrainConfig.preset("vanilla"), TrainConfig.preset("huale")
    assert vanilla.heads != huale.heads
    assert huale.heads.uncertainty_head
    assert TrainConfig.preset("aploss").heads.retina_cls_loss == "aploss"
    assert TrainConfig.preset("retinanet").heads.retina_cls_loss == "focal"


def test_overrides_merge_partial_nested_dicts() -> None:
    config = TrainConfig.preset(
        "libra",
        lr=0.5,
        epochs=3,
        milestones=[2, 1],
        detector={"min_size": 96, "max_size": 96},
        heads={"libra_num_bins": 4},
    )
    assert config.lr == 0.5
    assert config.epochs == 3 and config.iterations is None
    assert config.milestones == (1, 2)
    assert config.detector.min_size == 96 and config.detector.backbone == "tiny"
    assert config.heads.sampler == "libra" and config.heads.libra_num_bins == 4
    replaced = TrainConfig.preset("vanilla", detector=DetectorConfig(arch="retinanet"))
    assert replaced.detector.arch == "retinanet"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": -1.0}, "lr"),
        ({"iterations": None}, "exactly one"),
        ({"epochs": 2, "iterations": 5}, "exactly one"),
        ({"batch_size": 0}, "batch_size"),
        ({"hflip_prob": 2.0}, "hflip_prob"),
        ({"detector": {"arch": "yolo"}}, "arch"),
        ({"detector": {"backbone": "vgg"}}, "backbone"),
        ({"detector": {"weights": "imagenet"}}, "tiny backbone"),
        ({"detector": {"min_size": 300, "max_size": 200}}, "min_size"),
        ({"detector": {"colour": "red"}}, "DetectorConfig: unknown key 'colour'"),
        ({"bogus": 1}, "TrainConfig: unknown key 'bogus'"),
        ({"lr": "fast"}, "TrainConfig.lr expects float, got str"),
        ({"detector": {"min_size": 1.5}}, "DetectorConfig.min_size expects int"),
    ],
)
def test_invalid_values_raise_clear_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig.preset("vanilla", **kwargs)


def test_unknown_preset_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown preset"):
        TrainConfig.preset("yolo")


def test_iteration_counts_from_epochs() -> None:
    config = TrainConfig.preset("vanilla", epochs=20, milestones=(16, 19), batch_size=4)
    assert config.total_iterations(10) == 60  # ceil(10 / 4) = 3 per epoch
    assert config.milestone_iterations(10) == (48, 57)
    by_iter = TrainConfig.preset("vanilla", iterations=7, milestones=(5,))
    assert by_iter.total_iterations(1000) == 7 and by_iter.milestone_iterations(1000) == (5,)


def test_tiny_defaults_are_resolved() -> None:
    tiny = DetectorConfig()
    assert tiny.resolved("rois_per_image") == 128
    assert tiny.resolved("anchor_sizes") == (16, 32, 64)
    fpn = DetectorConfig(backbone="resnet50_fpn")
    assert fpn.resolved("rois_per_image") == 512
    assert DetectorConfig(rois_per_image=64).resolved("rois_per_image") == 64


def test_merge_overrides_merges_mappings_key_by_key_and_copies() -> None:
    base = {"detector": {"rois_per_image": 64, "min_size": 96}, "lr": 0.04, "milestones": [8]}
    extra = {"detector": {"rois_per_image": 32}, "heads": {"emphasis": "a"}, "milestones": [4]}
    merged = merge_overrides(base, extra)
    assert merged == {
        "detector": {"rois_per_image": 32, "min_size": 96},
        "lr": 0.04,
        "milestones": [4],
        "heads": {"emphasis": "a"},
    }
    assert base["detector"]["rois_per_image"] == 64 and "heads" not in base
    assert merge_overrides(base, None) == base and merge_overrides(base, None) is not base
