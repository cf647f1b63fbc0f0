"""Bounded-memory image decoding for the API: reduced decodes and a process-wide budget.

A small file can hold a huge image (a mostly-uniform 8000×8000 RGBA PNG is ~250 KB on disk
and 256 MB decoded), so every decode in the API process goes through :func:`decode_small`:

* the pixel count is known from the header (``Image.open`` reads nothing else) and the
  memory the decode will need is estimated from it (:func:`decode_cost`);
* that amount is reserved from one :class:`DecodeBudget` per process
  (``ALP_DECODE_MEMORY_BYTES``): decodes that do not fit wait in FIFO order, and an image
  larger than the whole budget is decoded alone;
* JPEGs are decoded at reduced scale (``draft``: 1/2 to 1/8 of the pixels, every
  coefficient still entropy-decoded, so corrupt data is still found); other formats are
  decoded in full once and reduced (``Image.reduce``, one band at a time for images with
  alpha) before any colour conversion, so no second full-size copy is made.

Pillow's image blocks are raised to 64 MiB so that full-size decodes are served by
``mmap`` and handed back to the OS when freed, instead of staying in malloc's heap.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image, ImageFile

# EXIF orientations that swap the axes (rotations by 90/270 degrees, with or without mirror).
SWAPS_AXES = {5, 6, 7, 8}
EXIF_ORIENTATION = 0x0112
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2}
_REDUCIBLE = {"L", "RGB", "CMYK"}  # Image.reduce without a premultiplied copy
BLOCK_SIZE = 64 * 1024 * 1024
PREVIEW_SIDE = 512  # previews serve every thumbnail size (128, 256, 512)
PREVIEW_MIN_PIXELS = 4_000_000  # images above this get a preview at upload

Image.core.set_block_size(BLOCK_SIZE)


def exif_orientation(im: Image.Image) -> int:
    """EXIF orientation tag (1..8) of ``im``; unreadable EXIF counts as 1 (no rotation).

    Call it after decoding: for a PNG whose EXIF is not before the pixel data, Pillow's
    ``getexif`` decodes the whole image to find it (outside any budget).
    """
    try:
        return int(im.getexif().get(EXIF_ORIENTATION, 1) or 1)
    except Exception:
        return 1


class DecodeBudget:
    """A byte-weighted FIFO semaphore bounding the memory of concurrent decodes.

    ``reserve(n)`` waits until it is first in line and ``n`` bytes fit next to what is in
    use (or nothing is in use: a request above ``capacity`` runs alone), holds them for the
    block, then releases them. ``peak`` is the largest total ever reserved.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_use = 0
        self.peak = 0
        self._cond = threading.Condition()
        self._line: deque[object] = deque()

    def _fits(self, ticket: object, nbytes: int) -> bool:
        return self._line[0] is ticket and (
            self.in_use == 0 or self.in_use + nbytes <= self.capacity
        )

    @contextmanager
    def reserve(self, nbytes: int) -> Iterator[None]:
        nbytes = max(0, int(nbytes))
        ticket = object()
        with self._cond:
            self._line.append(ticket)
            try:
                self._cond.wait_for(lambda: self._fits(ticket, nbytes))
            finally:
                self._line.remove(ticket)
                self._cond.notify_all()
            self.in_use += nbytes
            self.peak = max(self.peak, self.in_use)
        try:
            yield
        finally:
            with self._cond:
                self.in_use -= nbytes
                self._cond.notify_all()


_BUDGET: DecodeBudget | None = None
_BUDGET_LOCK = threading.Lock()


def budget(capacity: int | None = None) -> DecodeBudget:
    """The process-wide budget. ``capacity`` (``Settings.decode_memory_bytes``) sets its
    size; without it, the first call reads the setting from the environment."""
    global _BUDGET
    with _BUDGET_LOCK:
        if _BUDGET is None:
            if capacity is None:
                from alp.config import get_settings

                capacity = get_settings().decode_memory_bytes
            _BUDGET = DecodeBudget(capacity)
        b = _BUDGET
    if capacity is not None and capacity != b.capacity:
        with b._cond:
            b.capacity = capacity
            b._cond.notify_all()
    return b


def fit(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Size of ``width``×``height`` shrunk (never enlarged) to fit ``max_side``."""
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def prepare(im: ImageFile.ImageFile, max_side: int) -> None:
    """Ask a JPEG decoder for the smallest scale still ≥ 2× the target size (``draft``)."""
    if im.format == "JPEG":
        tw, th = fit(*im.size, max_side)
        im.draft("RGB", (2 * tw, 2 * th))


def decode_cost(im: Image.Image) -> int:
    """Bytes :func:`decode_small` needs for ``im`` (after :func:`prepare`): the decoded
    image plus the largest temporary made while reducing it."""
    w, h = im.size
    if im.mode in _REDUCIBLE:
        extra = 0
    elif im.mode in ("RGBA", "LA"):
        extra = 1  # one band at a time
    elif im.mode in ("P", "1"):
        extra = 0
    else:
        extra = 4  # converted to RGB first
    return w * h * (_BYTES_PER_PIXEL.get(im.mode, 4) + extra)


def _reduce(im: Image.Image, factor: int) -> Image.Image:
    """``im`` (loaded) shrunk by an integer ``factor``, as RGB, without full-size copies."""
    if factor <= 1:
        return im.convert("RGB")
    if im.mode in ("P", "1"):
        size = (max(1, im.width // factor), max(1, im.height // factor))
        return im.resize(size, Image.Resampling.NEAREST).convert("RGB")
    if im.mode in ("RGBA", "LA"):
        bands = "RGB" if im.mode == "RGBA" else "L"
        small = [im.getchannel(b).reduce(factor) for b in bands]
        return Image.merge("RGB" if len(small) == 3 else "L", small).convert("RGB")
    if im.mode not in _REDUCIBLE:
        im = im.convert("RGB")
    return im.reduce(factor).convert("RGB")


def decode_small(im: ImageFile.ImageFile, max_side: int, pool: DecodeBudget) -> Image.Image:
    """Decode ``im`` (opened, not loaded) within ``pool`` and return it as an upright RGB
    image fitting ``max_side`` (never enlarged). Decoding errors propagate (``OSError``,
    ``SyntaxError``, ``ValueError``...); the caller maps them."""
    prepare(im, max_side)
    with pool.reserve(decode_cost(im)):
        im.load()
        tw, th = fit(*im.size, max_side)
        small = _reduce(im, max(1, min(im.width // (2 * tw), im.height // (2 * th))))
    orientation = exif_orientation(im)  # loaded: reading EXIF decodes nothing more
    small.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    if orientation in _TRANSPOSE:
        small = small.transpose(_TRANSPOSE[orientation])
    return small
