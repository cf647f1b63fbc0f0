"""ONNX export of a trained detector through torchvision's supported path (the TorchScript
-based ``torch.onnx.export``, ``dynamo=False``, opset 17), which traces torchvision's
detection models including their transform and post-processing.

The graph takes ONE image ``image`` (3, H, W) float in [0, 1] (H, W dynamic) and returns
``boxes`` (N, 4, xyxy pixels of the input), ``labels`` (N, torchvision labels: alp label
+ ``label_offset``) and ``scores`` (N), plus the alp heads' extra outputs (class
probabilities, σ log-variances) when present. Needs the ``onnx`` package.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

OPSET = 17


def export_onnx(model: nn.Module, path: str | Path, sample_hw: tuple[int, int] = (480, 640)
                ) -> Path:  # fmt: skip
    """Write ``model`` (moved to CPU, eval mode) as ONNX to ``path``; returns the path.
    ``sample_hw`` is the traced image size (any size works afterwards)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.cpu().eval()
    sample = torch.rand(3, *sample_hw, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about python control flow
        outputs = model([sample])[0]
        names = ["boxes", "labels", "scores"] + [k for k in outputs if k not in
                                                 ("boxes", "labels", "scores")]  # fmt: skip
        torch.onnx.export(
            model, ([sample],), str(path), dynamo=False, opset_version=OPSET,
            input_names=["image"], output_names=names,
            dynamic_axes={"image": [1, 2], **{n: [0] for n in names}},
        )  # fmt: skip
    return path
