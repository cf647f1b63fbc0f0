"""Forward hooks of an inference pass: the transformed batch sizes and the backbone's
feature maps, from which :mod:`models.inference` takes per-image embeddings and the
features of detected boxes (``models.box_features``)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from models.augment import ORIGINAL
from models.box_features import feature_levels, pool_box_features, to_transformed


class FeatureCapture:
    """Forward hooks recording the transformed batch sizes and the backbone features."""

    def __init__(self, model: nn.Module) -> None:
        self.image_sizes: list[tuple[int, int]] = []
        self.padded: tuple[int, int] = (0, 0)
        self.features: dict[str, torch.Tensor] = {}
        self.handles = [
            model.transform.register_forward_hook(self._on_transform),
            model.backbone.register_forward_hook(self._on_backbone),
        ]

    def _on_transform(self, _m: nn.Module, _i: Any, output: Any) -> None:
        image_list = output[0]
        self.image_sizes = [tuple(s) for s in image_list.image_sizes]
        self.padded = tuple(image_list.tensors.shape[-2:])

    def _on_backbone(self, _m: nn.Module, _i: Any, output: Any) -> None:
        self.features = dict(output) if isinstance(output, dict) else {"0": output}

    def embedding(self, index: int) -> torch.Tensor:
        """Mean over pyramid levels of the feature map average-pooled over the valid
        (unpadded) region of batch item ``index``: shape (channels,)."""
        h, w = self.image_sizes[index]
        pooled = []
        for feat in self.features.values():
            fh = max(1, round(feat.shape[-2] * h / self.padded[0]))
            fw = max(1, round(feat.shape[-1] * w / self.padded[1]))
            pooled.append(feat[index, :, :fh, :fw].float().mean(dim=(1, 2)))
        return torch.stack(pooled).mean(0).cpu()

    def box_features(
        self,
        model: nn.Module,
        boxes: list[torch.Tensor | None],
        originals: list[tuple[int, int]],
        mode: str,
    ) -> list[torch.Tensor | None]:
        """Features of ``boxes[k]`` (original-image pixels of batch item ``k``, whose
        image is ``originals[k]`` = (height, width)) from the captured maps; None in, None
        out (items whose features are not wanted)."""
        wanted = [k for k, b in enumerate(boxes) if b is not None]
        out: list[torch.Tensor | None] = [None] * len(boxes)
        if not wanted:
            return out
        scaled = [to_transformed(boxes[k], originals[k], self.image_sizes[k]) for k in wanted]
        levels = feature_levels(model, list(self.features))
        maps = {n: self.features[n][wanted] for n in levels}
        sizes = [self.image_sizes[k] for k in wanted]
        for k, feats in zip(
            wanted, pool_box_features(maps, scaled, sizes, levels, mode), strict=True
        ):
            out[k] = feats
        return out

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def add_box_features(
    model: nn.Module,
    capture: FeatureCapture,
    chunk: list[torch.Tensor],
    results: list[dict[str, Any]],
    per_image: int,
    orig_at: int,
    mode: str,
) -> None:
    """``extra["box_features"]`` of each result's original view, batch item
    ``i * per_image + orig_at`` of the forward just captured."""
    boxes: list[torch.Tensor | None] = [None] * (len(chunk) * per_image)
    sizes = [(0, 0)] * len(boxes)
    for i, (im, r) in enumerate(zip(chunk, results, strict=True)):
        boxes[i * per_image + orig_at] = r["views"][ORIGINAL]["boxes"]
        sizes[i * per_image + orig_at] = (int(im.shape[-2]), int(im.shape[-1]))
    feats = capture.box_features(model, boxes, sizes, mode)
    for i, r in enumerate(results):
        f = feats[i * per_image + orig_at]
        r["extra"]["box_features"] = None if f is None else f.float()
