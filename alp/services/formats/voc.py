"""Pascal VOC XML: one ``<annotation>`` per image with ``filename``, ``size`` and
``object/name`` + ``bndbox`` (``xmin ymin xmax ymax``).

Coordinates are read and written as pixels of the stored image, without the historical
1-based shift (what alp writes, alp reads back exactly). Untrusted XML is parsed with
``defusedxml``: entity declarations (billion laughs), external entities and DTDs make that
file a problem, never an expansion.
"""

from __future__ import annotations

import math
from typing import Any, BinaryIO
from xml.etree import ElementTree

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from alp.config import Settings
from alp.errors import Unprocessable
from alp.services.formats.common import (
    Boxes,
    LabelFile,
    Parsed,
    basename,
    label_members,
    pixel_boxes,
)


def _text(el: Any, path: str) -> str:
    found = el.find(path)
    if found is None or found.text is None or not found.text.strip():
        raise ValueError(f"missing <{path}>")
    return found.text.strip()


def _number(el: Any, path: str) -> float:
    try:
        v = float(_text(el, path))
    except ValueError as exc:
        raise ValueError(f"<{path}> is not a number ({exc})") from None
    if not math.isfinite(v):
        raise ValueError(f"<{path}> must be finite")
    return v


def parse_xml(raw: bytes, source: str) -> LabelFile:
    """One VOC file -> :class:`LabelFile`; ``ValueError`` with the reason when unusable."""
    try:
        root = fromstring(raw, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise ValueError(
            f"refused XML ({type(exc).__name__}: entities/DTDs are not allowed)"
        ) from None
    except ElementTree.ParseError as exc:
        raise ValueError(f"not valid XML ({exc})") from None
    if root.tag != "annotation":
        raise ValueError(f"root element is <{root.tag}>, expected <annotation>")
    name = basename(_text(root, "filename"))
    size = None
    if root.find("size") is not None:
        w, h = _number(root, "size/width"), _number(root, "size/height")
        size = (int(w), int(h)) if w > 0 and h > 0 else None
    boxes: Boxes = []
    for i, obj in enumerate(root.findall("object")):
        try:
            label = _text(obj, "name")
            coords = [_number(obj, f"bndbox/{k}") for k in ("xmin", "ymin", "xmax", "ymax")]
        except ValueError as exc:
            raise ValueError(f"object {i}: {exc}") from None
        x1, y1, x2, y2 = coords
        boxes.append({"x1": x1, "y1": y1, "x2": x2, "y2": y2, "label": label})
    return LabelFile(source, [name], {b["label"] for b in boxes}, pixel_boxes(boxes), size)


def parse(fh: BinaryIO, settings: Settings) -> Parsed:
    """Read every ``.xml`` of a zip as a VOC annotation."""
    out = Parsed()
    with label_members(fh, settings) as members:
        for path, raw in members:
            if not path.lower().endswith(".xml"):
                continue
            try:
                out.files.append(parse_xml(raw, path))
            except ValueError as exc:
                out.problems.append(f"{path}: {exc}")
    if not out.files and not out.problems:
        raise Unprocessable("no Pascal VOC annotation (.xml file) in the archive")
    return out


def _num(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".")


def annotation_xml(filename: str, width: int, height: int, boxes: Boxes) -> bytes:
    """The VOC XML of one image."""
    root = ElementTree.Element("annotation")
    ElementTree.SubElement(root, "folder").text = "JPEGImages"
    ElementTree.SubElement(root, "filename").text = filename
    size = ElementTree.SubElement(root, "size")
    for k, v in (("width", width), ("height", height), ("depth", 3)):
        ElementTree.SubElement(size, k).text = str(v)
    ElementTree.SubElement(root, "segmented").text = "0"
    for b in boxes:
        obj = ElementTree.SubElement(root, "object")
        ElementTree.SubElement(obj, "name").text = b["label"]
        for k, v in (("pose", "Unspecified"), ("truncated", "0"), ("difficult", "0")):
            ElementTree.SubElement(obj, k).text = v
        bb = ElementTree.SubElement(obj, "bndbox")
        for k, key in (("xmin", "x1"), ("ymin", "y1"), ("xmax", "x2"), ("ymax", "y2")):
            ElementTree.SubElement(bb, k).text = _num(b[key])
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
