"""COCO-format read/write for manifests (images + one json; boxes xywh, no +1)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from models.data.dataset import to_tensor_image


def _as_pil(image: Any) -> Image.Image:
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    tensor = to_tensor_image(image)
    array = (tensor.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(array)


def write_coco(
    samples: Sequence[dict[str, Any]],
    folder: str | Path,
    class_names: Sequence[str],
    image_dir: str = "images",
    json_name: str = "annotations.json",
) -> Path:
    """Write manifest entries with an in-memory ``"image"`` as PNG files plus a COCO json.

    Category ids are 1..C in ``class_names`` order (label ``l`` -> id ``l + 1``); image ids
    are 1..N in order, file names ``{index:06d}.png`` relative to ``folder/image_dir``.
    Returns the json path.
    """
    folder = Path(folder)
    (folder / image_dir).mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for index, sample in enumerate(samples):
        if "image" not in sample:
            raise ValueError(f"sample {index} has no in-memory 'image' to write")
        pil = _as_pil(sample["image"])
        file_name = f"{index:06d}.png"
        pil.save(folder / image_dir / file_name)
        images.append(
            {"id": index + 1, "file_name": file_name, "width": pil.width, "height": pil.height}
        )
        for box, label in zip(sample.get("boxes", []), sample.get("labels", []), strict=True):
            x1, y1, x2, y2 = (float(v) for v in box)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": index + 1,
                    "category_id": int(label) + 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }
            )
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(class_names)]
    path = folder / json_name
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    return path


def read_coco(
    json_path: str | Path, image_dir: str | Path | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """Read a COCO json into ``(manifest, class_names)``.

    Classes are ordered by category id; labels are 0-based indices into that order.
    Image paths are ``image_dir / file_name`` (default ``<json folder>/images``).
    ``iscrowd`` annotations are skipped; the manifest's ``image_id`` is the COCO image id.
    """
    json_path = Path(json_path)
    data = json.loads(json_path.read_text())
    root = Path(image_dir) if image_dir is not None else json_path.parent / "images"
    cats = sorted(data.get("categories", []), key=lambda c: c["id"])
    index_of = {c["id"]: i for i, c in enumerate(cats)}
    per_image: dict[Any, list[dict[str, Any]]] = {}
    for ann in data.get("annotations", []):
        if ann.get("iscrowd", 0):
            continue
        if ann["category_id"] not in index_of:
            raise ValueError(
                f"annotation {ann.get('id')} has unknown category {ann['category_id']}"
            )
        per_image.setdefault(ann["image_id"], []).append(ann)
    manifest = []
    for img in data.get("images", []):
        anns = per_image.get(img["id"], [])
        boxes = [
            [a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
            for a in anns
        ]
        manifest.append(
            {
                "path": root / img["file_name"],
                "image_id": img["id"],
                "boxes": boxes,
                "labels": [index_of[a["category_id"]] for a in anns],
            }
        )
    return manifest, [c["name"] for c in cats]
