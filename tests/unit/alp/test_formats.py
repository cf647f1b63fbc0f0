"""Format converters without a database: YOLO lines and data.yaml, VOC XML (defused),
Label Studio task names, and the export writers read back by the parsers."""

from __future__ import annotations

import io
import json

import pytest

from alp.errors import Unprocessable
from alp.services.formats import labelstudio_json, voc, yolo

BOMB = b"""<?xml version="1.0"?><!DOCTYPE a [<!ENTITY a "aaaaaaaaaa">
<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><annotation><filename>&b;</filename></annotation>"""
EXTERNAL = b"""<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<annotation><filename>&x;</filename></annotation>"""


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("0 0.5 0.5 0.2", "expected 'class cx cy w h'"),
        ("a 0.5 0.5 0.2 0.2", "must be numbers"),
        ("2 0.5 0.5 0.2 0.2", "class index 2"),
        ("-1 0.5 0.5 0.2 0.2", "class index -1"),
        ("0 nan 0.5 0.2 0.2", "finite"),
        ("0 0.5 inf 0.2 0.2", "finite"),
        ("0 0.5 0.5 0 0.2", "outside the image"),
        ("0 0.05 0.5 0.2 0.2", "outside the image"),
        ("0 0.5 0.5 1.2 0.2", "outside the image"),
    ],
)
def test_yolo_bad_lines(line: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        yolo._parse_line(line, 2)


def test_yolo_names_and_round_trip_of_a_label_file() -> None:
    assert yolo.parse_names(b"names: {0: car, 1: bus}\n", "d.yaml") == ["car", "bus"]
    assert yolo.parse_names(yolo.data_yaml(["car", "a: b"]).encode(), "d") == ["car", "a: b"]
    for bad, why in [
        (b"names: !!python/object/apply:os.system [echo]\n", "not plain YAML"),
        (b"names: {1: car}\n", "indices"),
        (b"nc: 2\n", "needs 'names'"),
        (b"names: [1, 2]\n", "needs 'names'"),
        (b"\xff\xfe", "not plain YAML"),
    ]:
        with pytest.raises(Unprocessable, match=why):
            yolo.parse_names(bad, "data.yaml")
    boxes = [{"x1": 1.25, "y1": 2.5, "x2": 11.75, "y2": 22.4, "label": "bus"}]
    text = yolo.label_text(boxes, 64, 48, {"car": 0, "bus": 1})
    cls, vals = yolo._parse_line(text.strip(), 2)
    (back,), _ = yolo._to_boxes([("bus", vals)])(64, 48, [])
    assert cls == 1 and all(abs(back[k] - boxes[0][k]) < 1e-3 for k in ("x1", "y1", "x2", "y2"))


@pytest.mark.parametrize("raw", [BOMB, EXTERNAL])
def test_voc_refuses_entities(raw: bytes) -> None:
    with pytest.raises(ValueError, match="refused XML"):
        voc.parse_xml(raw, "a.xml")


def test_voc_round_trip_and_errors() -> None:
    boxes = [{"x1": 1.25, "y1": 2.5, "x2": 11.755, "y2": 22.4, "label": "car & bus"}]
    f = voc.parse_xml(voc.annotation_xml("dir/a.jpg", 64, 48, boxes), "a.xml")
    assert (f.names, f.size, f.labels) == (["a.jpg"], (64, 48), {"car & bus"})
    (b,), issues = f.to_boxes(64, 48, [])
    assert issues == [] and abs(b["x2"] - 11.755) <= 0.005 and b["label"] == "car & bus"
    for bad, why in [
        (b"<annotation/>", "missing <filename>"),
        (b"<foo/>", "expected <annotation>"),
        (b"<annotation><filename>a</filename><object><name>c</name><bndbox><xmin>x</xmin>"
         b"</bndbox></object></annotation>", "object 0: <bndbox/xmin> is not a number"),
        (b"<annotation", "not valid XML"),
    ]:  # fmt: skip
        with pytest.raises(ValueError, match=why):
            voc.parse_xml(bad, "a.xml")


def test_labelstudio_task_names_latest_annotation_and_bad_tasks() -> None:
    region = {
        "type": "rectanglelabels",
        "id": "r",
        "value": {"x": 10, "y": 20, "width": 50, "height": 25, "rectanglelabels": ["dog"]},
    }
    tasks = [
        {"id": 1, "data": {"image": "/data/upload/2/0a1b2c3d-cat%201.png?x=1"},
         "annotations": [{"id": 5, "updated_at": "2024-01-01", "result": []},
                         {"id": 6, "updated_at": "2024-02-01", "result": [region]},
                         {"id": 7, "updated_at": "2024-03-01", "was_cancelled": True}]},
        {"id": 2, "data": {"image": "x.png"}, "annotations": []},  # not labeled: ignored
        {"id": 3, "data": {"alp_image_id": 9}, "annotations": [{"id": 1, "result": []}]},
        {"id": 40},
        "junk",
    ]  # fmt: skip
    parsed = labelstudio_json.parse(io.BytesIO(json.dumps(tasks).encode()))
    first, third = parsed.files
    assert first.names == ["0a1b2c3d-cat 1.png", "cat 1.png"] and first.labels == {"dog"}
    boxes, issues = first.to_boxes(64, 48, ["dog"])
    assert issues == [] and boxes[0]["x1"] == pytest.approx(6.4)
    assert third.image_id == 9
    assert parsed.problems == [
        "task 40: not a task object with 'data'",
        "task 4: not a task object with 'data'",
    ]
    with pytest.raises(Unprocessable):
        labelstudio_json.parse(io.BytesIO(b'{"a": '))
    with pytest.raises(Unprocessable, match="list of tasks"):
        labelstudio_json.parse(io.BytesIO(b"3"))
