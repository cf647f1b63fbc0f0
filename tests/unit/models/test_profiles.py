"""Model profiles (pure Python): resolution, layering with explicit overrides, the pool
setting's validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alp.schemas import MODEL_PROFILES, PoolSettings
from models.config import PRESETS, TrainConfig
from models.profiles import PROFILES, merged_overrides, profile_overrides, resolve_profile


def test_schema_lists_the_same_profiles() -> None:
    assert MODEL_PROFILES == PROFILES


@pytest.mark.parametrize(("name", "cuda", "want"), [
    ("auto", False, "fast"), ("auto", True, "standard"), ("tiny", True, "tiny"),
    ("standard", False, "standard"), ("fast", True, "fast"),
])  # fmt: skip
def test_resolution(name: str, cuda: bool, want: str) -> None:
    assert resolve_profile(name, cuda) == want


def test_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown model profile 'huge'"):
        resolve_profile("huge", False)
    with pytest.raises(ValueError, match="resolve 'auto' first"):
        profile_overrides("auto", "vanilla")


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("profile", ["standard", "fast", "tiny"])
def test_every_profile_combines_with_every_preset(profile: str, preset: str) -> None:
    cfg = TrainConfig.preset(preset, **merged_overrides(profile, preset, {}))
    retina = preset in ("aploss", "retinanet")
    assert cfg.detector.arch == ("retinanet" if retina else "fasterrcnn")
    assert cfg.name == preset
    if profile == "tiny":
        assert (cfg.detector.backbone, cfg.detector.weights) == ("tiny", "none")
        assert cfg.detector.min_size == 128
        return
    assert cfg.detector.weights == "coco"
    want = {"standard": "resnet50_fpn_v2", "fast": "mobilenet_v3_large_fpn"}[profile]
    assert cfg.detector.backbone == ("resnet50_fpn" if retina else want)
    sizes = (cfg.detector.min_size, cfg.detector.max_size)
    assert sizes == ((800, 1333) if profile == "standard" else (512, 768))


def test_explicit_overrides_win_key_by_key() -> None:
    ov = merged_overrides("standard", "huale", {"detector": {"min_size": 600}, "lr": 0.002,
                                                "epochs": 3})  # fmt: skip
    cfg = TrainConfig.preset("huale", **ov)
    assert cfg.detector.min_size == 600 and cfg.detector.max_size == 1333
    assert cfg.detector.backbone == "resnet50_fpn_v2" and cfg.lr == 0.002
    assert (cfg.epochs, cfg.iterations, cfg.batch_size) == (3, None, 4)
    ov = merged_overrides("fast", "vanilla", {"detector": {"weights": "none"}})
    assert ov["detector"]["weights"] == "none"


def test_pool_setting_is_validated() -> None:
    assert PoolSettings().model == "auto"
    assert PoolSettings(model="fast").model == "fast"
    with pytest.raises(ValidationError, match="unknown model 'big'; choose one of auto"):
        PoolSettings(model="big")


def test_schedule_grows_with_the_labeled_set_within_bounds() -> None:
    its = [merged_overrides("standard", "huale", {}, n)["iterations"] for n in (10, 400, 10**6)]
    assert its == [300, 12 * 100, 20_000]  # 12 epochs of batch 4, clamped
    assert merged_overrides("fast", "vanilla", {}, 400)["iterations"] == 12 * 50
    assert merged_overrides("fast", "vanilla", {"iterations": 7}, 400)["iterations"] == 7
    assert "iterations" not in merged_overrides("fast", "vanilla", {"epochs": 2}, 400)
    assert merged_overrides("tiny", "vanilla", {}, 400) == {}  # tiny keeps the preset's 300


def test_lr_scales_with_an_explicit_batch_size() -> None:
    assert merged_overrides("standard", "huale", {"batch_size": 16})["lr"] == 0.02
    assert merged_overrides("standard", "huale", {"batch_size": 16, "lr": 0.1})["lr"] == 0.1
    assert merged_overrides("fast", "huale", {})["lr"] == 0.01
