"""The ONE place where Label Studio JSON is translated to and from alp's own boxes.

Pure functions, no I/O. alp boxes are dicts ``{"x1", "y1", "x2", "y2", "label"[, "score"]}``
in pixels of the stored image (x right, y down, ``x1 < x2``, ``y1 < y2``). Label Studio
rectangles are ``x, y, width, height`` in PERCENT of the image, ``(x, y)`` being the
top-left corner before rotation; ``rotation`` is in degrees, clockwise, around that corner.

Contracts:
- ``boxes_to_result`` -> one result item per box (``[]`` for no boxes).
- ``result_to_boxes`` never raises on bad regions: it returns the good boxes plus one
  human-readable issue string per skipped region (unknown label, missing/NaN coordinates,
  zero area). Rotated rectangles become their axis-aligned envelope, clipped to the image.
- ``task_outcome`` reduces a task's annotations to what alp stores (see ``TaskOutcome``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import quoteattr

FROM_NAME = "label"
TO_NAME = "image"
REGION_TYPE = "rectanglelabels"
IMAGE_KEY = "image"  # task data key holding the (signed) image URL
IMAGE_ID_KEY = "alp_image_id"  # task data key holding alp's image id (the join key)
DELETED_KEY = "alp_deleted"  # task data/meta key: true once alp deleted the task's image
CYCLE_KEY = "alp_cycle"  # task data key: the pool's cycle number (as the dashboard shows it)
LEGACY_CYCLE_ID_KEY = "alp_cycle_id"  # older tasks: the cycle's database id
RANK_KEY = "alp_rank"  # 1 = the most informative image of the cycle
# Label Studio serves tasks in the Data Manager's order (task id = import order = rank
# order); "Uncertainty sampling" would need a per-task prediction score, which Label Studio
# shows to annotators as if it were the model's confidence.
SEQUENTIAL_SAMPLING = "Sequential sampling"


def label_config(classes: Sequence[str]) -> str:
    """A RectangleLabels labeling config with one ``<Label>`` per pool class, in order."""
    if not classes:
        raise ValueError("a labeling config needs at least one class")
    labels = "\n".join(f"    <Label value={quoteattr(c)}/>" for c in classes)
    return (
        "<View>\n"
        f'  <Header value="alp cycle #${CYCLE_KEY} · rank ${RANK_KEY} (1 = most informative)"'
        ' size="6"/>\n'
        f'  <Image name="{TO_NAME}" value="${IMAGE_KEY}" zoom="true"/>\n'
        f'  <RectangleLabels name="{FROM_NAME}" toName="{TO_NAME}">\n'
        f"{labels}\n"
        "  </RectangleLabels>\n"
        "</View>"
    )


def config_problems(config: str, classes: Sequence[str]) -> list[str]:
    """Why an existing project's labeling config cannot hold alp's boxes (``[]``: it can).

    alp needs ``<Image name="image" value="$image">``, ``<RectangleLabels name="label"
    toName="image">`` and one ``<Label value=...>`` per pool class (extra labels are fine).
    """
    try:
        root = ElementTree.fromstring(config)
    except ElementTree.ParseError as exc:
        return [f"the labeling config is not valid XML ({exc})"]
    problems: list[str] = []
    images = [e for e in root.iter("Image") if e.get("name") == TO_NAME]
    if not images or images[0].get("value") != f"${IMAGE_KEY}":
        problems.append(f'needs <Image name="{TO_NAME}" value="${IMAGE_KEY}"/>')
    rects = [e for e in root.iter("RectangleLabels") if e.get("name") == FROM_NAME]
    if not rects or rects[0].get("toName") != TO_NAME:
        problems.append(f'needs <RectangleLabels name="{FROM_NAME}" toName="{TO_NAME}">')
    else:
        have = {e.get("value") for e in rects[0].iter("Label")}
        missing = [c for c in classes if c not in have]
        if missing:
            problems.append(f"RectangleLabels lacks the pool classes {missing}")
    return problems


def model_version(cycle_index: int) -> str:
    """The ``model_version`` string of a cycle's predictions (and of the project)."""
    return f"alp-cycle-{cycle_index}"


def _clip(v: float, hi: float) -> float:
    return min(max(v, 0.0), hi)


def box_to_region(box: Mapping[str, Any], width: int, height: int, idx: int) -> dict[str, Any]:
    """One alp pixel box -> one Label Studio rectangle result item (percent, rotation 0)."""
    x1, y1 = _clip(float(box["x1"]), width), _clip(float(box["y1"]), height)
    x2, y2 = _clip(float(box["x2"]), width), _clip(float(box["y2"]), height)
    item: dict[str, Any] = {
        "id": f"alp{idx}",
        "from_name": FROM_NAME,
        "to_name": TO_NAME,
        "type": REGION_TYPE,
        "origin": "prediction",
        "original_width": width,
        "original_height": height,
        "image_rotation": 0,
        "value": {
            "x": 100.0 * x1 / width,
            "y": 100.0 * y1 / height,
            "width": 100.0 * (x2 - x1) / width,
            "height": 100.0 * (y2 - y1) / height,
            "rotation": 0,
            "rectanglelabels": [str(box["label"])],
        },
    }
    if box.get("score") is not None:
        item["score"] = float(box["score"])
    return item


def boxes_to_result(
    boxes: Iterable[Mapping[str, Any]], width: int, height: int
) -> list[dict[str, Any]]:
    """alp pixel boxes -> Label Studio ``result`` list (``[]`` for no boxes)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive (got {width}x{height})")
    return [box_to_region(b, width, height, i) for i, b in enumerate(boxes)]


def prediction(
    boxes: Iterable[Mapping[str, Any]], width: int, height: int, version: str
) -> dict[str, Any]:
    """ONE prediction holding all boxes of an image (Label Studio shows one per version).

    No prediction-level ``score``: Label Studio prints it as a percentage next to the
    prediction, which annotators read as a confidence. Each region keeps the detector's
    own score (a real confidence)."""
    return {"model_version": version, "result": boxes_to_result(boxes, width, height)}


def task_payload(
    *,
    image_url: str,
    image_id: int,
    cycle: int,
    rank: int,
    width: int,
    height: int,
    boxes: Iterable[Mapping[str, Any]],
    version: str,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A Label Studio import item: ``data`` (URL, alp image id, the pool's cycle number,
    the 1-based rank) and one prediction."""
    data: dict[str, Any] = {IMAGE_KEY: image_url, IMAGE_ID_KEY: image_id, CYCLE_KEY: cycle,
                            RANK_KEY: rank + 1}  # fmt: skip
    data.update(extra or {})
    return {"data": data, "predictions": [prediction(boxes, width, height, version)]}


def task_cycle(task: Mapping[str, Any]) -> tuple[str, int] | None:
    """``("index", n)`` (the pool's cycle number) or ``("id", n)`` (older tasks: the
    cycle's database id) from the task data; None when absent or malformed."""
    data = task.get("data")
    if not isinstance(data, Mapping):
        return None
    for key, kind in ((CYCLE_KEY, "index"), (LEGACY_CYCLE_ID_KEY, "id")):
        raw = data.get(key)
        if isinstance(raw, int) and not isinstance(raw, bool):
            return kind, raw
    return None


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def region_to_box(
    region: Mapping[str, Any], width: int, height: int, classes: Sequence[str]
) -> tuple[dict[str, Any] | None, str | None]:
    """One result item -> ``(box, None)``, ``(None, issue)``, or ``(None, None)`` to ignore.

    Items of other types (e.g. relations, per-region text) are ignored silently. Percent
    values are scaled by alp's stored ``width``/``height`` (percent is size-independent).
    """
    if region.get("type") != REGION_TYPE:
        return None, None
    rid = region.get("id", "?")
    value = region.get("value")
    if not isinstance(value, Mapping):
        return None, f"region {rid}: no value"
    labels = value.get(REGION_TYPE)
    if not isinstance(labels, list) or len(labels) != 1 or not isinstance(labels[0], str):
        return None, f"region {rid}: expected exactly one label, got {labels!r}"
    label = labels[0]
    if label not in classes:
        return None, f"region {rid}: unknown label {label!r} (pool classes: {list(classes)})"
    x, y, w, h = (_num(value.get(k)) for k in ("x", "y", "width", "height"))
    rot = _num(value.get("rotation", 0) or 0)
    if x is None or y is None or w is None or h is None or rot is None:
        return None, f"region {rid}: missing or non-numeric coordinates"
    px, py, pw, ph = x * width / 100, y * height / 100, w * width / 100, h * height / 100
    if rot % 360 == 0:
        xs, ys = [px, px + pw], [py, py + ph]
    else:  # envelope of the rectangle rotated clockwise around its top-left corner
        c, s = math.cos(math.radians(rot)), math.sin(math.radians(rot))
        corners = [(0.0, 0.0), (pw, 0.0), (pw, ph), (0.0, ph)]
        xs = [px + cx * c - cy * s for cx, cy in corners]
        ys = [py + cx * s + cy * c for cx, cy in corners]
    x1, x2 = _clip(min(xs), width), _clip(max(xs), width)
    y1, y2 = _clip(min(ys), height), _clip(max(ys), height)
    if x2 - x1 <= 0 or y2 - y1 <= 0:
        return None, f"region {rid}: empty box after clipping to the image"
    return {"x1": x1, "y1": y1, "x2": x2, "y2": y2, "label": label}, None


def result_to_boxes(
    result: Iterable[Mapping[str, Any]] | None, width: int, height: int, classes: Sequence[str]
) -> tuple[list[dict[str, Any]], list[str]]:
    """An annotation's ``result`` -> ``(pixel boxes, issues)``; never raises on bad regions."""
    boxes: list[dict[str, Any]] = []
    issues: list[str] = []
    for region in result or []:
        if not isinstance(region, Mapping):
            issues.append(f"malformed region {region!r}")
            continue
        box, issue = region_to_box(region, width, height, classes)
        if box is not None:
            boxes.append(box)
        if issue is not None:
            issues.append(issue)
    return boxes, issues


@dataclass
class LabeledAnnotation:
    external_id: str
    boxes: list[dict[str, Any]]
    issues: list[str] = field(default_factory=list)
    author: str | None = None  # "labelstudio:<email or user id>" from ``completed_by``


def annotation_author(ann: Mapping[str, Any]) -> str | None:
    """Who made a Label Studio annotation (``completed_by``: a user id or object)."""
    who = ann.get("completed_by")
    if isinstance(who, Mapping):
        who = who.get("email") or who.get("id")
    if isinstance(who, bool) or not isinstance(who, str | int) or who == "":
        return None
    return f"labelstudio:{who}"[:200]


@dataclass
class TaskOutcome:
    """What one Label Studio task means for alp.

    ``annotations``: submitted (not cancelled) annotations, one per Label Studio annotation
    id. ``skipped_ids``: ids of cancelled ("skipped") annotations; the image is skipped when
    there are no submitted ones. Both empty: the task has no annotation (any more).
    """

    image_id: int | None
    annotations: list[LabeledAnnotation]
    skipped_ids: list[str]

    @property
    def skipped(self) -> bool:
        return not self.annotations and bool(self.skipped_ids)


def task_image_id(task: Mapping[str, Any]) -> int | None:
    """alp's image id in the task's data; None if absent or the task is marked deleted."""
    data = task.get("data")
    raw = data.get(IMAGE_ID_KEY) if isinstance(data, Mapping) else None
    if isinstance(raw, bool) or (isinstance(data, Mapping) and data.get(DELETED_KEY)):
        return None
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


def task_outcome(
    task: Mapping[str, Any], width: int, height: int, classes: Sequence[str]
) -> TaskOutcome:
    """Reduce a Label Studio task (with its ``annotations``) to a ``TaskOutcome``."""
    labeled: list[LabeledAnnotation] = []
    skipped: list[str] = []
    for ann in task.get("annotations") or []:
        if not isinstance(ann, Mapping) or ann.get("id") is None:
            continue
        ext = str(ann["id"])
        if ann.get("was_cancelled"):
            skipped.append(ext)
            continue
        boxes, issues = result_to_boxes(ann.get("result"), width, height, classes)
        notes = [f"annotation {ext}: {i}" for i in issues]
        labeled.append(LabeledAnnotation(ext, boxes, notes, annotation_author(ann)))
    return TaskOutcome(task_image_id(task), labeled, skipped)
