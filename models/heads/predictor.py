"""Box predictor with a log-variance (σ) branch for uncertainty-aware regression (§1.6)."""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["UncertaintyBoxPredictor", "select_log_vars"]


class UncertaintyBoxPredictor(nn.Module):
    """``FastRCNNPredictor`` plus a branch predicting ``s = log σ²`` per box coordinate.

    Args:
        in_channels: size of the RoI feature vector.
        num_classes: number of classes including the background (C + 1).
        class_agnostic_sigma: one set of 4 log-variances per RoI instead of one per class.

    ``forward(x)`` with ``x`` (R, in_channels) (or (R, in_channels, 1, 1)) returns
    ``(class_logits (R, C+1), box_deltas (R, 4·(C+1)), log_vars (R, 4·(C+1)) or (R, 4))``.
    The σ branch starts at σ ≈ 1 (weights ~ N(0, 1e-4²), bias 0). ``cls_score`` and
    ``bbox_pred`` keep torchvision's names, so their checkpoint keys are unchanged.
    """

    def __init__(self, in_channels: int, num_classes: int, class_agnostic_sigma: bool = False):
        super().__init__()
        self.cls_score = nn.Linear(in_channels, num_classes)
        self.bbox_pred = nn.Linear(in_channels, num_classes * 4)
        self.bbox_log_var = nn.Linear(in_channels, 4 if class_agnostic_sigma else num_classes * 4)
        nn.init.normal_(self.bbox_log_var.weight, std=1e-4)
        nn.init.zeros_(self.bbox_log_var.bias)
        self.class_agnostic_sigma = class_agnostic_sigma

    @classmethod
    def from_predictor(
        cls, predictor: nn.Module, class_agnostic_sigma: bool = False
    ) -> UncertaintyBoxPredictor:
        """Wrap an existing predictor's ``cls_score``/``bbox_pred`` layers (shared, not
        copied) and add a freshly initialised σ branch."""
        cls_score = getattr(predictor, "cls_score", None)
        bbox_pred = getattr(predictor, "bbox_pred", None)
        if not isinstance(cls_score, nn.Linear) or not isinstance(bbox_pred, nn.Linear):
            raise TypeError(
                "the box predictor needs Linear 'cls_score' and 'bbox_pred' layers "
                f"to add a σ head; got {type(predictor).__name__}"
            )
        new = cls(cls_score.in_features, cls_score.out_features, class_agnostic_sigma)
        new.cls_score = cls_score
        new.bbox_pred = bbox_pred
        return new

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        if x.dim() == 4:
            if list(x.shape[2:]) != [1, 1]:
                raise ValueError(f"expected (R, C, 1, 1) features, got {tuple(x.shape)}")
            x = x.flatten(start_dim=1)
        return self.cls_score(x), self.bbox_pred(x), self.bbox_log_var(x)


def select_log_vars(log_vars: Tensor, rows: Tensor, labels: Tensor) -> Tensor:
    """Log-variances (n, 4) of RoIs ``rows`` (n,) for classes ``labels`` (n,).

    ``log_vars`` is (R, 4) (class-agnostic σ) or (R, 4·(C+1)) (class-specific σ).
    """
    if log_vars.shape[1] == 4:
        return log_vars[rows]
    # Explicit class count: reshape(-1) cannot infer it when there are zero RoIs.
    return log_vars.reshape(log_vars.shape[0], log_vars.shape[1] // 4, 4)[rows, labels]
