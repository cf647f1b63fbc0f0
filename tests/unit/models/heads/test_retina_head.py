"""RetinaNet with alp's head: stock equivalence, AP-Loss, PISA, class quality, probs."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
import torch
from torch import nn

from models.heads import AlpRetinaNet, AlpRetinaNetHead, HeadConfig, head_preset, install_heads

NUM = 3


@pytest.fixture
def retina_batch(tiny_batch: tuple) -> tuple[list, list]:
    images, targets = tiny_batch  # R-CNN labels are 1-based; RetinaNet's are 0-based
    return images, [{"boxes": t["boxes"], "labels": t["labels"] - 1} for t in targets]


def _train(model: nn.Module, images: list, targets: list) -> dict:
    model.train()
    return model(images, targets)


def _eval(model: nn.Module, images: list) -> list[dict]:
    model.eval()
    model.score_thresh = 0.0  # untrained: keep low-score detections to test alignment
    with torch.no_grad():
        return model(images)


def test_vanilla_is_bit_identical_to_stock(
    stock_tiny_detector: Callable, retina_batch: tuple
) -> None:
    images, targets = retina_batch
    stock = stock_tiny_detector("retinanet")
    ours = install_heads(copy.deepcopy(stock), head_preset("vanilla"), NUM)
    assert isinstance(ours, AlpRetinaNet) and isinstance(ours.head, AlpRetinaNetHead)
    ref, got = _train(stock, images, targets), _train(ours, images, targets)
    assert set(ref) == set(got)
    for key in ref:
        assert torch.equal(ref[key], got[key]), key
    for r, g in zip(_eval(stock, images), _eval(ours, images), strict=True):
        for key in ("boxes", "labels", "scores"):
            assert torch.equal(r[key], g[key]), key
        n = g["scores"].numel()
        assert n > 0 and g["probs"].shape == (n, NUM)
        assert torch.equal(g["probs"][torch.arange(n), g["labels"]], g["scores"])


@pytest.mark.parametrize("name", ["aploss", "pisa", "isr_focal", "aploss_carl_chunked"])
def test_configured_retina_heads_train_one_step(
    name: str, stock_tiny_detector: Callable, retina_batch: tuple
) -> None:
    images, targets = retina_batch
    cfg = {
        "aploss": head_preset("aploss"),
        "pisa": head_preset("pisa"),
        "isr_focal": HeadConfig(retina_isr_p={"k": 2.0, "bias": 0.0}),
        "aploss_carl_chunked": HeadConfig(
            retina_cls_loss="aploss", ap_method="chunked", retina_carl={"k": 1.0, "bias": 0.2}
        ),
    }[name]
    model = install_heads(stock_tiny_detector("retinanet"), cfg, NUM)
    losses = _train(model, images, targets)
    assert ("loss_carl" in losses) == (cfg.retina_carl is not None)
    assert all(torch.isfinite(v) for v in losses.values())
    if cfg.retina_cls_loss == "aploss":
        assert 0.0 < losses["classification"].item() < 1.0
    sum(losses.values()).backward()
    grad = model.head.classification_head.cls_logits.weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_class_quality_is_tracked_in_training_only(
    stock_tiny_detector: Callable, retina_batch: tuple
) -> None:
    images, targets = retina_batch
    model = install_heads(stock_tiny_detector("retinanet"), head_preset("vanilla"), NUM)
    assert "head.class_quality" in model.state_dict()
    _train(model, images, targets)
    quality = model.head.class_quality.clone()
    present = torch.cat([t["labels"] for t in targets]).unique()
    assert (quality[present] > 0).all() and (quality <= 1).all()
    absent = torch.ones(NUM, dtype=torch.bool)
    absent[present] = False
    assert (quality[absent] == 0).all()
    _eval(model, images)
    assert torch.equal(model.head.class_quality, quality)


def test_images_without_boxes(stock_tiny_detector: Callable, retina_batch: tuple) -> None:
    images, _ = retina_batch
    empty = [
        {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)} for _ in images
    ]
    for name in ("aploss", "pisa"):
        model = install_heads(stock_tiny_detector("retinanet"), head_preset(name), NUM)
        losses = _train(model, images, empty)
        assert all(torch.isfinite(v) for v in losses.values())
        if name == "aploss":
            assert losses["classification"].item() == 0.0
        else:
            assert losses["loss_carl"].item() == 0.0
        sum(losses.values()).backward()


def test_rcnn_only_options_are_rejected(stock_tiny_detector: Callable) -> None:
    model = stock_tiny_detector("retinanet")
    with pytest.raises(ValueError, match="Faster R-CNN only"):
        install_heads(model, head_preset("huale"), NUM)
    with pytest.raises(ValueError, match="num_classes"):
        install_heads(model, head_preset("vanilla"), NUM + 1)
