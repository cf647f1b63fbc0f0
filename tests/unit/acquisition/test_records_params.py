import json
import math
from typing import Literal

import pytest
import torch

from acquisition.params import Int, StrategyParams, param, validate_params
from acquisition.records import ImageRecord, ScoringContext, pack_tensor, unpack_tensor


def test_record_json_round_trip() -> None:
    rec = ImageRecord(
        "img-1", 0.25, {"a": 1.0}, {"h": [0.1, 0.2], "f": pack_tensor(torch.ones(2, 3))}
    )
    back = ImageRecord.from_dict(json.loads(json.dumps(rec.to_dict())))
    assert back == rec
    assert torch.equal(unpack_tensor(back.data["f"]), torch.ones(2, 3))


def test_pack_tensor_is_exact_and_handles_empty() -> None:
    t = torch.randn(4, 5, generator=torch.Generator().manual_seed(1))
    assert torch.equal(unpack_tensor(pack_tensor(t)), t)
    assert unpack_tensor(pack_tensor(torch.zeros(0, 7))).shape == (0, 7)


def test_record_rejects_non_finite_and_missing_fields() -> None:
    with pytest.raises(ValueError, match="finite"):
        ImageRecord(1, math.nan)
    with pytest.raises(ValueError, match="finite"):
        ImageRecord(1, 0.0, {"x": math.inf})
    with pytest.raises(ValueError, match="score"):
        ImageRecord.from_dict({"image_id": 1})


def test_context_validates_lengths() -> None:
    with pytest.raises(ValueError, match="num_classes"):
        ScoringContext(num_classes=0)
    with pytest.raises(ValueError, match="class_quality"):
        ScoringContext(num_classes=2, class_quality=[0.5])


class _Spec(StrategyParams):
    k: Int = param(3, "k", ge=1)
    x: float = param(0.5, "x", ge=0, lt=1)
    mode: Literal["a", "b"] = param("a", "mode")
    opt: float | None = param(None, "opt")


def test_validate_params_errors() -> None:
    spec = _Spec
    assert validate_params("s", spec, {"x": 0}) == {"k": 3, "x": 0.0, "mode": "a", "opt": None}
    assert validate_params("s", spec, {"k": 2.0})["k"] == 2
    for bad, msg in [
        ({"zzz": 1}, "no parameter 'zzz'"),
        ({"k": 0}, ">= 1"),
        ({"k": True}, "expects int"),
        ({"x": 1.0}, "< 1"),
        ({"x": "0.3"}, "expects float"),
        ({"x": math.nan}, "finite"),
        ({"mode": "c"}, "allowed: a, b"),
        ({"k": None}, "null"),
    ]:
        with pytest.raises(ValueError, match=msg):
            validate_params("s", spec, bad)
