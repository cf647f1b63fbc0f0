"""JSON the dashboard polls (``/api/v1/dashboard/...``); session cookie or Bearer key."""

from __future__ import annotations

from enum import IntEnum

from fastapi import APIRouter, Query
from fastapi.responses import Response

from alp.services import dashboard, dashboard_gallery, thumbnails
from api import access, blobs
from api.deps import DB, KEYED, Id, Key, State

router = APIRouter(prefix="/dashboard", tags=["dashboard"], dependencies=KEYED)
ThumbnailSize = IntEnum("ThumbnailSize", {f"px{n}": n for n in thumbnails.SIZES})


@router.get("/pools", response_model=list[dashboard.PoolSummary])
def pools_overview(db: DB, key: Key) -> list[dashboard.PoolSummary]:
    rows = dashboard.overview(db)
    return [p for p in rows if p.id in access.visible_pools(key, [p.id for p in rows])]


@router.get("/pools/{pool_id}/status", response_model=dashboard.PoolStatus)
def pool_status(pool_id: Id, db: DB, st: State) -> dashboard.PoolStatus:
    return dashboard.pool_status(db, pool_id, st.settings.worker_stale_after_s)


@router.get("/pools/{pool_id}/gallery", response_model=dashboard_gallery.Gallery)
def pool_gallery(
    pool_id: Id,
    db: DB,
    page: int = Query(1, ge=1),
    per_page: int = Query(24, ge=1, le=dashboard_gallery.MAX_PER_PAGE),
) -> dashboard_gallery.Gallery:
    return dashboard_gallery.gallery(db, pool_id, page, per_page)


@router.get(
    "/selections/{selection_id}/thumbnail",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}, "description": "A JPEG thumbnail"}},
)
def selection_thumbnail(
    selection_id: Id,
    db: DB,
    st: State,
    size: ThumbnailSize = Query(256, description="Longest side in pixels."),
) -> Response:
    key = thumbnails.selection_thumbnail(db, st.storage, selection_id, int(size))
    headers = {"Cache-Control": "private, max-age=86400"}
    missing = f"thumbnail of selection {selection_id} is missing from storage"
    return blobs.blob_response(st.storage, key, "image/jpeg", headers, missing)


@router.get(
    "/images/{image_id}/thumbnail",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}, "description": "A JPEG thumbnail"}},
)
def image_thumbnail(
    image_id: Id,
    db: DB,
    st: State,
    size: ThumbnailSize = Query(256, description="Longest side in pixels."),
) -> Response:
    """The image with its stored on-demand prediction's boxes drawn (plain without one)."""
    key = thumbnails.image_thumbnail(db, st.storage, image_id, int(size))
    headers = {"Cache-Control": "private, no-cache"}  # a new prediction changes it
    missing = f"thumbnail of image {image_id} is missing from storage"
    return blobs.blob_response(st.storage, key, "image/jpeg", headers, missing)
