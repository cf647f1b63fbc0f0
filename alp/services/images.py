"""Image queries: keyset-paginated listing, one image with its boxes, content lookup.

Cursors are opaque to clients: URL-safe base64 of ``"i:<last id>"``. Pages are ordered by
id ascending, so images uploaded while paging appear at the end and none repeat.
"""

from __future__ import annotations

import base64
import binascii

from sqlalchemy import select
from sqlalchemy.orm import Session

from alp.config import Settings
from alp.db import Image
from alp.db.tables import MAX_ID
from alp.errors import BadRequest, NotFound
from alp.schemas import Box, ImageOut
from alp.schemas_images import ImageDetail, ImagePage
from alp.services import pools, predictions
from alp.services.annotations import latest_annotation
from alp.services.signing import signed_content_url

MAX_PAGE = 1000


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"i:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The last id of the previous page; :class:`BadRequest` (400) if not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        last_id = int(value)
        if kind != "i" or not 0 <= last_id <= MAX_ID:
            raise ValueError(raw)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"invalid cursor {cursor[:40]!r}: use next_cursor from a page") from exc
    return last_id


def list_images(
    db: Session,
    pool_id: int,
    *,
    state: str | None = None,
    split: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> ImagePage:
    """Up to ``limit`` (1..1000) images of the pool after ``cursor``, filtered by state and
    split. 404 if the pool does not exist, 400 for a bad cursor."""
    pools.get_pool(db, pool_id)
    if not 1 <= limit <= MAX_PAGE:
        raise BadRequest(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    q = select(Image).where(Image.pool_id == pool_id)
    if state is not None:
        q = q.where(Image.state == state)
    if split is not None:
        q = q.where(Image.split == split)
    if cursor:
        q = q.where(Image.id > decode_cursor(cursor))
    rows = list(db.scalars(q.order_by(Image.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return ImagePage(
        items=[ImageOut.model_validate(r) for r in rows],
        next_cursor=encode_cursor(rows[-1].id) if more else None,
    )


def get_image(db: Session, image_id: int) -> Image:
    image = db.get(Image, image_id)
    if image is None:
        raise NotFound(f"image {image_id} not found")
    return image


def image_detail(db: Session, settings: Settings, image_id: int) -> ImageDetail:
    """Metadata, the latest annotation's boxes when labeled, and a signed content URL."""
    image = get_image(db, image_id)
    base = ImageOut.model_validate(image).model_dump()
    ann = latest_annotation(db, image.id) if image.state == "labeled" else None
    return ImageDetail(
        **base,
        boxes=[Box(**b) for b in ann.boxes] if ann is not None else None,
        annotation_source=ann.source if ann is not None else None,
        content_url=signed_content_url(settings, image.id),
        prediction=predictions.for_image(db, image.id),
    )
