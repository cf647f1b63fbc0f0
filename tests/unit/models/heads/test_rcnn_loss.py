"""RCNNLoss on hand-made batches: stock path, ISR-N renormalisation, CARL key, empty batch."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torchvision.models.detection._utils import BoxCoder

from models.heads.config import HeadConfig
from models.heads.rcnn_loss import RCNNLoss, RCNNTrainBatch

C1 = 4  # classes incl. background


def _batch(r: int = 12, n_pos: int = 4, weights: torch.Tensor | None = None) -> RCNNTrainBatch:
    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(r, 2, generator=gen) * 50
    proposals = torch.cat([xy, xy + 10], 1)
    gt = proposals + torch.randn(r, 4, generator=gen)
    coder = BoxCoder((10.0, 10.0, 5.0, 5.0))
    labels = torch.zeros(r, dtype=torch.int64)
    labels[:n_pos] = torch.arange(n_pos) % (C1 - 1) + 1
    return RCNNTrainBatch(
        class_logits=torch.randn(r, C1, generator=gen, requires_grad=True),
        box_regression=torch.randn(r, 4 * C1, generator=gen) * 0.1,
        log_vars=None,
        labels=labels,
        regression_targets=coder.encode_single(gt, proposals),
        proposals=proposals,
        gt_boxes=gt,
        gt_ids=torch.arange(r),
        label_weights=weights,
    )


def _loss(cfg: HeadConfig, batch: RCNNTrainBatch) -> dict:
    return RCNNLoss(cfg, C1, BoxCoder((10.0, 10.0, 5.0, 5.0)))(batch)


def test_isr_n_weights_are_renormalised_over_negatives() -> None:
    weights = torch.ones(12)
    weights[4:] = torch.linspace(0.1, 1.0, 8)  # raw ISR-N weights of the 8 negatives
    batch = _batch(weights=weights)
    losses = _loss(HeadConfig(sampler="score_hlr"), batch)
    plain = F.cross_entropy(batch.class_logits, batch.labels)
    assert losses["loss_classifier"].item() == pytest.approx(plain.item(), rel=1e-6)
    losses["loss_classifier"].backward()
    grad = batch.class_logits.grad
    assert grad is not None and not torch.allclose(
        grad,
        torch.autograd.grad(F.cross_entropy(batch.class_logits, batch.labels), batch.class_logits)[
            0
        ],
    )


def test_eiou_loss_is_normalised_by_sampled_rois() -> None:
    batch = _batch()
    losses = _loss(HeadConfig(reg_loss="eiou", carl={"k": 1.0, "bias": 0.2}), batch)
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_carl"}
    assert 0 < losses["loss_box_reg"].item() < 4 * 2**1.5 / 12


def test_batch_without_positives_gives_zero_box_losses() -> None:
    batch = _batch(n_pos=0)
    for cfg in (
        HeadConfig(reg_loss="eiou", emphasis="a", carl={"k": 1.0, "bias": 0.2}),
        HeadConfig(isr_p={"k": 2.0, "bias": 0.0}, emphasis="c"),
    ):
        losses = _loss(cfg, batch)
        assert losses["loss_box_reg"].item() == 0.0
        assert losses.get("loss_carl", torch.tensor(0.0)).item() == 0.0
        assert torch.isfinite(losses["loss_classifier"])


@pytest.mark.parametrize(
    "extra", [{}, {"reg_loss": "synchronic", "uncertainty_head": True, "sync_lambda": 1.0}]
)
def test_eiou_weight_scales_the_iou_term(extra: dict) -> None:
    base = {"reg_loss": "eiou", **extra}
    batch = _batch()
    if extra:
        batch.log_vars = torch.zeros(12, 4 * C1)
    one = _loss(HeadConfig(**base), batch)["loss_box_reg"].item()
    ten = _loss(HeadConfig(**base, eiou_weight=10.0), batch)["loss_box_reg"].item()
    assert one > 0 and ten == pytest.approx(10 * one, rel=1e-6)
