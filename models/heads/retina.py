"""RetinaNet head with focal loss or AP-Loss, PISA ISR-P + CARL and PPAL class quality.

``AlpRetinaNetHead`` keeps torchvision's ``classification_head``/``regression_head`` modules
(same parameters and checkpoint keys) and replaces ``compute_loss``; ``AlpRetinaNet`` only
overrides ``postprocess_detections`` so that each result also has ``probs`` (N, C): the
sigmoid scores of all classes of the anchor each detection came from.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection import _utils as det_utils
from torchvision.models.detection.retinanet import RetinaNet
from torchvision.ops import boxes as box_ops
from torchvision.ops import sigmoid_focal_loss

from models.heads.config import HeadConfig
from models.losses.aploss import APLossFn
from models.losses.iou import paired_iou
from models.losses.pisa import carl_loss, isr_p_weights

__all__ = ["AlpRetinaNet", "AlpRetinaNetHead", "RetinaPositives"]


class RetinaPositives(NamedTuple):
    """Foreground anchors of a batch (n rows): image and anchor index, GT class, GT box,
    batch-unique GT id, anchor box, predicted logits (n, K) and deltas (n, 4) with grad."""

    img: Tensor
    anchor: Tensor
    labels: Tensor
    gt_boxes: Tensor
    gt_ids: Tensor
    anchors: Tensor
    logits: Tensor
    deltas: Tensor


class AlpRetinaNetHead(nn.Module):
    """RetinaNet head whose loss is configured by :class:`HeadConfig`.

    Losses: ``classification`` (focal, optionally ISR-P weighted, or AP-Loss over the whole
    batch), ``bbox_regression`` (torchvision's) and, with ``retina_carl``, ``loss_carl``.
    Buffer ``class_quality`` (C,) is PPAL's per-class EMA of ``p^ξ · IoU^(1−ξ)`` over the
    positive anchors (updated in training only; absent classes keep their value and their
    momentum shrinks, ``m_c ← m_c · m``, so they catch up faster when seen again).
    """

    class_quality: Tensor
    class_quality_momentum: Tensor

    def __init__(
        self,
        classification_head: nn.Module,
        regression_head: nn.Module,
        config: HeadConfig,
        num_classes: int,
    ) -> None:
        super().__init__()
        self.classification_head = classification_head
        self.regression_head = regression_head
        self.config = config
        self.num_classes = num_classes
        self.register_buffer("class_quality", torch.zeros(num_classes))
        self.register_buffer(
            "class_quality_momentum", torch.full((num_classes,), config.class_quality_momentum)
        )

    def forward(self, x: list[Tensor]) -> dict[str, Tensor]:
        return {
            "cls_logits": self.classification_head(x),
            "bbox_regression": self.regression_head(x),
        }

    def _positives(
        self,
        targets: list[dict[str, Tensor]],
        head_outputs: dict[str, Tensor],
        anchors: list[Tensor],
        matched_idxs: list[Tensor],
    ) -> RetinaPositives:
        img, anc, labels, boxes, ids = [], [], [], [], []
        offset = 0
        for i, (t, m) in enumerate(zip(targets, matched_idxs, strict=True)):
            fg = torch.nonzero(m >= 0).squeeze(1)
            img.append(torch.full_like(fg, i))
            anc.append(fg)
            labels.append(t["labels"][m[fg]])
            boxes.append(t["boxes"][m[fg]])
            ids.append(m[fg] + offset)
            offset += t["boxes"].shape[0]
        img_t, anc_t = torch.cat(img), torch.cat(anc)
        all_anchors = torch.stack(anchors)
        return RetinaPositives(
            img_t,
            anc_t,
            torch.cat(labels),
            torch.cat(boxes),
            torch.cat(ids),
            all_anchors[img_t, anc_t],
            head_outputs["cls_logits"][img_t, anc_t],
            head_outputs["bbox_regression"][img_t, anc_t],
        )

    @torch.no_grad()
    def _update_class_quality(self, pos: RetinaPositives, ious: Tensor) -> None:
        xi = self.config.class_quality_xi
        c = self.num_classes
        p = pos.logits.detach().float().sigmoid().gather(1, pos.labels[:, None]).squeeze(1)
        quality = p.pow(xi) * ious.float().clamp(min=0).pow(1.0 - xi)
        counts = torch.bincount(pos.labels, minlength=c).to(self.class_quality.dtype)
        sums = torch.zeros_like(self.class_quality).index_add_(0, pos.labels, quality)
        present = counts > 0
        m = self.class_quality_momentum
        ema = m * self.class_quality + (1 - m) * sums / counts.clamp(min=1)
        self.class_quality.copy_(torch.where(present, ema, self.class_quality))
        base = self.config.class_quality_momentum
        self.class_quality_momentum.copy_(torch.where(present, torch.full_like(m, base), m * base))

    def _focal(
        self,
        cls_logits: Tensor,
        gt_target: Tensor,
        matched: Tensor,
        pos: RetinaPositives,
        ious: Tensor,
    ) -> Tensor:
        """Focal loss like torchvision (sum over valid anchors / max(1, #fg) per image, mean
        over images), with ISR-P weights on the positive anchors' rows."""
        focal = sigmoid_focal_loss(cls_logits, gt_target, reduction="none")  # (N, A, K)
        weights = (matched != det_utils.Matcher.BETWEEN_THRESHOLDS).to(focal.dtype)
        isr = self.config.retina_isr_p
        if isr is not None and pos.labels.numel() > 0:
            pos_loss = focal[pos.img, pos.anchor].sum(1).detach()
            weights[pos.img, pos.anchor] = isr_p_weights(
                ious, pos.labels, pos.gt_ids, pos_loss, isr.k, isr.bias
            ).to(focal.dtype)
        num_fg = (matched >= 0).sum(1).clamp(min=1).to(focal.dtype)
        return ((focal * weights[..., None]).sum((1, 2)) / num_fg).mean()

    def compute_loss(
        self,
        targets: list[dict[str, Tensor]],
        head_outputs: dict[str, Tensor],
        anchors: list[Tensor],
        matched_idxs: list[Tensor],
    ) -> dict[str, Tensor]:
        """Loss dict for one batch; ``matched_idxs`` as produced by ``RetinaNet.compute_loss``
        (≥ 0 foreground GT index, −1 background, −2 ignored)."""
        cfg = self.config
        pos = self._positives(targets, head_outputs, anchors, matched_idxs)
        coder = self.regression_head.box_coder
        pred_boxes = coder.decode_single(pos.deltas.detach(), pos.anchors)
        ious = paired_iou(pred_boxes.float(), pos.gt_boxes.float())
        if self.training and pos.labels.numel() > 0:
            self._update_class_quality(pos, ious)

        cls_logits = head_outputs["cls_logits"]
        if cfg.retina_cls_loss == "focal" and cfg.retina_isr_p is None:
            loss_cls = self.classification_head.compute_loss(targets, head_outputs, matched_idxs)
        else:
            matched = torch.stack(matched_idxs)
            gt_target = torch.zeros_like(cls_logits)
            gt_target[pos.img, pos.anchor, pos.labels] = 1.0
            if cfg.retina_cls_loss == "aploss":
                gt_target[matched == det_utils.Matcher.BETWEEN_THRESHOLDS] = -1.0
                loss_cls = APLossFn.apply(cls_logits, gt_target, cfg.ap_delta, cfg.ap_method)
            else:
                loss_cls = self._focal(cls_logits, gt_target, matched, pos, ious)
        losses = {
            "classification": loss_cls,
            "bbox_regression": self.regression_head.compute_loss(
                targets, head_outputs, anchors, matched_idxs
            ),
        }
        if cfg.retina_carl is not None:
            tgt = coder.encode_single(pos.gt_boxes, pos.anchors)
            reg = F.l1_loss(pos.deltas, tgt, reduction="none").sum(1)
            losses["loss_carl"] = carl_loss(
                pos.logits,
                pos.labels,
                reg,
                cfg.retina_carl.k,
                cfg.retina_carl.bias,
                avg_factor=pos.labels.numel(),
                sigmoid=True,
            )
        return losses


class AlpRetinaNet(RetinaNet):
    """torchvision ``RetinaNet`` whose detections also carry ``probs`` (N, C) sigmoid scores.

    Not constructed directly: :func:`models.heads.install_heads` switches a built
    ``RetinaNet``'s class to this one (no new state, identical parameters).
    """

    def postprocess_detections(  # type: ignore[override]
        self,
        head_outputs: dict[str, list[Tensor]],
        anchors: list[list[Tensor]],
        image_shapes: list[tuple[int, int]],
    ) -> list[dict[str, Tensor]]:
        class_logits = head_outputs["cls_logits"]
        box_regression = head_outputs["bbox_regression"]
        detections = []
        for index, image_shape in enumerate(image_shapes):
            all_boxes, all_scores, all_labels, all_probs = [], [], [], []
            for reg_l, logits_l, anchors_l in zip(
                [br[index] for br in box_regression],
                [cl[index] for cl in class_logits],
                anchors[index],
                strict=True,
            ):
                num_classes = logits_l.shape[-1]
                probs_l = torch.sigmoid(logits_l)
                scores = probs_l.flatten()
                keep = scores > self.score_thresh
                scores = scores[keep]
                topk_idxs = torch.where(keep)[0]
                num_topk = det_utils._topk_min(topk_idxs, self.topk_candidates, 0)
                scores, idxs = scores.topk(num_topk)
                topk_idxs = topk_idxs[idxs]
                anchor_idxs = torch.div(topk_idxs, num_classes, rounding_mode="floor")
                boxes = self.box_coder.decode_single(reg_l[anchor_idxs], anchors_l[anchor_idxs])
                all_boxes.append(box_ops.clip_boxes_to_image(boxes, image_shape))
                all_scores.append(scores)
                all_labels.append(topk_idxs % num_classes)
                all_probs.append(probs_l[anchor_idxs])
            boxes, scores = torch.cat(all_boxes), torch.cat(all_scores)
            labels, probs = torch.cat(all_labels), torch.cat(all_probs)
            keep = box_ops.batched_nms(boxes, scores, labels, self.nms_thresh)
            keep = keep[: self.detections_per_img]
            detections.append(
                {
                    "boxes": boxes[keep],
                    "scores": scores[keep],
                    "labels": labels[keep],
                    "probs": probs[keep],
                }
            )
        return detections
