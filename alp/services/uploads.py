"""Validation of uploaded image files, and cleanup of files written before a commit.

Contract of :func:`probe_image`: the content decides, never the file name. Accepted formats
are JPEG, PNG, WebP and BMP. The pixel count is read from the header and compared with the
limit BEFORE any pixel data is decoded (decompression bombs never reach ``load()``); then
every image is fully decoded once (JPEG at reduced scale via ``draft()``, which still
entropy-decodes every coefficient, so truncated or corrupt scans are caught), with the
memory it needs reserved from the process-wide decode budget
(:mod:`alp.services.decoding`). Images above ``PREVIEW_MIN_PIXELS`` also get a 512-px
JPEG preview from that same decode, so thumbnails never decode them again.
"""

from __future__ import annotations

import io
import logging
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from types import TracebackType

from PIL import Image, UnidentifiedImageError
from sqlalchemy.orm import Session

from alp.services import decoding
from alp.services.decoding import EXIF_ORIENTATION, SWAPS_AXES, exif_orientation
from alp.storage import Storage

log = logging.getLogger("alp.uploads")

__all__ = ["EXIF_ORIENTATION", "SWAPS_AXES", "exif_orientation"]  # re-exported

# Pillow format name -> (storage extension, content type)
ACCEPTED_FORMATS: dict[str, tuple[str, str]] = {
    "JPEG": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "WEBP": ("webp", "image/webp"),
    "BMP": ("bmp", "image/bmp"),
}
MAX_FILENAME = 255
WRITERS = 8  # concurrent blob writes per request (StagedFiles.put_all)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Rejected(Exception):
    """One file (or zip member, or whole archive) is refused; ``reason`` is user-facing.

    ``status`` is the HTTP status the rejection maps to when it is the only outcome of a
    request: 413 for size limits, 422 for content problems.
    """

    def __init__(self, reason: str, status: int = 422) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


# Stored bytes are kept as uploaded; every decoder applies the EXIF orientation (as browsers
# do), so sizes, training data, thumbnails and Label Studio share one upright coordinate system.


@dataclass(frozen=True)
class ImageInfo:
    """What validation learned about an accepted image: ``width``/``height`` are the
    displayed (EXIF-upright) size in pixels; ``preview`` a JPEG of at most
    ``PREVIEW_SIDE`` px (large images only)."""

    format: str
    width: int
    height: int
    preview: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def ext(self) -> str:
        return ACCEPTED_FORMATS[self.format][0]

    @property
    def content_type(self) -> str:
        return ACCEPTED_FORMATS[self.format][1]


def check_size(size: int, limit: int, what: str = "file") -> None:
    """Refuse empty files and files above ``limit`` bytes (413)."""
    if size == 0:
        raise Rejected(f"empty {what} (0 bytes)")
    if size > limit:
        raise Rejected(f"{what} is {size} bytes, above the limit of {limit} bytes", 413)


def probe_image(
    data: bytes,
    max_pixels: int,
    pool: decoding.DecodeBudget | None = None,
    previews: bool = False,
) -> ImageInfo:
    """Validate ``data`` as one image and return its format and size (and, with
    ``previews``, a preview of an image above ``PREVIEW_MIN_PIXELS``).

    Raises :class:`Rejected` for zero bytes, non-images, unsupported formats, more than
    ``max_pixels`` (width × height, checked from the header before decoding) and corrupt
    or truncated data (found by decoding, within ``pool``, the process budget by default).
    """
    if not data:
        raise Rejected("empty file (0 bytes)")
    try:
        im = Image.open(io.BytesIO(data), formats=list(ACCEPTED_FORMATS))
    except Image.DecompressionBombError as exc:
        raise Rejected(f"image has too many pixels ({exc})", 413) from exc
    except UnidentifiedImageError as exc:
        raise Rejected("not a JPEG, PNG, WebP or BMP image") from exc
    except Exception as exc:  # malformed headers raise many kinds of errors in Pillow
        raise Rejected(f"corrupt image header ({_short(exc)})") from exc
    with im:
        width, height = im.size
        if width <= 0 or height <= 0:
            raise Rejected(f"invalid image size {width}x{height}")
        if width * height > max_pixels:
            raise Rejected(
                f"image is {width}x{height} = {width * height} pixels, above the limit of "
                f"{max_pixels} pixels",
                413,
            )
        fmt = str(im.format)
        pool = pool or decoding.budget()
        preview = None
        try:
            if previews and width * height > decoding.PREVIEW_MIN_PIXELS:
                preview = to_jpeg(decoding.decode_small(im, decoding.PREVIEW_SIDE, pool))
            else:
                if fmt == "JPEG":
                    im.draft(None, (max(1, im.width // 8), max(1, im.height // 8)))
                with pool.reserve(decoding.decode_cost(im)):
                    im.load()
        except Exception as exc:
            raise Rejected(f"corrupt or truncated image data ({_short(exc)})") from exc
        if exif_orientation(im) in SWAPS_AXES:  # after the decode (see exif_orientation)
            width, height = height, width
    return ImageInfo(format=fmt, width=width, height=height, preview=preview)


def to_jpeg(im: Image.Image, quality: int = 85) -> bytes:
    out = io.BytesIO()
    im.save(out, "JPEG", quality=quality)
    return out.getvalue()


def safe_filename(name: str | None, fallback: str) -> str:
    """The base name of a client-supplied path, without control characters, ≤ 255 chars."""
    base = _CONTROL.sub("", (name or "").replace("\\", "/").rsplit("/", 1)[-1]).strip()
    if base in ("", ".", ".."):
        return fallback
    if len(base) > MAX_FILENAME:
        stem, dot, ext = base.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            return f"{stem[: MAX_FILENAME - len(ext) - 1]}.{ext}"
        return base[:MAX_FILENAME]
    return base


def _short(exc: BaseException) -> str:
    msg = str(exc).strip() or type(exc).__name__
    return msg if len(msg) <= 200 else msg[:197] + "..."


class StagedFiles:
    """Keys written to storage in the current transaction; deleted if it does not commit.

    Use around the service call AND the commit::

        with StagedFiles(storage) as staged:
            result = images.ingest_uploads(..., staged=staged)
            db.commit()

    Any exception inside the block deletes every staged key, so nothing is half-stored.
    Delete before the transaction ends: while it is open it holds the locks on the rows
    whose files these are, so no other request can have stored the same image (same
    content-addressed key) in between. Committing through :meth:`commit` keeps the files
    when the commit itself fails, as its outcome is then unknown (it may have succeeded
    with its answer lost): a possible orphan file, never a row without its file.
    """

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.keys: list[str] = []
        self._lock = threading.Lock()

    def put(self, key: str, data: bytes) -> None:
        self.storage.put_bytes(key, data)
        with self._lock:
            self.keys.append(key)

    def put_all(
        self, blobs: Sequence[tuple[str, bytes]], rereads: Sequence[tuple[str, Callable[[], bytes]]]
    ) -> None:
        """Store ``blobs`` concurrently (up to ``WRITERS`` at once: each write to a remote
        store is mostly waiting on the network) while ``rereads`` (bytes not kept in memory)
        are read and stored one at a time on this thread, so at most one re-read file is in
        memory. Returns when every write has ended; raises the first error after that, so
        :meth:`discard` then sees every key that was written."""
        if not blobs:
            for key, read in rereads:
                self.put(key, read())
            return
        with ThreadPoolExecutor(min(WRITERS, len(blobs)), "alp-store") as ex:
            futures = [ex.submit(self.put, key, data) for key, data in blobs]
            try:
                for key, read in rereads:
                    self.put(key, read())
            finally:
                wait(futures)
        for f in futures:
            f.result()

    def commit(self, db: Session) -> None:
        """``db.commit()``; if it raises, the staged files are kept (see the class doc)."""
        try:
            db.commit()
        except BaseException:
            self.keys.clear()
            raise

    def discard(self) -> None:
        """Delete the staged keys (best effort: a store that fails now leaves orphans,
        which ``alp storage check --fix`` removes; the original error is what propagates)."""
        for key in self.keys:
            try:
                self.storage.delete(key)
            except Exception:
                log.warning("could not delete staged blob %s; left as an orphan", key)
        self.keys.clear()

    def __enter__(self) -> StagedFiles:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.discard()
