"""Unit tests of the pure mapping module on recorded Label Studio 1.23 payloads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alp.labelstudio import mapping

DATA = Path(__file__).parent / "data"
CLASSES = ["cat", "dog"]
W, H = 64, 48


def load(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def test_recorded_annotation_to_pixel_boxes() -> None:
    task = load("task_annotated.json")
    out = mapping.task_outcome(task, W, H, CLASSES)
    assert out.image_id == 100 and not out.skipped and out.skipped_ids == []
    (ann,) = out.annotations
    assert ann.external_id == str(task["annotations"][0]["id"])
    rounded = [[round(b[k], 6) for k in ("x1", "y1", "x2", "y2")] + [b["label"]] for b in ann.boxes]
    assert rounded == [
        [6.4, 9.6, 38.4, 21.6, "dog"],
        [0.0, 0.0, 64.0, 48.0, "cat"],
        [27.2, 24.0, 32.0, 36.8, "cat"],  # rotated 90° clockwise: its axis-aligned envelope
    ]
    assert len(ann.issues) == 1 and "unknown label 'cow'" in ann.issues[0]


def test_recorded_cancelled_task_is_a_skip() -> None:
    task = load("task_skipped.json")
    out = mapping.task_outcome(task, W, H, CLASSES)
    assert out.skipped and out.annotations == []
    assert out.skipped_ids == [str(task["annotations"][0]["id"])]


def test_task_without_annotations_is_neither() -> None:
    out = mapping.task_outcome({"id": 1, "data": {"alp_image_id": "7"}, "annotations": []},
                               W, H, CLASSES)  # fmt: skip
    assert out.image_id == 7 and not out.skipped and out.annotations == []


def test_prediction_matches_recorded_push() -> None:
    recorded = load("task_annotated.json")["predictions"][0]
    pred = mapping.prediction([{"x1": 1, "y1": 2, "x2": 30, "y2": 40, "label": "cat",
                                "score": 0.9}], W, H, "alp-cycle-0")  # fmt: skip
    assert pred["model_version"] == recorded["model_version"]
    assert pred["result"][0]["value"] == recorded["result"][0]["value"]
    assert pred["result"][0]["score"] == 0.9
    assert pred["result"][0]["original_width"] == W and pred["result"][0]["image_rotation"] == 0
    assert mapping.prediction([], W, H, "v") == {"model_version": "v", "result": []}


@given(
    x1=st.floats(0, 60), y1=st.floats(0, 44), w=st.floats(0.5, 60), h=st.floats(0.5, 44),
    label=st.sampled_from(CLASSES),
)  # fmt: skip
def test_pixel_percent_round_trip(x1: float, y1: float, w: float, h: float, label: str) -> None:
    box = {"x1": x1, "y1": y1, "x2": min(x1 + w, W), "y2": min(y1 + h, H), "label": label}
    (region,) = mapping.boxes_to_result([box], W, H)
    assert region["value"]["rotation"] == 0
    back, issue = mapping.region_to_box(region, W, H, CLASSES)
    assert issue is None and back is not None and back["label"] == label
    for k in ("x1", "y1", "x2", "y2"):
        assert back[k] == pytest.approx(box[k], abs=1e-9)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"x": 1, "y": 1, "width": 5, "height": 5, "rectanglelabels": ["cow"]}, "unknown label"),
        ({"x": 1, "y": 1, "width": 5, "height": 5, "rectanglelabels": []}, "exactly one label"),
        ({"x": "a", "y": 1, "width": 5, "height": 5, "rectanglelabels": ["cat"]}, "coordinates"),
        ({"x": 1, "y": 1, "width": 0, "height": 5, "rectanglelabels": ["cat"]}, "empty box"),
        ({"x": 120, "y": 1, "width": 5, "height": 5, "rectanglelabels": ["cat"]}, "empty box"),
        ({"x": 1, "y": float("nan"), "width": 5, "height": 5, "rectanglelabels": ["cat"]},
         "coordinates"),
    ],
)  # fmt: skip
def test_bad_regions_are_reported_not_raised(value: dict, fragment: str) -> None:
    result = [{"id": "r", "type": "rectanglelabels", "value": value}, "garbage",
              {"type": "textarea", "value": {"text": ["note"]}}]  # fmt: skip
    boxes, issues = mapping.result_to_boxes(result, W, H, CLASSES)  # type: ignore[arg-type]
    assert boxes == []
    assert len(issues) == 2 and fragment in issues[0] and "malformed" in issues[1]


def test_label_config_and_compatibility() -> None:
    cfg = mapping.label_config(['a "quoted" & <odd> class', "dog"])
    assert mapping.config_problems(cfg, ['a "quoted" & <odd> class', "dog"]) == []
    assert "lacks the pool classes ['cow']" in mapping.config_problems(cfg, ["dog", "cow"])[0]
    other = '<View><Image name="img" value="$url"/><RectangleLabels name="x" toName="img"/></View>'
    assert len(mapping.config_problems(other, ["dog"])) == 2
    assert "not valid XML" in mapping.config_problems("<View>", ["dog"])[0]
    with pytest.raises(ValueError):
        mapping.label_config([])


def test_task_payload_carries_alp_ids_and_no_priority_score() -> None:
    t = mapping.task_payload(image_url="http://alp/x", image_id=3, cycle=2, rank=0, width=W,
                             height=H, boxes=[], version="alp-cycle-2")  # fmt: skip
    assert t["data"] == {"image": "http://alp/x", "alp_image_id": 3, "alp_cycle": 2,
                         "alp_rank": 1}  # fmt: skip
    assert "score" not in t["predictions"][0]  # Label Studio would show it as a confidence
    assert mapping.task_cycle(t) == ("index", 2)
    assert mapping.task_cycle({"data": {"alp_cycle_id": 9}}) == ("id", 9)
    assert mapping.task_cycle({"data": {"alp_cycle": True}}) is None
    assert mapping.task_image_id({"data": {"alp_image_id": True}}) is None
    assert mapping.task_image_id({"data": {}}) is None


def test_label_config_shows_the_cycle_number() -> None:
    cfg = mapping.label_config(["cat"])
    assert '<Header value="alp cycle #$alp_cycle' in cfg and "$alp_rank" in cfg
