"""YOLO detection labels: ``data.yaml`` (or ``classes.txt``) class names and one
``labels/<stem>.txt`` per image with lines ``class cx cy w h`` normalised to ``[0, 1]``.

Import reads a zip (images optional: labels match uploaded images by stem); export writes
``data.yaml``, ``labels/*.txt`` and (optionally) ``images/*``. ``data.yaml`` is read with
``yaml.safe_load`` (Python tags are refused); a line with a bad class index, NaN/infinite
or out-of-range values makes its file a problem, never a crash.
"""

from __future__ import annotations

import math
from typing import Any, BinaryIO

import yaml

from alp.config import Settings
from alp.errors import Unprocessable
from alp.services.formats.common import (
    IMAGE_EXTS,
    Boxes,
    LabelFile,
    Parsed,
    basename,
    label_members,
    stem,
)

_TOL = 1e-6


def parse_names(raw: bytes, source: str) -> list[str]:
    """Class names of a ``data.yaml`` (``names`` list or ``{index: name}`` map)."""
    try:
        doc = yaml.safe_load(raw.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise Unprocessable(f"{source} is not plain YAML ({first})") from exc
    names = doc.get("names") if isinstance(doc, dict) else None
    if isinstance(names, dict):
        if not all(isinstance(k, int) for k in names) or sorted(names) != list(range(len(names))):
            raise Unprocessable(f"{source}: 'names' keys must be the indices 0..n-1")
        names = [names[i] for i in range(len(names))]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise Unprocessable(f"{source} needs 'names': a list of class names (strings)")
    return [n.strip() for n in names]


def _parse_line(line: str, n_classes: int) -> tuple[int, list[float]]:
    parts = line.split()
    if len(parts) != 5:
        raise ValueError(f"expected 'class cx cy w h', got {len(parts)} values")
    try:
        cls = int(parts[0])
        vals = [float(p) for p in parts[1:]]
    except ValueError:
        raise ValueError("values must be numbers (class an integer)") from None
    if not 0 <= cls < n_classes:
        raise ValueError(f"class index {cls} is not in 0..{n_classes - 1}")
    if not all(math.isfinite(v) for v in vals):
        raise ValueError("values must be finite (no NaN or infinity)")
    cx, cy, w, h = vals
    inside = all(-_TOL <= v <= 1 + _TOL for v in (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
    if w <= 0 or h <= 0 or not inside:
        raise ValueError(f"box {vals} is outside the image (normalised values out of [0, 1])")
    return cls, vals


def _to_boxes(rows: list[tuple[str, list[float]]]) -> Any:
    def convert(width: int, height: int, _classes: list[str]) -> tuple[Boxes, list[str]]:
        boxes = []
        for label, (cx, cy, w, h) in rows:
            boxes.append({
                "x1": max(0.0, (cx - w / 2) * width), "y1": max(0.0, (cy - h / 2) * height),
                "x2": min(float(width), (cx + w / 2) * width),
                "y2": min(float(height), (cy + h / 2) * height), "label": label,
            })  # fmt: skip
        return boxes, []

    return convert


def parse(fh: BinaryIO, settings: Settings) -> Parsed:
    """Read a YOLO dataset zip's class names and label files."""
    with label_members(fh, settings) as members:
        yamls = sorted((p for p, _ in members if p.lower().endswith((".yaml", ".yml"))),
                       key=lambda p: (p.count("/"), p))  # fmt: skip
        data = dict(members)
        if yamls:
            names = parse_names(data[yamls[0]], yamls[0])
        elif any(basename(p) == "classes.txt" for p in data):
            path = next(p for p in data if basename(p) == "classes.txt")
            names = [n.strip() for n in data[path].decode("utf-8", "replace").splitlines()]
            names = [n for n in names if n]
        else:
            raise Unprocessable("a YOLO archive needs data.yaml (or classes.txt) with the names")
        out = Parsed(class_order=names)
        for path, raw in members:
            if not path.endswith(".txt") or basename(path) == "classes.txt":
                continue
            rows: list[tuple[str, list[float]]] = []
            try:
                text = raw.decode("utf-8")
                for i, line in enumerate(text.splitlines(), start=1):
                    if line.strip():
                        try:
                            cls, vals = _parse_line(line, len(names))
                        except ValueError as exc:
                            raise ValueError(f"line {i}: {exc}") from None
                        rows.append((names[cls], vals))
            except (ValueError, UnicodeDecodeError) as exc:
                out.problems.append(f"{path}: {exc}")
                continue
            s = stem(path)
            cands = [s + e for e in IMAGE_EXTS] + [s + e.upper() for e in IMAGE_EXTS]
            out.files.append(LabelFile(path, cands, {label for label, _ in rows}, _to_boxes(rows)))
        if not out.files and not out.problems:
            raise Unprocessable("no YOLO label file (labels/*.txt) in the archive")
        return out


def data_yaml(classes: list[str]) -> str:
    """``data.yaml`` text naming the classes in order."""
    return yaml.safe_dump(
        {"path": ".", "train": "images", "val": "images", "nc": len(classes),
         "names": {i: n for i, n in enumerate(classes)}},
        sort_keys=False, allow_unicode=True,
    )  # fmt: skip


def label_text(boxes: Boxes, width: int, height: int, index: dict[str, int]) -> str:
    """One ``class cx cy w h`` line per box (6 decimals: < 0.01 px on a 10k-px image)."""
    lines = []
    for b in boxes:
        if b["label"] not in index:
            continue
        cx, cy = (b["x1"] + b["x2"]) / 2 / width, (b["y1"] + b["y2"]) / 2 / height
        w, h = (b["x2"] - b["x1"]) / width, (b["y2"] - b["y1"]) / height
        lines.append(f"{index[b['label']]} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
    return "".join(line + "\n" for line in lines)
