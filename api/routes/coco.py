"""COCO import (json + optional zip of images) and export of labeled images."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from alp.errors import Unprocessable
from alp.schemas_images import CocoImportResult
from alp.services import audit, coco
from alp.services.uploads import StagedFiles
from api.deps import DB, KEYED, Id, Key, State
from api.routes.images import MULTIPART_SLACK, SplitParam, form_files, read_form

router = APIRouter(tags=["coco"], dependencies=KEYED)

_IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["annotations"],
                    "properties": {
                        "annotations": {"type": "string", "format": "binary"},
                        "archive": {"type": "string", "format": "binary"},
                    },
                }
            }
        },
    }
}


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
    strict: bool = Query(True, description="Refuse the whole import on any problem."),
) -> CocoImportResult:
    """Label images from a COCO file; images come from ``archive`` (zip) or were uploaded
    before (matched by file base name). All-or-nothing unless ``strict=false``."""
    form = await read_form(
        request, st.settings.max_zip_bytes + coco.MAX_JSON_BYTES + MULTIPART_SLACK
    )
    try:
        ann = form_files(form, "annotations")
        archives = form_files(form, "archive", required=False)
        if len(ann) != 1 or len(archives) > 1:
            raise Unprocessable("send exactly one 'annotations' file and at most one 'archive'")
        archive = (archives[0].filename, archives[0].file) if archives else None

        def work() -> CocoImportResult:
            with StagedFiles(st.storage) as staged:
                result = coco.import_coco(
                    db, st.settings, pool_id, ann[0].file, staged, archive,
                    add_classes=add_classes, strict=strict, author=key.name,
                )  # fmt: skip
                audit.record(
                    db, key.name, "labels.imported", f"pool {pool_id}", format="coco",
                    images_labeled=result.images_labeled,
                )  # fmt: skip
                staged.commit(db)
            return result

        return await run_in_threadpool(work)
    finally:
        await form.close()


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
    disposition = f'attachment; filename="pool-{pool_id}-coco.json"'
    return JSONResponse(body, headers={"Content-Disposition": disposition})
