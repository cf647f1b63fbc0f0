"""ONNX export of the ``fast`` profile's detector: onnxruntime's boxes match eager
PyTorch's on images of several sizes (tolerance: 0.01 px on boxes, 1e-4 on scores)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models.builders import build_detector
from models.profiles import merged_overrides

ort = pytest.importorskip("onnxruntime")


def _randomise(model: torch.nn.Module) -> None:
    """Distinct scores per box (a fresh detector scores every box alike, so the order of
    tied detections would be arbitrary): random weights and batch-norm statistics."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, value in model.state_dict().items():
            if value.is_floating_point():
                noise = torch.randn(value.shape, generator=gen) * 0.1
                value.copy_(noise.abs() + 0.5 if name.endswith("running_var") else noise)


@pytest.mark.parametrize("preset", ["vanilla", "huale"])
def test_onnx_boxes_match_eager(tmp_path: Path, preset: str) -> None:
    from models.config import TrainConfig
    from models.export import export_onnx

    ov = merged_overrides("fast", preset, {"detector": {"min_size": 160, "max_size": 224}})
    model = build_detector(TrainConfig.preset(preset, **ov), 3, seed=0, load=False).eval()
    _randomise(model)
    path = export_onnx(model, tmp_path / "m.onnx", sample_hw=(120, 160))
    session = ort.InferenceSession(str(path))
    assert [o.name for o in session.get_outputs()][:3] == ["boxes", "labels", "scores"]
    gen = torch.Generator().manual_seed(1)
    for hw in ((120, 160), (200, 150), (96, 96)):
        image = torch.rand(3, *hw, generator=gen)
        boxes, labels, scores = session.run(None, {"image": image.numpy()})[:3]
        with torch.no_grad():
            eager = model([image])[0]
        assert len(boxes) == len(eager["boxes"]) > 0, hw
        assert torch.allclose(torch.from_numpy(boxes), eager["boxes"], atol=1e-2)
        assert torch.equal(torch.from_numpy(labels), eager["labels"])
        assert torch.allclose(torch.from_numpy(scores), eager["scores"], atol=1e-4)
