"""Images: multipart/zip upload, listing, metadata, content (API key or signed URL)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from alp.schemas_images import ImageDetail, ImagePage, UploadResult
from alp.services import audit, deletion, images, ingest, pools, signing
from alp.services.uploads import StagedFiles
from api.blobs import blob_response
from api.deps import DB, KEYED, Bearer, Id, Key, SessionCookie, State, require_key
from api.forms import (
    MULTIPART_SLACK,
    form_choice,
    form_files,
    multipart_body,
    open_form,
    run_staged,
)

router = APIRouter(tags=["images"], dependencies=KEYED)
# Routes with their own authorisation (an API key or a signed URL).
public = APIRouter(tags=["images"])

CACHE_CONTROL = "private, max-age=86400, immutable"  # content of an image id never changes
StateParam = Literal["unlabeled", "queued", "labeled", "skipped"]
SplitParam = Literal["train", "val"]

_UPLOAD_BODY = multipart_body(
    {
        "files": {
            "type": "array",
            "items": {"type": "string", "format": "binary"},
            "description": "Images (JPEG, PNG, WebP, BMP) and/or .zip archives.",
        },
        "split": {"type": "string", "enum": ["train", "val"]},
    },
    required=["files"],
)


@router.post(
    "/pools/{pool_id}/images",
    status_code=201,
    response_model=UploadResult,
    openapi_extra=_UPLOAD_BODY,
    responses={
        200: {"description": "Nothing new (duplicates)", "model": UploadResult},
        413: {},
        422: {},
    },
)
async def upload_images(pool_id: Id, request: Request, db: DB, st: State) -> Response:
    """Upload images and/or zips. 201 if any file was stored, 200 if all were duplicates,
    413/422 (with ``detail``) if every file was rejected; per-file outcome in the body."""
    async with open_form(request, st.settings.max_zip_bytes + MULTIPART_SLACK) as form:
        files = form_files(form, "files")
        split = form_choice(form, "split", ("train", "val"))

        def store(staged: StagedFiles) -> UploadResult:
            pools.get_pool(db, pool_id)
            uploads = [(f.filename, f.file) for f in files]
            return ingest.ingest_uploads(db, st.settings, pool_id, uploads, staged, split)

        result = await run_staged(db, st, store)
    return JSONResponse(result.body(), status_code=result.status_code())


@router.get("/pools/{pool_id}/images", response_model=ImagePage)
def list_images(
    pool_id: Id,
    db: DB,
    state: StateParam | None = None,
    split: SplitParam | None = None,
    cursor: str | None = None,
    limit: int = Query(100, ge=1, le=images.MAX_PAGE),
) -> ImagePage:
    return images.list_images(db, pool_id, state=state, split=split, cursor=cursor, limit=limit)


@router.delete("/images/{image_id}", status_code=204, responses={409: {}})
def delete_image(image_id: Id, db: DB, key: Key) -> None:
    """Delete the image with its annotations (and their history) and selections (409
    while a cycle of its pool is active); the file goes in a worker job after the commit.
    Its Label Studio tasks stay, marked `alp_deleted` by a job after the commit."""
    deletion.delete_image(db, image_id)
    audit.record(db, key.name, "image.deleted", f"image {image_id}")
    db.commit()


@router.get("/images/{image_id}", response_model=ImageDetail)
def get_image(image_id: Id, db: DB, st: State) -> ImageDetail:
    return images.image_detail(db, st.settings, image_id)


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


@public.get(
    "/images/{image_id}/content",
    response_class=Response,
    responses={
        200: {"content": {"image/*": {}}},
        304: {"description": "Not modified"},
        401: {},
        403: {},
    },
    openapi_extra={"security": [{}]},  # or no key at all: a signed URL (expires + sig)
)
def image_content(
    image_id: Id,
    request: Request,
    db: DB,
    st: State,
    bearer: Bearer,
    cookie: SessionCookie,
    expires: str | None = Query(None, description="Signed URL expiry (Unix seconds)."),
    sig: str | None = Query(None, description="Signed URL signature."),
) -> Response:
    """The image bytes. Authorised by an API key, or by ``expires`` + ``sig`` from a
    signed URL (403 when tampered or expired). ``ETag`` is the SHA-256; 304 on match."""
    if expires is not None or sig is not None:
        signing.verify_content_signature(st.settings, image_id, expires, sig)
    else:
        require_key(request, db, bearer, cookie)
    image = images.get_image(db, image_id)
    etag = f'"{image.sha256}"'
    headers: dict[str, Any] = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    presign = st.settings.signed_url_ttl_s if st.settings.storage_presign else None
    missing = f"the content of image {image_id} is missing from storage"
    return blob_response(
        st.storage, image.storage_key, image.content_type, headers, missing, presign
    )
