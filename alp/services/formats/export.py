"""Export a pool's labeled images as a YOLO or Pascal VOC zip, or a Label Studio JSON list.

Built on :func:`alp.services.coco.export_coco` (same images, latest annotation each, class
order). Zips are written to a temporary file the caller streams and deletes. File names
that occur more than once in the pool get an ``<image id>_`` prefix so nothing collides.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path

from sqlalchemy.orm import Session

from alp.errors import NotFound
from alp.labelstudio import mapping
from alp.services import coco
from alp.services.formats import voc, yolo
from alp.services.formats.common import Boxes, stem
from alp.services.images import get_image
from alp.storage import Storage

FORMATS = ("yolo", "voc", "labelstudio")


def _labeled(db: Session, pool_id: int, split: str | None) -> tuple[list[str], list[dict]]:
    """Class names and ``[{id, name, width, height, boxes}]`` of the labeled images."""
    doc = coco.export_coco(db, pool_id, split)
    names = [c["name"] for c in doc["categories"]]
    boxes: dict[int, Boxes] = {}
    for a in doc["annotations"]:
        x, y, w, h = a["bbox"]
        label = names[a["category_id"] - 1]
        boxes.setdefault(a["image_id"], []).append(
            {"x1": x, "y1": y, "x2": x + w, "y2": y + h, "label": label}
        )
    counts = Counter(stem(img["file_name"]) for img in doc["images"])
    items = [
        {
            "id": img["alp_image_id"],
            "name": img["file_name"] if counts[stem(img["file_name"])] == 1
            else f"{img['alp_image_id']}_{img['file_name']}",
            "width": img["width"], "height": img["height"], "boxes": boxes.get(img["id"], []),
        }
        for img in doc["images"]
    ]  # fmt: skip
    return names, items


def labelstudio_tasks(db: Session, pool_id: int, split: str | None = None) -> list[dict]:
    """A Label Studio JSON export of the labeled images (``data.image`` = file name)."""
    _, items = _labeled(db, pool_id, split)
    return [
        {
            "id": i + 1,
            "data": {mapping.IMAGE_KEY: it["name"], mapping.IMAGE_ID_KEY: it["id"]},
            "annotations": [{
                "id": i + 1, "was_cancelled": False,
                "result": mapping.boxes_to_result(it["boxes"], it["width"], it["height"]),
            }],
        }
        for i, it in enumerate(items)
    ]  # fmt: skip


def write_zip(
    db: Session, storage: Storage, pool_id: int, fmt: str, split: str | None = None,
    images: bool = True, tmp_dir: Path | None = None,
) -> Path:  # fmt: skip
    """Write the pool's ``yolo``/``voc`` export to a temporary zip; the caller deletes it."""
    names, items = _labeled(db, pool_id, split)
    index = {n: i for i, n in enumerate(names)}
    fd, tmp = tempfile.mkstemp(prefix=f"alp-export-{fmt}-", suffix=".zip", dir=tmp_dir)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            img_dir = "images" if fmt == "yolo" else "JPEGImages"
            if fmt == "yolo":
                zf.writestr("data.yaml", yolo.data_yaml(names))
            for it in items:
                if fmt == "yolo":
                    text = yolo.label_text(it["boxes"], it["width"], it["height"], index)
                    zf.writestr(f"labels/{stem(it['name'])}.txt", text)
                else:
                    xml = voc.annotation_xml(it["name"], it["width"], it["height"], it["boxes"])
                    zf.writestr(f"Annotations/{stem(it['name'])}.xml", xml)
                if images:
                    _copy_blob(db, storage, it["id"], zf, f"{img_dir}/{it['name']}")
    except BaseException:
        os.unlink(tmp)
        raise
    return Path(tmp)


def _copy_blob(
    db: Session, storage: Storage, image_id: int, zf: zipfile.ZipFile, name: str
) -> None:
    """Stream image ``image_id``'s bytes from the store into ``zf`` as ``name`` (stored, not
    deflated); ``NotFound`` when the store lacks them."""
    info = zipfile.ZipInfo(name, date_time=time.localtime(time.time())[:6])
    info.compress_type = zipfile.ZIP_STORED
    image = get_image(db, image_id)
    try:
        src = storage.open(image.storage_key)
    except FileNotFoundError:
        raise NotFound(f"the content of image {image_id} is missing from storage") from None
    with src, zf.open(info, "w", force_zip64=True) as dst:
        shutil.copyfileobj(src, dst, 256 * 1024)
