"""VOC mAP evaluator: hand-worked 11-point and all-point examples and matching rules."""

from __future__ import annotations

import numpy as np
import pytest

from models.eval.voc import evaluate_voc, voc_ap, voc_class_tp_fp


def _det(boxes: list, scores: list, labels: list | None = None) -> dict:
    labels = labels if labels is not None else [0] * len(boxes)
    return {
        "boxes": np.array(boxes, float).reshape(-1, 4),
        "scores": np.array(scores, float),
        "labels": np.array(labels),
    }


def _gt(boxes: list, labels: list | None = None, difficult: list | None = None) -> dict:
    labels = labels if labels is not None else [0] * len(boxes)
    out = {"boxes": np.array(boxes, float).reshape(-1, 4), "labels": np.array(labels)}
    if difficult is not None:
        out["difficult"] = np.array(difficult, bool)
    return out


def test_hand_worked_example() -> None:
    # 3 ground truths over 2 images; 5 detections sorted by score give TP, FP, TP, FP(dup), FP.
    # Cumulative: tp 1 1 2 2 2, fp 0 1 1 2 3 -> recall 1/3 1/3 2/3 2/3 2/3,
    # precision 1, 1/2, 2/3, 1/2, 2/5.
    # All-point: envelope at recall 1/3 is 1, at 2/3 is 2/3 -> AP = 1/3*1 + 1/3*2/3 = 5/9.
    # 11-point: t = 0..0.3 -> 1 (4 points); t = 0.4..0.6 -> 2/3 (3 points); t >= 0.7 -> 0.
    #           AP = (4 + 3 * 2/3) / 11 = 6/11.
    gts = [_gt([[0, 0, 10, 10], [20, 20, 30, 30]]), _gt([[0, 0, 10, 10]])]
    dets = [
        _det([[0, 0, 10, 10], [50, 50, 60, 60], [0, 0, 10, 9]], [0.9, 0.8, 0.5]),
        _det([[0, 0, 10, 10], [40, 40, 45, 45]], [0.7, 0.3]),
    ]
    scores, tp, fp, npos = voc_class_tp_fp(dets, gts, 0)
    assert npos == 3
    np.testing.assert_allclose(scores, [0.9, 0.8, 0.7, 0.5, 0.3])
    np.testing.assert_array_equal(tp, [1, 0, 1, 0, 0])
    np.testing.assert_array_equal(fp, [0, 1, 0, 1, 1])
    result = evaluate_voc(dets, gts, num_classes=1)
    assert result["map"] == pytest.approx(5 / 9)
    assert result["map_11pt"] == pytest.approx(6 / 11)
    assert result["per_class"][0]["num_gt"] == 3


def test_voc_ap_formulas_directly() -> None:
    rec = np.array([0.5, 0.5, 1.0])
    prec = np.array([1.0, 0.5, 2 / 3])
    assert voc_ap(rec, prec) == pytest.approx(0.5 * 1.0 + 0.5 * 2 / 3)
    assert voc_ap(rec, prec, use_07_metric=True) == pytest.approx((6 * 1.0 + 5 * 2 / 3) / 11)
    assert voc_ap(np.zeros(0), np.zeros(0)) == 0.0


def test_iou_threshold_is_strict_and_plus_one_changes_it() -> None:
    # GT 0..10 x 0..10, detection 0..10 x 0..5 -> IoU exactly 0.5 (continuous) -> FP
    gts = [_gt([[0, 0, 10, 10]])]
    dets = [_det([[0, 0, 10, 5]], [0.9])]
    assert evaluate_voc(dets, gts, 1)["map"] == 0.0
    # +1 convention: (11*6) / (11*11) = 0.545 > 0.5 -> TP
    assert evaluate_voc(dets, gts, 1, plus_one=True)["map"] == pytest.approx(1.0)


def test_difficult_ground_truth_counts_neither_way() -> None:
    gts = [_gt([[0, 0, 10, 10], [20, 20, 30, 30]], difficult=[False, True])]
    dets = [_det([[20, 20, 30, 30], [0, 0, 10, 10]], [0.9, 0.8])]
    _, tp, fp, npos = voc_class_tp_fp(dets, gts, 0)
    assert npos == 1
    np.testing.assert_array_equal(tp, [0, 1])
    np.testing.assert_array_equal(fp, [0, 0])
    assert evaluate_voc(dets, gts, 1)["map"] == pytest.approx(1.0)


def test_classes_are_separate_and_empty_classes_are_excluded() -> None:
    gts = [_gt([[0, 0, 10, 10], [20, 20, 30, 30]], labels=[0, 1])]
    dets = [_det([[0, 0, 10, 10], [20, 20, 30, 30]], [0.9, 0.8], labels=[1, 1])]
    result = evaluate_voc(dets, gts, num_classes=3)
    assert result["per_class"][0]["ap"] == 0.0  # only a wrong-class detection on it
    # class 1 in score order: FP (the box on the class-0 object), then TP -> AP = 1 * 1/2
    assert result["per_class"][1]["ap"] == pytest.approx(0.5)
    assert result["per_class"][2]["ap"] is None
    assert result["map"] == pytest.approx(0.25)


def test_no_detections_and_no_ground_truth() -> None:
    empty = _det([], [])
    assert evaluate_voc([empty], [_gt([[0, 0, 5, 5]])], 1)["map"] == 0.0
    result = evaluate_voc([_det([[0, 0, 5, 5]], [0.5])], [_gt([])], 1)
    assert result["per_class"][0]["ap"] is None and result["map"] == 0.0
    with pytest.raises(ValueError, match="predictions"):
        evaluate_voc([empty, empty], [_gt([])], 1)
