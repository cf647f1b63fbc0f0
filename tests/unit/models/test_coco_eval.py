"""COCO AP via faster-coco-eval agrees with pycocotools; edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from models.eval.coco import evaluate_coco


def _toy_set(seed: int) -> tuple[list[dict], list[dict]]:
    rng = np.random.default_rng(seed)
    preds, targets = [], []
    for _ in range(8):
        n = int(rng.integers(0, 4))
        xy = rng.uniform(0, 60, (n, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(6, 40, (n, 2))], axis=1)
        labels = rng.integers(0, 3, n)
        targets.append({"boxes": boxes, "labels": labels})
        m = int(rng.integers(0, 5))
        src = rng.integers(0, max(n, 1), m)
        pboxes = (boxes[src] if n else rng.uniform(0, 60, (m, 4))) + rng.normal(0, 3, (m, 4))
        pboxes[:, 2:] = np.maximum(pboxes[:, 2:], pboxes[:, :2] + 1)
        plabels = labels[src] if n else rng.integers(0, 3, m)
        preds.append({"boxes": pboxes, "labels": plabels, "scores": rng.uniform(0, 1, m)})
    return preds, targets


@pytest.mark.parametrize("seed", [0, 1])
def test_faster_coco_eval_agrees_with_pycocotools(seed: int) -> None:
    preds, targets = _toy_set(seed)
    fast = evaluate_coco(preds, targets, 3)
    ref = evaluate_coco(preds, targets, 3, backend="pycocotools")
    assert 0.0 < fast["ap"] < 1.0
    assert fast["ap"] == pytest.approx(ref["ap"], abs=1e-9)
    assert fast["ap50"] == pytest.approx(ref["ap50"], abs=1e-9)
    for a, b in zip(fast["per_class_ap"], ref["per_class_ap"], strict=True):
        assert (a is None and b is None) or a == pytest.approx(b, abs=1e-9)


def test_perfect_detections_score_one_and_absent_class_is_none() -> None:
    boxes = np.array([[0, 0, 40, 40], [50, 50, 90, 80]], float)
    targets = [{"boxes": boxes, "labels": np.array([0, 1])}]
    preds = [{"boxes": boxes, "labels": np.array([0, 1]), "scores": np.array([0.9, 0.8])}]
    result = evaluate_coco(preds, targets, 3)
    assert result["ap"] == pytest.approx(1.0)
    assert result["ap50"] == pytest.approx(1.0)
    assert result["per_class_ap"][2] is None


def test_empty_inputs_give_zero_not_minus_one() -> None:
    targets = [{"boxes": np.array([[0, 0, 10, 10]], float), "labels": np.array([1])}]
    no_dets = [{"boxes": np.zeros((0, 4)), "labels": np.zeros(0), "scores": np.zeros(0)}]
    result = evaluate_coco(no_dets, targets, 2)
    assert result["ap"] == 0.0 and result["per_class_ap"] == [None, 0.0]
    no_gt = [{"boxes": np.zeros((0, 4)), "labels": np.zeros(0)}]
    assert evaluate_coco(no_dets, no_gt, 2)["ap"] == 0.0
    with pytest.raises(ValueError, match="backend"):
        evaluate_coco(*_toy_set(0), 3, backend="nope")
