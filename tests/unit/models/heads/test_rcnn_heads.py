"""Faster R-CNN with alp's RoI heads: stock equivalence, presets, inference extras."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
import torch
from torch import nn

from models.heads import AlpRoIHeads, HeadConfig, head_preset, install_heads

NUM = 4  # 3 foreground classes + background


def _train(model: nn.Module, images: list, targets: list, seed: int = 1) -> dict:
    model.train()
    torch.manual_seed(seed)
    return model(images, targets)


def _eval(model: nn.Module, images: list) -> list[dict]:
    model.eval()
    with torch.no_grad():
        return model(images)


def test_vanilla_is_bit_identical_to_stock(
    stock_tiny_detector: Callable, tiny_batch: tuple
) -> None:
    images, targets = tiny_batch
    stock = stock_tiny_detector("fasterrcnn")
    ours = install_heads(copy.deepcopy(stock), head_preset("vanilla"), NUM)
    assert isinstance(ours.roi_heads, AlpRoIHeads)
    ref, got = _train(stock, images, targets), _train(ours, images, targets)
    assert set(ref) == set(got)
    for key in ref:
        assert torch.equal(ref[key], got[key]), key
    for r, g in zip(_eval(stock, images), _eval(ours, images), strict=True):
        for key in ("boxes", "labels", "scores"):
            assert torch.equal(r[key], g[key]), key
        assert "log_vars" not in g
        assert g["probs"].shape == (g["scores"].numel(), NUM)
        rows = torch.arange(g["scores"].numel())
        assert torch.equal(g["probs"][rows, g["labels"]], g["scores"])  # aligned after NMS
        torch.testing.assert_close(g["probs"].sum(1), torch.ones(rows.numel()))


CONFIGS = {
    "huale": head_preset("huale"),
    "libra": head_preset("libra"),
    "libra_faithful": HeadConfig(
        sampler="libra_faithful", libra_floor_thr=0.0, libra_floor_fraction=0.2
    ),
    "pisa": head_preset("pisa"),
    "pisa_all_negatives": HeadConfig(sampler="score_hlr", score_hlr_candidate_factor=None),
    "eiou_emphasis_b": HeadConfig(reg_loss="eiou", emphasis="b", sampler_num=64),
    "sync_c_ramp": HeadConfig(
        reg_loss="synchronic",
        uncertainty_head=True,
        emphasis="c",
        sync_lambda_ramp_iters=10,
        uncertainty_class_agnostic=True,
    ),
    "uncertainty_isr": HeadConfig(
        reg_loss="uncertainty",
        uncertainty_head=True,
        isr_p={"k": 2.0, "bias": 0.0},
        emphasis="a",
        emphasis_negatives="zero",
    ),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_configured_heads_train_one_step(
    name: str, stock_tiny_detector: Callable, tiny_batch: tuple
) -> None:
    images, targets = tiny_batch
    cfg = CONFIGS[name]
    model = install_heads(stock_tiny_detector("fasterrcnn"), cfg, NUM)
    losses = _train(model, images, targets)
    expected = {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}
    if cfg.carl is not None:
        expected.add("loss_carl")
    assert set(losses) == expected
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    pred = model.roi_heads.box_predictor
    assert pred.cls_score.weight.grad is not None
    assert torch.isfinite(pred.bbox_pred.weight.grad).all()
    assert pred.bbox_pred.weight.grad.abs().sum() > 0
    if cfg.uncertainty_head:
        sigma_grad = pred.bbox_log_var.weight.grad.abs().sum()
        if cfg.sync_lambda_ramp_iters > 0:
            assert sigma_grad == 0  # step 0 of the ramp: λ = 1, pure EIoU
        else:
            assert sigma_grad > 0


def test_sigma_head_log_vars_and_emphasis_state(
    stock_tiny_detector: Callable, tiny_batch: tuple
) -> None:
    images, targets = tiny_batch
    model = install_heads(stock_tiny_detector("fasterrcnn"), head_preset("huale"), NUM)
    state = model.state_dict()
    assert "roi_heads.box_predictor.bbox_log_var.weight" in state
    ema = model.roi_heads.box_loss.emphasis_ema
    assert ema is not None and not ema.seen.any()
    _train(model, images, targets)
    assert ema.seen.any() and (ema.cls_quality[ema.seen] > 0).all()
    for det in _eval(model, images):
        n = det["scores"].numel()
        assert det["log_vars"].shape == (n, 4) and det["probs"].shape == (n, NUM)
        assert det["log_vars"].abs().max() < 0.1  # σ ≈ 1 at initialisation


@pytest.mark.parametrize("name", ["vanilla", "huale", "libra", "pisa"])
def test_images_without_boxes(name: str, stock_tiny_detector: Callable, tiny_batch: tuple) -> None:
    images, _ = tiny_batch
    empty = [
        {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)} for _ in images
    ]
    model = install_heads(stock_tiny_detector("fasterrcnn"), head_preset(name), NUM)
    losses = _train(model, images, empty)
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses["loss_box_reg"].item() == 0.0
    assert losses.get("loss_carl", torch.tensor(0.0)).item() == 0.0
    sum(losses.values()).backward()


def test_install_rejects_bad_input(stock_tiny_detector: Callable) -> None:
    model = stock_tiny_detector("fasterrcnn")
    with pytest.raises(ValueError, match="num_classes"):
        install_heads(model, head_preset("vanilla"), NUM + 1)
    with pytest.raises(ValueError, match="RetinaNet only"):
        install_heads(model, head_preset("aploss"), NUM)
    with pytest.raises(TypeError, match="FasterRCNN and RetinaNet"):
        install_heads(nn.Linear(2, 2), head_preset("vanilla"), NUM)
    install_heads(model, head_preset("huale"), NUM)
    with pytest.raises(ValueError, match="σ head"):
        install_heads(model, head_preset("vanilla"), NUM)


@pytest.mark.parametrize("preset", ["huale", "pisa"])
def test_zero_proposals_give_empty_detections(
    stock_tiny_detector: Callable, tiny_batch: tuple, preset: str
) -> None:
    """A σ head (class-specific) and PISA's extra pass must cope with zero RoIs."""
    images, _ = tiny_batch
    model = install_heads(stock_tiny_detector("fasterrcnn"), head_preset(preset), NUM)
    model.eval()
    features = model.backbone(torch.stack(images))
    if isinstance(features, torch.Tensor):
        features = {"0": features}
    sizes = [tuple(im.shape[-2:]) for im in images]
    empty = [torch.zeros(0, 4) for _ in images]
    with torch.no_grad():
        results, _ = model.roi_heads(features, empty, sizes)
    assert [r["boxes"].shape[0] for r in results] == [0] * len(images)
    assert all(r["probs"].shape == (0, NUM) for r in results)
