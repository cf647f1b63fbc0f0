"""Selection thumbnails: the image, downscaled, with the model's predicted boxes drawn.

Thumbnails are JPEGs cached in storage under ``thumbnail_key(pool, image, "s<sel>-<px>")``;
the first request renders one (Pillow, milliseconds), later ones read the file. They are
drawn from the image's 512-px preview (``preview_key``) when it has one: images above
``decoding.PREVIEW_MIN_PIXELS`` get it at upload, or here on first use if they were stored
before previews existed. Every decode goes through :mod:`alp.services.decoding` (reduced
decode, process-wide memory budget), so concurrent requests for huge images are bounded.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont
from sqlalchemy.orm import Session

from alp.db import Image, Pool, Prediction, Selection
from alp.errors import BadRequest, NotFound
from alp.services import decoding, uploads
from alp.storage import Storage, thumbnail_key

SIZES = (128, 256, 512)
# Saturated colours that stay visible on photos; text is drawn on a filled tag.
PALETTE = ("#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6")


def label_color(label: str, classes: Sequence[str] = ()) -> str:
    """Stable colour for a class: its index in ``classes`` or, if unknown, a hash of it."""
    idx = classes.index(label) if label in classes else zlib.crc32(label.encode())
    return PALETTE[idx % len(PALETTE)]


def preview_key(pool_id: int, image_id: int) -> str:
    """Storage key of an image's preview (upright JPEG, at most ``PREVIEW_SIDE`` px)."""
    return thumbnail_key(pool_id, image_id, "preview")


def load_small(src: Path | BinaryIO, max_side: int) -> tuple[PILImage.Image, tuple[int, int]]:
    """``src`` decoded within the decode budget and shrunk to fit ``max_side`` (upright
    RGB), with the upright size of ``src``. Raises ``BadRequest`` for an unreadable file."""
    try:
        with PILImage.open(src) as im:
            w, h = im.size  # before draft() shrinks it
            small = decoding.decode_small(im, max_side, decoding.budget())
            swap = decoding.exif_orientation(im) in decoding.SWAPS_AXES
            return small, ((h, w) if swap else (w, h))
    except Exception as exc:  # Pillow raises many kinds of errors for bad files
        raise BadRequest(f"cannot read image file for thumbnail: {exc}") from exc


def render(
    src: Path | BinaryIO | PILImage.Image,
    boxes: Sequence[Sequence[float]],
    labels: Sequence[str] = (),
    scores: Sequence[float] = (),
    max_side: int = 256,
    classes: Sequence[str] = (),
    orig_size: tuple[int, int] | None = None,
) -> bytes:
    """JPEG bytes of ``src`` (a file, or an upright RGB image already decoded) shrunk to
    fit ``max_side`` with ``boxes`` drawn.

    ``boxes`` are ``[x1, y1, x2, y2]`` in pixels of the original image, whose upright size
    is ``orig_size`` (default: the size of ``src``, so ``src`` may be a preview);
    ``labels`` and ``scores`` (optional, same length) annotate each box. No boxes draws
    none. Raises ``BadRequest`` when the file is not a readable image.
    """
    if isinstance(src, PILImage.Image):
        thumb, src_size = src.copy(), src.size
        thumb.thumbnail((max_side, max_side), PILImage.Resampling.LANCZOS)
    else:
        thumb, src_size = load_small(src, max_side)
    orig_w, orig_h = orig_size or src_size
    sx, sy = thumb.width / orig_w, thumb.height / orig_h
    draw = ImageDraw.Draw(thumb)
    font = ImageFont.load_default()
    width = max(1, round(max_side / 128))
    for i, box in enumerate(boxes):
        label = str(labels[i]) if i < len(labels) else ""
        color = label_color(label, classes)
        x1, y1, x2, y2 = (float(v) for v in box[:4])
        rect = (x1 * sx, y1 * sy, max(x1 * sx, x2 * sx), max(y1 * sy, y2 * sy))
        draw.rectangle(rect, outline=color, width=width)
        text = label if i >= len(scores) else f"{label} {float(scores[i]):.2f}".strip()
        if text:
            tx, ty = rect[0], max(0.0, rect[1] - 11)
            bbox = draw.textbbox((tx, ty), text, font=font)
            draw.rectangle((bbox[0] - 1, bbox[1] - 1, bbox[2] + 1, bbox[3] + 1), fill=color)
            draw.text((tx, ty), text, fill="black", font=font)
    return uploads.to_jpeg(thumb)


def _prediction(pred: dict[str, Any]) -> tuple[list[Any], list[str], list[float]]:
    boxes = [b for b in pred.get("boxes") or [] if isinstance(b, list | tuple) and len(b) >= 4]
    return boxes, [str(x) for x in pred.get("labels") or []], list(pred.get("scores") or [])


def selection_thumbnail(
    db: Session, storage: Storage, selection_id: int, max_side: int = 256
) -> str:
    """Storage key of the (cached, created on first use) thumbnail of one selection.

    Raises ``NotFound`` for an unknown selection or a missing image file and
    ``BadRequest`` for an unsupported size (see ``SIZES``).
    """
    if max_side not in SIZES:
        raise BadRequest(f"thumbnail size must be one of {', '.join(map(str, SIZES))}")
    sel = db.get(Selection, selection_id)
    if sel is None:
        raise NotFound(f"selection {selection_id} not found")
    image = db.get(Image, sel.image_id)
    assert image is not None  # foreign key
    key = thumbnail_key(image.pool_id, image.id, f"s{sel.id}-{max_side}")
    if storage.exists(key):
        return key
    src = _source(storage, image)
    pool = db.get(Pool, image.pool_id)
    boxes, labels, scores = _prediction(sel.prediction or {})
    data = render(
        src,
        boxes,
        labels,
        scores,
        max_side,
        classes=list(pool.classes) if pool is not None else [],
        orig_size=(image.width, image.height),
    )
    storage.put_bytes(key, data)
    return key


def image_thumbnail(db: Session, storage: Storage, image_id: int, max_side: int = 256) -> str:
    """Storage key of the (cached, created on first use) thumbnail of one image with its
    stored on-demand prediction drawn (``POST /pools/{id}/predictions``); the plain image
    when it has none. A newer prediction gets a new key, so the cache never shows stale
    boxes. Raises ``NotFound`` for an unknown image or a missing file, ``BadRequest`` for
    an unsupported size (see ``SIZES``)."""
    if max_side not in SIZES:
        raise BadRequest(f"thumbnail size must be one of {', '.join(map(str, SIZES))}")
    image = db.get(Image, image_id)
    if image is None:
        raise NotFound(f"image {image_id} not found")
    pred = db.get(Prediction, image_id)
    stamp = "none" if pred is None else f"{pred.job_id}-{pred.created_at:%Y%m%d%H%M%S%f}"
    key = thumbnail_key(image.pool_id, image.id, f"p{stamp}-{max_side}")
    if storage.exists(key):
        return key
    boxes = [b for b in (pred.boxes if pred is not None else []) if isinstance(b, dict)]
    pool = db.get(Pool, image.pool_id)
    data = render(
        _source(storage, image),
        [[b["x1"], b["y1"], b["x2"], b["y2"]] for b in boxes],
        [str(b.get("label", "")) for b in boxes],
        [float(b.get("score", 0.0)) for b in boxes],
        max_side,
        classes=list(pool.classes) if pool is not None else [],
        orig_size=(image.width, image.height),
    )
    storage.put_bytes(key, data)
    return key


def _source(storage: Storage, image: Image) -> BinaryIO | PILImage.Image:
    """What to draw ``image``'s thumbnails from: its preview file if it has one, the
    preview made now if it is large (also stored), else the original file. Raises
    ``NotFound`` for a missing file."""
    pkey = preview_key(image.pool_id, image.id)
    try:
        return io.BytesIO(storage.read_bytes(pkey))
    except FileNotFoundError:
        pass
    try:
        original = io.BytesIO(storage.read_bytes(image.storage_key))
    except FileNotFoundError:
        raise NotFound(f"image file of image {image.id} is missing from storage") from None
    if image.width * image.height <= decoding.PREVIEW_MIN_PIXELS:
        return original
    small, _ = load_small(original, decoding.PREVIEW_SIDE)
    storage.put_bytes(pkey, uploads.to_jpeg(small))
    return small
