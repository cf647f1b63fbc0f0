"""COCO import (json + optional zip of images) and export of labeled images."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from alp.errors import Unprocessable
from alp.schemas_images import CocoImportResult
from alp.services import coco
from api.deps import DB, KEYED, Id, Key, State
from api.forms import (
    Strict,
    form_files,
    import_labels,
    import_limit,
    json_download,
    multipart_body,
    open_form,
)
from api.routes.images import SplitParam

router = APIRouter(tags=["coco"], dependencies=KEYED)

_IMPORT_BODY = multipart_body(
    {
        "annotations": {"type": "string", "format": "binary"},
        "archive": {"type": "string", "format": "binary"},
    },
    required=["annotations"],
)


@router.post(
    "/pools/{pool_id}/import/coco", response_model=CocoImportResult, openapi_extra=_IMPORT_BODY
)
async def import_coco(
    pool_id: Id,
    request: Request,
    db: DB,
    st: State,
    key: Key,
    add_classes: bool = Query(False, description="Append unknown categories as classes."),
    strict: Strict = True,
) -> CocoImportResult:
    """Label images from a COCO file; images come from ``archive`` (zip) or were uploaded
    before (matched by file base name). All-or-nothing unless ``strict=false``."""
    async with open_form(request, import_limit(st)) as form:
        ann = form_files(form, "annotations")
        archives = form_files(form, "archive", required=False)
        if len(ann) != 1 or len(archives) > 1:
            raise Unprocessable("send exactly one 'annotations' file and at most one 'archive'")
        archive = (archives[0].filename, archives[0].file) if archives else None
        return await import_labels(
            db, st, key, pool_id, "coco",
            lambda staged: coco.import_coco(
                db, st.settings, pool_id, ann[0].file, staged, archive,
                add_classes=add_classes, strict=strict, author=key.name,
            ),
        )  # fmt: skip


@router.get("/pools/{pool_id}/export/coco")
def export_coco(
    pool_id: Id,
    db: DB,
    split: SplitParam | None = Query(
        None, description="Only this split's images (train or val); all splits when omitted."
    ),
    author: bool = Query(False, description="Add alp_author (who made the boxes) per image."),
    include: Literal["predictions"] | None = Query(
        None,
        description="``predictions``: also export the stored on-demand predictions as COCO "
        "results (top-level ``predictions`` and ``prediction_images``).",
    ),
) -> JSONResponse:
    """COCO json of the labeled images (1-based ids, categories in class order); each image
    entry carries ``alp_image_id`` and ``alp_split``, which an import reads back.
    With ``include=predictions`` it adds ``predictions`` (``{image_id, category_id, bbox
    [x, y, w, h], score, alp_cycle_id}``, the export's own ids) and ``prediction_images``
    (the predicted images that are not labeled, ids continuing after ``images``); an
    import ignores both."""
    body = coco.export_coco(
        db, pool_id, split, with_author=author, with_predictions=include == "predictions"
    )
    return json_download(body, f"pool-{pool_id}-coco.json")
