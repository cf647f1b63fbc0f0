"""Serialisable configuration of alp's detection heads (samplers, losses, σ head).

``HeadConfig`` is a flat dataclass (``to_dict()``/``from_dict()`` give JSON-compatible data);
every part combines freely with the others, subject to :meth:`HeadConfig.validate`.
R-CNN fields are ignored by RetinaNet models and ``retina_*`` fields by Faster R-CNN models.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from models.config_fields import dataclass_from_dict

__all__ = ["PRESET_NAMES", "HeadConfig", "Reweight", "head_preset"]

SAMPLERS = ("default", "libra", "libra_faithful", "score_hlr")
CLS_LOSSES = ("ce",)
REG_LOSSES = ("smooth_l1", "eiou", "uncertainty", "synchronic")
EMPHASIS = (None, "a", "b", "c")
EMPHASIS_NEGATIVES = ("mean", "zero")
RETINA_CLS_LOSSES = ("focal", "aploss")
AP_METHODS = ("sorted", "chunked")
PRESET_NAMES = ("vanilla", "huale", "libra", "pisa", "aploss")


@dataclass(frozen=True)
class Reweight:
    """Non-linear mapping ``(bias + (1 − bias)·x)^k`` used by ISR-P, ISR-N and CARL."""

    k: float
    bias: float

    def __post_init__(self) -> None:
        if self.k < 0 or not 0.0 <= self.bias <= 1.0:
            raise ValueError(f"need k >= 0 and 0 <= bias <= 1, got k={self.k}, bias={self.bias}")


def _reweight(value: Any, name: str) -> Reweight | None:
    if value is None or isinstance(value, Reweight):
        return value
    if isinstance(value, dict) and set(value) == {"k", "bias"}:
        return Reweight(float(value["k"]), float(value["bias"]))
    raise ValueError(f"{name} must be null or a mapping with keys 'k' and 'bias', got {value!r}")


@dataclass
class HeadConfig:
    """Which sampler, losses and extra outputs the detection heads use.

    R-CNN sampler: ``sampler`` ∈ {default (torchvision), libra (mmdet-compatible max-IoU
    bins), libra_faithful (bins over the negative IoU range), score_hlr (PISA ISR-N)};
    ``sampler_num``/``sampler_pos_fraction`` of ``None`` keep the model's own values
    (torchvision: 512 and 0.25). ``libra_*``: bins, floor threshold/fraction;
    ``score_hlr_*``: ISR-N k/bias, validity score threshold, NMS-match IoU and
    ``score_hlr_candidate_factor``: score only the ``factor × negative quota`` negatives of
    each image with the highest RPN objectness, the rest counting as easy (``None`` = score
    all negatives, as mmdetection does; the ``pisa`` preset uses 2 to bound the extra head
    pass).

    R-CNN losses: ``cls_loss`` "ce"; ``reg_loss`` ∈ {smooth_l1 (β = ``smooth_l1_beta``),
    eiou, uncertainty, synchronic}; ``eiou_gamma``; ``eiou_weight`` multiplies the EIoU term
    (in ``eiou`` and ``synchronic``; mmdetection weights its R-CNN GIoU loss by 10 to match
    Smooth-L1 on torchvision-scaled deltas); ``sync_lambda`` with an optional linear ramp
    from 1 over ``sync_lambda_ramp_iters`` training iterations; ``uncertainty_head`` adds
    a log-variance output per coordinate (class-agnostic with ``uncertainty_class_agnostic``);
    ``emphasis`` ∈ {None, "a", "b", "c"} (ALGORITHMS §1.5); ``isr_p``/``carl`` PISA options.

    RetinaNet: ``retina_cls_loss`` ∈ {focal, aploss}, ``ap_delta``, ``ap_method``;
    ``retina_isr_p``/``retina_carl``; PPAL class-quality EMA ``class_quality_xi`` and
    ``class_quality_momentum`` (always tracked; buffer ``model.head.class_quality``).
    """

    sampler: str = "default"
    sampler_num: int | None = None
    sampler_pos_fraction: float | None = None
    libra_num_bins: int = 3
    libra_floor_thr: float = -1.0
    libra_floor_fraction: float = 0.0
    score_hlr_k: float = 0.5
    score_hlr_bias: float = 0.0
    score_hlr_score_thr: float = 0.05
    score_hlr_iou_thr: float = 0.5
    score_hlr_candidate_factor: float | None = None
    cls_loss: str = "ce"
    reg_loss: str = "smooth_l1"
    smooth_l1_beta: float = 1.0 / 9.0
    eiou_gamma: float = 0.5
    eiou_weight: float = 1.0
    sync_lambda: float = 0.5
    sync_lambda_ramp_iters: int = 0
    uncertainty_head: bool = False
    uncertainty_class_agnostic: bool = False
    log_var_clamp: float = 10.0
    emphasis: str | None = None
    emphasis_momentum: float = 0.99
    emphasis_negatives: str = "mean"
    emphasis_renormalise: bool = True
    isr_p: Reweight | None = None
    carl: Reweight | None = None
    carl_beta: float = 1.0
    retina_cls_loss: str = "focal"
    ap_delta: float = 1.0
    ap_method: str = "sorted"
    retina_isr_p: Reweight | None = None
    retina_carl: Reweight | None = None
    class_quality_xi: float = 0.6
    class_quality_momentum: float = 0.99

    def __post_init__(self) -> None:
        for name in ("isr_p", "carl", "retina_isr_p", "retina_carl"):
            setattr(self, name, _reweight(getattr(self, name), name))
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` with a reason for any invalid value or combination."""
        choices = {
            "sampler": SAMPLERS,
            "cls_loss": CLS_LOSSES,
            "reg_loss": REG_LOSSES,
            "emphasis": EMPHASIS,
            "emphasis_negatives": EMPHASIS_NEGATIVES,
            "retina_cls_loss": RETINA_CLS_LOSSES,
            "ap_method": AP_METHODS,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.sampler_num is not None and self.sampler_num < 1:
            raise ValueError(f"sampler_num must be >= 1 or null, got {self.sampler_num}")
        frac = self.sampler_pos_fraction
        if frac is not None and not 0.0 <= frac <= 1.0:
            raise ValueError(f"sampler_pos_fraction must be in [0, 1] or null, got {frac}")
        if self.libra_num_bins < 1 or not 0.0 <= self.libra_floor_fraction <= 1.0:
            raise ValueError("libra_num_bins must be >= 1 and libra_floor_fraction in [0, 1]")
        factor = self.score_hlr_candidate_factor
        if factor is not None and factor < 1:
            raise ValueError(f"score_hlr_candidate_factor must be >= 1 or null, got {factor}")
        if not 0.0 <= self.eiou_gamma <= 1.0:
            raise ValueError(f"eiou_gamma must be in [0, 1], got {self.eiou_gamma}")
        if not 0.0 <= self.eiou_weight <= 100.0:
            raise ValueError(f"eiou_weight must be in [0, 100], got {self.eiou_weight}")
        if not 0.0 <= self.sync_lambda <= 1.0:
            raise ValueError(f"sync_lambda must be in [0, 1], got {self.sync_lambda}")
        if not 0.0 <= self.emphasis_momentum < 1.0 or not 0.0 <= self.class_quality_momentum < 1:
            raise ValueError("emphasis_momentum and class_quality_momentum must be in [0, 1)")
        if not 0.0 <= self.class_quality_xi <= 1.0:
            raise ValueError(f"class_quality_xi must be in [0, 1], got {self.class_quality_xi}")
        if self.ap_delta <= 0 or self.smooth_l1_beta < 0 or self.carl_beta < 0:
            raise ValueError("ap_delta must be > 0; smooth_l1_beta and carl_beta >= 0")
        needs_sigma = self.reg_loss in ("uncertainty", "synchronic")
        if needs_sigma != self.uncertainty_head:
            raise ValueError(
                "reg_loss 'uncertainty'/'synchronic' requires uncertainty_head=True, and the "
                f"σ head is only trained by those losses (got reg_loss={self.reg_loss!r}, "
                f"uncertainty_head={self.uncertainty_head})"
            )
        if self.retina_cls_loss == "aploss" and self.retina_isr_p is not None:
            raise ValueError(
                "retina_isr_p re-weights the focal loss; it cannot be combined "
                "with retina_cls_loss='aploss'"
            )

    def rcnn_is_stock(self) -> bool:
        """True when the R-CNN head computes exactly torchvision's ``fastrcnn_loss``."""
        return (
            self.sampler == "default"
            and self.reg_loss == "smooth_l1"
            and abs(self.smooth_l1_beta - 1.0 / 9.0) < 1e-12
            and self.emphasis is None
            and self.isr_p is None
            and self.carl is None
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict (``Reweight`` → ``{"k", "bias"}``)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name in ("isr_p", "carl", "retina_isr_p", "retina_carl"):
            if data[name] is not None:
                data[name] = dataclasses.asdict(data[name])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HeadConfig:
        """Inverse of :meth:`to_dict`; unknown keys and values of the wrong type raise
        ``ValueError`` (:func:`models.config_fields.dataclass_from_dict`)."""
        return dataclass_from_dict(cls, data, "HeadConfig")


def head_preset(name: str) -> HeadConfig:
    """Named head presets.

    * ``vanilla``: torchvision's stock behaviour (CE + Smooth-L1 / focal loss);
    * ``huale``: Emphasis (a; β = 0 for negatives) + synchronic loss (EIoU weight 10) + σ
      head. Both choices were made on a validation split (README, "Label efficiency"): the
      β of negatives up-weights every background RoI and an unweighted IoU term starves
      the regression; ``emphasis_negatives="mean"``, ``eiou_weight=1`` restore the old recipe;
    * ``libra``: Libra IoU-balanced sampler (mmdet-compatible);
    * ``pisa``: Score-HLR sampler (ISR-N; top-objectness candidates, factor 2) + ISR-P + CARL
      (also ISR-P + CARL for RetinaNet);
    * ``aploss``: RetinaNet AP-Loss.
    """
    if name == "vanilla":
        return HeadConfig()
    if name == "huale":
        return HeadConfig(
            emphasis="a",
            emphasis_negatives="zero",
            reg_loss="synchronic",
            uncertainty_head=True,
            eiou_weight=10.0,
        )
    if name == "libra":
        return HeadConfig(sampler="libra")
    if name == "pisa":
        return HeadConfig(
            sampler="score_hlr",
            score_hlr_candidate_factor=2.0,
            isr_p=Reweight(2.0, 0.0),
            carl=Reweight(1.0, 0.2),
            retina_isr_p=Reweight(2.0, 0.0),
            retina_carl=Reweight(1.0, 0.2),
        )
    if name == "aploss":
        return HeadConfig(retina_cls_loss="aploss")
    raise ValueError(f"unknown head preset {name!r}; expected one of {PRESET_NAMES}")
