"""Dataset transfer: SHA-256 lookup (resumable uploads), YOLO / VOC / Label Studio JSON
import and export (COCO has its own routes in :mod:`api.routes.coco`)."""

from __future__ import annotations

import os
from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from alp.errors import Unprocessable
from alp.schemas_images import CocoImportResult
from alp.services import ingest, pools
from alp.services.formats import common, export, labelstudio_json, voc, yolo
from alp.services.uploads import StagedFiles
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

router = APIRouter(tags=["formats"], dependencies=KEYED)
MAX_LOOKUP = 10_000
ImportFormat = Literal["yolo", "voc", "labelstudio"]
ExportFormat = Literal["yolo", "voc", "labelstudio"]


class HashLookup(BaseModel):
    sha256: list[str] = Field(max_length=MAX_LOOKUP, description="Hex SHA-256 digests.")


class HashLookupResult(BaseModel):
    known: dict[str, int] = Field(description="sha256 -> image id, for hashes in the pool.")


@router.post("/pools/{pool_id}/images/lookup", response_model=HashLookupResult)
def lookup_hashes(pool_id: Id, body: HashLookup, db: DB) -> HashLookupResult:
    """Which of these SHA-256 digests the pool already holds (clients skip those files)."""
    pools.get_pool(db, pool_id)
    wanted = sorted({h.lower() for h in body.sha256})
    return HashLookupResult(known=ingest.existing_ids(db, pool_id, wanted))


_IMPORT_BODY = multipart_body(
    {
        "archive": {
            "type": "string", "format": "binary",
            "description": "zip: yolo/voc labels (+ images); labelstudio: images",
        },
        "annotations": {
            "type": "string", "format": "binary",
            "description": "labelstudio only: the JSON export",
        },
    }
)  # fmt: skip


@router.post(
    "/pools/{pool_id}/import/{fmt}", response_model=CocoImportResult, openapi_extra=_IMPORT_BODY
)
async def import_format(
    pool_id: Id,
    fmt: ImportFormat,
    request: Request,
    db: DB,
    st: State,
    key: Key,
    add_classes: bool = Query(False, description="Append unknown class names as classes."),
    strict: Strict = True,
) -> CocoImportResult:
    """Label images from a YOLO or VOC zip (labels, optionally with the images) or a Label
    Studio JSON export (+ optional zip of images). Images not in the archive match uploaded
    ones by file name. All-or-nothing unless ``strict=false`` (problems listed)."""
    async with open_form(request, import_limit(st)) as form:
        archives = form_files(form, "archive", required=fmt != "labelstudio")
        ann = form_files(form, "annotations", required=fmt == "labelstudio")
        if len(archives) > 1 or len(ann) > (1 if fmt == "labelstudio" else 0):
            raise Unprocessable(
                "send one 'archive' zip" + (" and one 'annotations' JSON" if ann else "")
            )
        archive = (archives[0].filename, archives[0].file) if archives else None

        def do_import(staged: StagedFiles) -> CocoImportResult:
            if fmt == "labelstudio":
                parsed = labelstudio_json.parse(ann[0].file)
            else:
                assert archive is not None
                parsed = (yolo if fmt == "yolo" else voc).parse(archive[1], st.settings)
            return common.import_labels(
                db, st.settings, pool_id, parsed, staged, archive, fmt=fmt,
                add_classes=add_classes, strict=strict, author=key.name,
            )  # fmt: skip

        return await import_labels(db, st, key, pool_id, fmt, do_import)


@router.get(
    "/pools/{pool_id}/export/{fmt}",
    response_class=FileResponse,
    responses={200: {"content": {"application/zip": {}, "application/json": {}}}},
)
def export_format(
    pool_id: Id,
    fmt: ExportFormat,
    db: DB,
    st: State,
    split: SplitParam | None = None,
    images: bool = Query(True, description="Include the image files (yolo/voc)."),
) -> Response:
    """Labeled images as a YOLO zip (``data.yaml``, ``labels/*.txt``, ``images/``), a VOC
    zip (``Annotations/*.xml``, ``JPEGImages/``) or Label Studio JSON tasks."""
    if fmt == "labelstudio":
        body = export.labelstudio_tasks(db, pool_id, split)
        return json_download(body, f"pool-{pool_id}-labelstudio.json")
    path = export.write_zip(
        db, st.storage, pool_id, fmt, split, images, tmp_dir=st.settings.data_dir
    )
    return FileResponse(
        path, media_type="application/zip", filename=f"pool-{pool_id}-{fmt}.zip",
        background=BackgroundTask(os.unlink, path),
    )  # fmt: skip
