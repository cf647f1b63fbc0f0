"""Detection losses: IoU family, uncertainty-aware regression, Emphasis, PISA and AP-Loss.

Every function documents tensor shapes and returns exactly 0 (not NaN) on empty input.
"""

from models.losses.aploss import APLossFn, ap_loss, ap_loss_and_grad
from models.losses.emphasis import (
    ClassDifficultyEMA,
    emphasis_weights,
    hardness_betas,
    loss_ratio_betas,
)
from models.losses.iou import eiou_loss, paired_giou, paired_iou, reduce_loss
from models.losses.pisa import carl_loss, carl_weights, isr_p_weights
from models.losses.ranking import rank_within_groups
from models.losses.uncertainty import (
    lambda_schedule,
    synchronic_loss,
    uncertainty_regression_loss,
)

__all__ = [
    "APLossFn",
    "ClassDifficultyEMA",
    "ap_loss",
    "ap_loss_and_grad",
    "carl_loss",
    "carl_weights",
    "eiou_loss",
    "emphasis_weights",
    "hardness_betas",
    "isr_p_weights",
    "lambda_schedule",
    "loss_ratio_betas",
    "paired_giou",
    "paired_iou",
    "rank_within_groups",
    "reduce_loss",
    "synchronic_loss",
    "uncertainty_regression_loss",
]
