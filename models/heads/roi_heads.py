"""torchvision ``RoIHeads`` with configurable sampling and losses, and richer inference output.

Training: proposals (+ GT boxes) are matched like torchvision, then sampled by the configured
sampler (torchvision's own, Libra or Score-HLR) and scored by :class:`RCNNLoss`.
Inference: every result dict gets ``probs`` (N, C+1) — the full softmax of the RoI each
detection came from (CALD's trick, kept aligned through score filtering and NMS) — and, with
a σ head, ``log_vars`` (N, 4) for the detection's class (:mod:`models.heads.roi_inference`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn
from torchvision.models.detection._utils import BalancedPositiveNegativeSampler
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.ops import boxes as box_ops

from models.heads.config import HeadConfig
from models.heads.rcnn_loss import RCNNLoss, RCNNTrainBatch
from models.heads.roi_inference import detections_with_probs
from models.samplers import LibraSampler, ScoreHLRSampler
from models.samplers.base import SampleResult

__all__ = ["AlpRoIHeads", "TrainSamples"]


class TrainSamples(NamedTuple):
    """Sampled RoIs: per-image ``proposals`` and, concatenated over images, ``labels`` (R,),
    ``regression_targets`` (R, 4), matched ``gt_boxes`` (R, 4), batch-unique ``gt_ids`` (R,)
    and sampler ``label_weights`` (R,) or None."""

    proposals: list[Tensor]
    labels: Tensor
    regression_targets: Tensor
    gt_boxes: Tensor
    gt_ids: Tensor
    label_weights: Tensor | None


class AlpRoIHeads(RoIHeads):
    """Drop-in replacement of a built ``RoIHeads`` (box branch only; no masks/keypoints).

    Args:
        base: the model's current ``RoIHeads``; its RoI pooler, box head, matcher, box coder
            and inference thresholds are reused (shared modules, same parameters).
        config: head configuration.
        num_classes: classes including background (C + 1).
        box_predictor: the predictor to use (``FastRCNNPredictor`` or
            :class:`~models.heads.predictor.UncertaintyBoxPredictor`).
    """

    def __init__(
        self, base: RoIHeads, config: HeadConfig, num_classes: int, box_predictor: nn.Module
    ) -> None:
        sampler = base.fg_bg_sampler
        num = config.sampler_num or sampler.batch_size_per_image
        frac = (
            config.sampler_pos_fraction
            if config.sampler_pos_fraction is not None
            else sampler.positive_fraction
        )
        super().__init__(
            base.box_roi_pool,
            base.box_head,
            box_predictor,
            base.proposal_matcher.high_threshold,
            base.proposal_matcher.low_threshold,
            num,
            frac,
            base.box_coder.weights,
            base.score_thresh,
            base.nms_thresh,
            base.detections_per_img,
        )
        self.proposal_matcher = base.proposal_matcher
        self.fg_bg_sampler = BalancedPositiveNegativeSampler(num, frac)
        self.config = config
        self.num_classes = num_classes
        self.box_loss = RCNNLoss(config, num_classes, self.box_coder)
        self.libra: LibraSampler | None = None
        self.score_hlr: ScoreHLRSampler | None = None
        if config.sampler in ("libra", "libra_faithful"):
            self.libra = LibraSampler(
                num,
                frac,
                config.libra_num_bins,
                config.libra_floor_thr,
                config.libra_floor_fraction,
                faithful=config.sampler == "libra_faithful",
                neg_iou_thr=base.proposal_matcher.low_threshold,
            )
        elif config.sampler == "score_hlr":
            self.score_hlr = ScoreHLRSampler(
                num,
                frac,
                config.score_hlr_k,
                config.score_hlr_bias,
                config.score_hlr_score_thr,
                config.score_hlr_iou_thr,
            )

    # ------------------------------------------------------------------ training samples
    def _assign(
        self, proposals: Tensor, gt_boxes: Tensor, gt_labels: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """torchvision's matching plus the max IoU of each proposal with any GT."""
        n = proposals.shape[0]
        if gt_boxes.numel() == 0:
            zeros = torch.zeros(n, dtype=torch.int64, device=proposals.device)
            return zeros, zeros.clone(), proposals.new_zeros(n)
        quality = box_ops.box_iou(gt_boxes, proposals)
        matched = self.proposal_matcher(quality)
        clamped = matched.clamp(min=0)
        labels = gt_labels[clamped].to(torch.int64)
        labels[matched == self.proposal_matcher.BELOW_LOW_THRESHOLD] = 0
        labels[matched == self.proposal_matcher.BETWEEN_THRESHOLDS] = -1
        return clamped, labels, quality.max(dim=0).values

    @torch.no_grad()
    def _score_negatives(
        self,
        features: dict[str, Tensor],
        proposals: list[Tensor],
        labels: list[Tensor],
        image_shapes: list[tuple[int, int]],
    ) -> list[tuple[Tensor, Tensor]]:
        """One batched no-grad head pass over each image's negatives (Score-HLR input).

        With ``score_hlr_candidate_factor`` only the first ``factor × negative quota``
        negatives of each image are scored; torchvision's RPN returns proposals sorted by
        objectness (GT boxes are appended after them), so these are the negatives most likely
        to be hard. The sampler treats the others as easy (invalid).
        """
        factor = self.config.score_hlr_candidate_factor
        num, frac = self.fg_bg_sampler.batch_size_per_image, self.fg_bg_sampler.positive_fraction
        neg_boxes = []
        for img_labels, props in zip(labels, proposals, strict=True):
            neg = torch.nonzero(img_labels == 0).squeeze(1)
            if factor is not None:
                n_pos = int((img_labels > 0).sum())
                quota = num - min(int(num * frac), n_pos)
                neg = neg[: max(1, int(factor * quota))]
            neg_boxes.append(props[neg])
        feats = self.box_head(self.box_roi_pool(features, neg_boxes, image_shapes))
        logits, deltas = self.box_predictor(feats)[:2]
        n = logits.shape[0]
        cls = logits[:, 1:].argmax(dim=1) + 1
        rows = torch.arange(n, device=deltas.device)
        deltas = deltas.reshape(n, deltas.shape[1] // 4, 4)[rows, cls]
        decoded = self.box_coder.decode_single(deltas, torch.cat(neg_boxes))
        counts = [b.shape[0] for b in neg_boxes]
        return list(zip(logits.split(counts), decoded.split(counts), strict=True))

    def _sample(
        self,
        features: dict[str, Tensor],
        proposals: list[Tensor],
        labels: list[Tensor],
        matched: list[Tensor],
        max_ious: list[Tensor],
        image_shapes: list[tuple[int, int]],
    ) -> list[SampleResult]:
        if self.libra is not None:
            return [
                self.libra(lab, m, iou)
                for lab, m, iou in zip(labels, matched, max_ious, strict=True)
            ]
        if self.score_hlr is not None:
            scored = self._score_negatives(features, proposals, labels, image_shapes)
            return [
                self.score_hlr(lab, lg, bx) for lab, (lg, bx) in zip(labels, scored, strict=True)
            ]
        pos_masks, neg_masks = self.fg_bg_sampler(labels)
        out = []
        for p, n in zip(pos_masks, neg_masks, strict=True):
            inds = torch.where(p | n)[0]  # torchvision's order: sorted candidate indices
            out.append(SampleResult(inds, inds[:0], None))
        return out

    def select_samples(
        self,
        features: dict[str, Tensor],
        proposals: list[Tensor],
        image_shapes: list[tuple[int, int]],
        targets: list[dict[str, Tensor]],
    ) -> TrainSamples:
        """Match proposals (+ GT boxes) to the targets, sample them, encode the targets."""
        self.check_targets(targets)
        dtype = proposals[0].dtype
        gt_boxes = [t["boxes"].to(dtype) for t in targets]
        proposals = self.add_gt_proposals(proposals, gt_boxes)
        assigned = [
            self._assign(p, g, t["labels"])
            for p, g, t in zip(proposals, gt_boxes, targets, strict=True)
        ]
        matched = [a[0] for a in assigned]
        labels = [a[1] for a in assigned]
        samples = self._sample(
            features, proposals, labels, matched, [a[2] for a in assigned], image_shapes
        )
        out_props, out_labels, out_gt, out_ids, out_w = [], [], [], [], []
        any_weights = any(s.neg_weights is not None for s in samples)
        offset = 0
        for i, s in enumerate(samples):
            inds = torch.cat([s.pos_inds, s.neg_inds])
            gts = gt_boxes[i] if gt_boxes[i].numel() else proposals[i].new_zeros((1, 4))
            out_props.append(proposals[i][inds])
            out_labels.append(labels[i][inds])
            out_gt.append(gts[matched[i][inds]])
            out_ids.append(matched[i][inds] + offset)
            offset += gts.shape[0]
            if any_weights:
                w = torch.ones(inds.numel(), dtype=dtype, device=inds.device)
                if s.neg_weights is not None:
                    w[s.pos_inds.numel() :] = s.neg_weights.to(dtype)
                out_w.append(w)
        reg_targets = self.box_coder.encode(out_gt, out_props)
        return TrainSamples(
            out_props,
            torch.cat(out_labels),
            torch.cat(reg_targets),
            torch.cat(out_gt),
            torch.cat(out_ids),
            torch.cat(out_w) if any_weights else None,
        )

    # ------------------------------------------------------------------ forward
    def forward(  # type: ignore[override]
        self,
        features: dict[str, Tensor],
        proposals: list[Tensor],
        image_shapes: list[tuple[int, int]],
        targets: list[dict[str, Tensor]] | None = None,
    ) -> tuple[list[dict[str, Tensor]], dict[str, Tensor]]:
        if self.has_mask() or self.has_keypoint():
            raise NotImplementedError("AlpRoIHeads supports the box branch only")
        if targets is not None:
            for t in targets:
                if t["boxes"].dtype not in (torch.float, torch.double, torch.half):
                    raise TypeError(f"target boxes must be float, got {t['boxes'].dtype}")
                if t["labels"].dtype != torch.int64:
                    raise TypeError(f"target labels must be int64, got {t['labels'].dtype}")
        sampled = None
        if self.training:
            if targets is None:
                raise ValueError("targets are required in training mode")
            sampled = self.select_samples(features, proposals, image_shapes, targets)
            proposals = sampled.proposals
        feats = self.box_head(self.box_roi_pool(features, proposals, image_shapes))
        out = self.box_predictor(feats)
        class_logits, box_regression = out[0], out[1]
        log_vars = out[2] if len(out) > 2 else None
        if sampled is None:
            dets = detections_with_probs(
                self, class_logits, box_regression, proposals, image_shapes, log_vars
            )
            return dets, {}
        batch = RCNNTrainBatch(
            class_logits=class_logits,
            box_regression=box_regression,
            log_vars=log_vars,
            labels=sampled.labels,
            regression_targets=sampled.regression_targets,
            proposals=torch.cat(proposals),
            gt_boxes=sampled.gt_boxes,
            gt_ids=sampled.gt_ids,
            label_weights=sampled.label_weights,
        )
        return [], self.box_loss(batch)
