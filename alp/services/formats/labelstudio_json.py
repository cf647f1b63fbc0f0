"""Label Studio JSON export (a list of tasks with ``annotations``; RectangleLabels in
percent of the image) -> alp labels, through the same mapping alp's live sync uses
(:mod:`alp.labelstudio.mapping`), so an import stores exactly the boxes a sync would.

A task maps to an image by ``data.alp_image_id`` (tasks alp pushed), else by the base name
of ``data.image`` (Label Studio's upload prefix ``<8 hex>-`` removed). The latest submitted
(not cancelled) annotation wins; tasks without one are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, BinaryIO
from urllib.parse import unquote, urlsplit

from alp.errors import Unprocessable
from alp.labelstudio import mapping
from alp.services.formats.common import Boxes, LabelFile, Parsed, basename
from alp.services.json_files import read_json

_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")


def _image_names(task: Mapping[str, Any]) -> list[str]:
    data = task.get("data")
    url = data.get(mapping.IMAGE_KEY) if isinstance(data, Mapping) else None
    if not isinstance(url, str) or not url:
        return []
    path = unquote(urlsplit(url).path) or url
    name = basename(path)
    short = _UPLOAD_PREFIX.sub("", name)
    return [name] if short == name else [name, short]


def _latest(task: Mapping[str, Any]) -> Mapping[str, Any] | None:
    anns = [
        a for a in task.get("annotations") or []
        if isinstance(a, Mapping) and not a.get("was_cancelled")
    ]  # fmt: skip
    if not anns:
        return None
    return max(anns, key=lambda a: (str(a.get("updated_at") or ""), str(a.get("id") or "")))


def _labels(result: Any) -> set[str]:
    out: set[str] = set()
    for region in result if isinstance(result, list) else []:
        value = region.get("value") if isinstance(region, Mapping) else None
        labels = value.get(mapping.REGION_TYPE) if isinstance(value, Mapping) else None
        if region.get("type") == mapping.REGION_TYPE and isinstance(labels, list):
            out.update(label for label in labels if isinstance(label, str))
    return out


def _converter(result: Any) -> Any:
    def convert(width: int, height: int, classes: list[str]) -> tuple[Boxes, list[str]]:
        return mapping.result_to_boxes(result, width, height, classes)

    return convert


def parse(fh: BinaryIO) -> Parsed:
    """Read a Label Studio JSON export (list of tasks, or one task)."""
    raw = read_json(fh)
    tasks = [raw] if isinstance(raw, dict) else raw
    if not isinstance(tasks, list):
        raise Unprocessable("a Label Studio export is a JSON list of tasks")
    out = Parsed()
    for i, task in enumerate(tasks):
        source = f"task {task.get('id', i) if isinstance(task, Mapping) else i}"
        if not isinstance(task, Mapping) or not isinstance(task.get("data"), Mapping):
            out.problems.append(f"{source}: not a task object with 'data'")
            continue
        ann = _latest(task)
        if ann is None:
            continue
        names, image_id = _image_names(task), mapping.task_image_id(task)
        if not names and image_id is None:
            out.problems.append(f"{source}: no data.image URL nor data.alp_image_id")
            continue
        result = ann.get("result")
        out.files.append(
            LabelFile(source, names or ["?"], _labels(result), _converter(result),
                      image_id=image_id)
        )  # fmt: skip
    return out
