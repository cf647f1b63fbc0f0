"""Synthetic predictions for tests, benchmarks and dry runs (seeded, no model needed)."""

from __future__ import annotations

from collections.abc import Hashable, Iterable

import torch

from acquisition.types import FLIP, ORIGINAL, ImagePrediction, ViewPrediction


def _view(
    boxes: torch.Tensor,
    logits: torch.Tensor,
    has_background: bool,
    with_log_vars: bool,
    gen: torch.Generator,
) -> ViewPrediction:
    n = boxes.shape[0]
    if has_background:
        probs = torch.softmax(logits, dim=-1)
        fg = probs[:, 1:]
    else:
        probs = torch.sigmoid(logits)
        fg = probs
    if n:
        scores, labels = fg.max(dim=-1)
    else:
        scores, labels = torch.zeros(0), torch.zeros(0, dtype=torch.long)
    log_vars = torch.randn(n, 4, generator=gen) - 1.0 if with_log_vars else None
    return ViewPrediction(boxes, labels.long(), scores.float(), probs.float(), log_vars)


def random_prediction(
    image_id: Hashable,
    num_classes: int,
    gen: torch.Generator,
    *,
    width: int = 64,
    height: int = 48,
    max_boxes: int = 8,
    views: Iterable[str] = (ORIGINAL, FLIP),
    has_background: bool = True,
    log_vars: bool = False,
    embedding_dim: int | None = None,
    box_feature_dim: int | None = None,
    empty_prob: float = 0.1,
    jitter: float = 2.0,
) -> ImagePrediction:
    """A plausible random prediction: the original view's boxes and logits, and for every
    other view the same objects with jittered boxes (already in original coordinates), noisy
    logits and a random dropped detection. Empty with probability ``empty_prob``."""
    k = num_classes + (1 if has_background else 0)
    empty = float(torch.rand((), generator=gen)) < empty_prob
    n = 0 if empty else int(torch.randint(1, max_boxes + 1, (), generator=gen))
    xy = torch.rand(n, 2, generator=gen) * torch.tensor([width * 0.8, height * 0.8])
    wh = 2.0 + torch.rand(n, 2, generator=gen) * torch.tensor([width * 0.5, height * 0.5])
    boxes = torch.cat([xy, torch.minimum(xy + wh, torch.tensor([width, height]))], dim=1)
    logits = torch.randn(n, k, generator=gen) * 2.0
    out: dict[str, ViewPrediction] = {}
    for name in views:
        if name == ORIGINAL:
            out[name] = _view(boxes, logits, has_background, log_vars, gen)
            continue
        b = boxes + torch.randn(n, 4, generator=gen) * jitter
        b = torch.stack(
            [b[:, 0].clamp(0, width - 1), b[:, 1].clamp(0, height - 1), b[:, 2], b[:, 3]], 1
        )
        b[:, 2:] = torch.maximum(b[:, 2:], b[:, :2] + 1.0)
        lg = logits + torch.randn(n, k, generator=gen)
        keep = torch.rand(n, generator=gen) > 0.15
        out[name] = _view(b[keep], lg[keep], has_background, log_vars, gen)
    emb = torch.randn(embedding_dim, generator=gen) if embedding_dim else None
    extra: dict[str, torch.Tensor] = {}
    if box_feature_dim and ORIGINAL in out:
        extra["box_features"] = torch.randn(len(out[ORIGINAL]), box_feature_dim, generator=gen)
    return ImagePrediction(
        image_id=image_id,
        width=width,
        height=height,
        views=out,
        has_background=has_background,
        embedding=emb,
        extra=extra,
    )


def random_predictions(
    n: int, num_classes: int, seed: int = 0, **kwargs: object
) -> list[ImagePrediction]:
    """``n`` predictions with ids ``0..n-1`` from one seeded generator."""
    gen = torch.Generator().manual_seed(seed)
    return [random_prediction(i, num_classes, gen, **kwargs) for i in range(n)]  # type: ignore[arg-type]
