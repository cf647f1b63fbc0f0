"""Configurable Fast R-CNN loss: CE + {Smooth-L1, EIoU, uncertainty, synchronic}, Emphasis,
ISR-N/ISR-P weights and CARL (ALGORITHMS.md §1.5–1.6, §5)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection._utils import BoxCoder
from torchvision.models.detection.roi_heads import fastrcnn_loss

from models.heads.config import HeadConfig
from models.heads.predictor import select_log_vars
from models.losses.emphasis import (
    ClassDifficultyEMA,
    emphasis_weights,
    hardness_betas,
    loss_ratio_betas,
)
from models.losses.iou import eiou_loss, paired_iou
from models.losses.pisa import carl_loss, isr_p_weights
from models.losses.uncertainty import lambda_schedule, uncertainty_regression_loss

__all__ = ["RCNNLoss", "RCNNTrainBatch"]


@dataclass
class RCNNTrainBatch:
    """Sampled RoIs of a whole batch, concatenated over images (R rows).

    class_logits (R, C+1); box_regression (R, 4·(C+1)); log_vars (R, 4·(C+1)) or (R, 4) or
    None; labels (R,) int64 (0 = background); regression_targets (R, 4) encoded with the head's
    box coder; proposals (R, 4) and gt_boxes (R, 4) matched GT boxes (pixels); gt_ids (R,)
    assigned GT unique across the batch; label_weights (R,) classification weights from the
    sampler (ISR-N) or None (all 1). The negatives' weights are rescaled by the loss so that
    their weighted cross-entropy sum equals the unweighted one.
    """

    class_logits: Tensor
    box_regression: Tensor
    log_vars: Tensor | None
    labels: Tensor
    regression_targets: Tensor
    proposals: Tensor
    gt_boxes: Tensor
    gt_ids: Tensor
    label_weights: Tensor | None = None


def _renormalise_negatives(weights: Tensor, losses: Tensor, neg: Tensor) -> Tensor:
    """Scale the weights of the ``neg`` rows so that ``Σ_neg w·loss = Σ_neg loss`` (ISR-N)."""
    new = (weights * losses)[neg].sum()
    ori = losses[neg].sum()
    ratio = torch.where(new > 0, ori / new.clamp(min=1e-12), torch.ones_like(new))
    return torch.where(neg, weights * ratio, weights)


class RCNNLoss(nn.Module):
    """``forward(batch: RCNNTrainBatch) -> {"loss_classifier", "loss_box_reg"[, "loss_carl"]}``.

    Normalisation follows torchvision: sums over samples divided by the number of sampled RoIs.
    When :meth:`HeadConfig.rcnn_is_stock` holds and the sampler gives no weights, torchvision's
    own ``fastrcnn_loss`` is called, so vanilla is bit-identical to stock. Stateful parts
    (Emphasis EMA, iteration counter for the λ ramp) are buffers and advance only in training.

    Args:
        config: the head configuration.
        num_classes: classes including background (C + 1).
        box_coder: the RoI heads' coder (weights 10, 10, 5, 5 in torchvision).
    """

    iteration: Tensor

    def __init__(self, config: HeadConfig, num_classes: int, box_coder: BoxCoder) -> None:
        super().__init__()
        self.config = config
        self.num_classes = num_classes
        self.box_coder = box_coder
        self.register_buffer("iteration", torch.zeros((), dtype=torch.int64))
        self.emphasis_ema = (
            ClassDifficultyEMA(num_classes - 1, config.emphasis_momentum)
            if config.emphasis == "a"
            else None
        )

    def _step(self) -> int:
        """Training iteration index before this call (advances the counter in training)."""
        step = int(self.iteration) if self.config.sync_lambda_ramp_iters > 0 else 0
        if self.training:
            self.iteration += 1
        return step

    def _reg_losses(
        self, b: RCNNTrainBatch, pos: Tensor, deltas: Tensor, pred_boxes: Tensor, step: int
    ) -> Tensor:
        cfg = self.config
        tgt = b.regression_targets[pos]
        if cfg.reg_loss == "smooth_l1":
            return F.smooth_l1_loss(deltas, tgt, beta=cfg.smooth_l1_beta, reduction="none").sum(1)

        def iou_term() -> Tensor:  # the weighted EIoU of the eiou and synchronic losses
            return cfg.eiou_weight * eiou_loss(pred_boxes, b.gt_boxes[pos], gamma=cfg.eiou_gamma)

        if cfg.reg_loss == "eiou":
            return iou_term()
        if b.log_vars is None:
            raise ValueError(f"reg_loss={cfg.reg_loss!r} needs the σ head's log-variances")
        lv = select_log_vars(b.log_vars, pos, b.labels[pos])
        unc = uncertainty_regression_loss(
            deltas, tgt, lv, beta=cfg.smooth_l1_beta, log_var_clamp=cfg.log_var_clamp
        )
        if cfg.reg_loss == "uncertainty":
            return unc
        lam = lambda_schedule(step, cfg.sync_lambda, cfg.sync_lambda_ramp_iters)
        return lam * iou_term() + (1 - lam) * unc

    def forward(self, b: RCNNTrainBatch) -> dict[str, Tensor]:
        cfg = self.config
        step = self._step()
        if cfg.rcnn_is_stock() and b.label_weights is None:
            cls, reg = fastrcnn_loss(
                b.class_logits, b.box_regression, [b.labels], [b.regression_targets]
            )
            return {"loss_classifier": cls, "loss_box_reg": reg}

        num = max(b.labels.numel(), 1)
        pos = torch.nonzero(b.labels > 0).squeeze(1)
        labels_pos = b.labels[pos]
        reg = b.box_regression
        deltas = reg.reshape(b.labels.numel(), reg.shape[1] // 4, 4)[pos, labels_pos]
        pred_boxes = self.box_coder.decode_single(deltas, b.proposals[pos])
        ious = paired_iou(pred_boxes.detach(), b.gt_boxes[pos])

        ce = F.cross_entropy(b.class_logits, b.labels, reduction="none")
        w_cls = torch.ones_like(ce)
        if b.label_weights is not None:
            w_cls = _renormalise_negatives(b.label_weights.to(ce), ce.detach(), b.labels == 0)
        if cfg.isr_p is not None:
            w_cls[pos] = isr_p_weights(
                ious,
                labels_pos,
                b.gt_ids[pos],
                ce[pos],
                cfg.isr_p.k,
                cfg.isr_p.bias,
                base_weights=w_cls[pos],
            )
        reg = self._reg_losses(b, pos, deltas, pred_boxes, step)
        w_reg = torch.ones_like(reg)

        if cfg.emphasis in ("a", "b"):
            p_all = b.class_logits.detach().softmax(-1).gather(1, b.labels[:, None]).squeeze(1)
            if cfg.emphasis == "a":
                assert self.emphasis_ema is not None
                if self.training:
                    self.emphasis_ema.update(labels_pos - 1, p_all[pos], ious)
                b_pos, b_loc = self.emphasis_ema.betas(labels_pos - 1)
                b_neg = self.emphasis_ema.negative_beta()
                beta_cls = b_neg.expand_as(ce).clone()
                beta_cls[pos] = b_pos
            else:
                beta_cls = (1.0 - p_all).clamp(0.0, 1.0)
                _, b_loc = hardness_betas(p_all[pos], ious)
            if cfg.emphasis_negatives == "zero":
                beta_cls = torch.where(b.labels > 0, beta_cls, torch.zeros_like(beta_cls))
            w_cls = w_cls * emphasis_weights(beta_cls, w_cls * ce, cfg.emphasis_renormalise)
            w_reg = emphasis_weights(b_loc, reg, cfg.emphasis_renormalise)

        loss_cls = (w_cls * ce).sum() / num
        loss_reg = (w_reg * reg).sum() / num
        if cfg.emphasis == "c":
            beta_c, beta_l = loss_ratio_betas(loss_cls, loss_reg)
            loss_cls, loss_reg = (1 + beta_c) * loss_cls, (1 + beta_l) * loss_reg
        losses = {"loss_classifier": loss_cls, "loss_box_reg": loss_reg}
        if cfg.carl is not None:
            tgt = b.regression_targets[pos]
            carl_reg = F.smooth_l1_loss(deltas, tgt, beta=cfg.carl_beta, reduction="none").sum(1)
            losses["loss_carl"] = carl_loss(
                b.class_logits[pos], labels_pos, carl_reg, cfg.carl.k, cfg.carl.bias, avg_factor=num
            )
        return losses
