"""Multipart uploads shared by the upload and import routes: the OpenAPI request body,
reading the form (size limit, files spool to disk), its file fields, running the storing
work in the threadpool with :class:`~alp.services.uploads.StagedFiles`, and JSON answers
sent as a download."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from alp.db import ApiKey
from alp.errors import PayloadTooLarge, Unprocessable
from alp.schemas_images import CocoImportResult
from alp.services import audit
from alp.services.json_files import MAX_JSON_BYTES
from alp.services.uploads import StagedFiles
from api.deps import AppState

MAX_FILES_PER_REQUEST = 1000
MULTIPART_SLACK = 1024 * 1024  # headers and boundaries on top of the largest allowed payload
T = TypeVar("T")
# ``strict`` query parameter of the label imports
Strict = Annotated[bool, Query(description="Refuse the whole import on any problem.")]


def import_limit(st: AppState) -> int:
    """Largest body of a label import: a zip of images, a JSON file and multipart framing."""
    return st.settings.max_zip_bytes + MAX_JSON_BYTES + MULTIPART_SLACK


def multipart_body(properties: dict[str, Any], required: list[str] | None = None) -> dict:
    """``openapi_extra`` of a route reading a ``multipart/form-data`` body with these
    ``properties`` (``required``: the fields it must have)."""
    schema: dict[str, Any] = {"type": "object"}
    if required:
        schema["required"] = required
    schema["properties"] = properties
    return {
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": schema}},
        }
    }


async def read_form(request: Request, max_bytes: int) -> FormData:
    """Parse the multipart body (files spool to disk, not RAM); called after authentication.
    A declared ``Content-Length`` above ``max_bytes`` is refused (413) before reading."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(
            f"request body is {declared} bytes, above the limit of {max_bytes} bytes; "
            "send fewer files per request"
        )
    return await request.form(max_files=MAX_FILES_PER_REQUEST, max_fields=50)


@asynccontextmanager
async def open_form(request: Request, max_bytes: int) -> AsyncIterator[FormData]:
    """:func:`read_form`, closed (its spooled files deleted) when the block ends."""
    form = await read_form(request, max_bytes)
    try:
        yield form
    finally:
        await form.close()


def form_files(form: FormData, field: str, required: bool = True) -> list[UploadFile]:
    values = form.getlist(field)
    if not values and required:
        raise Unprocessable(f"send the files as multipart/form-data field {field!r}")
    if any(not isinstance(v, UploadFile) for v in values):
        raise Unprocessable(f"form field {field!r} must contain files, not text")
    return [v for v in values if isinstance(v, UploadFile)]


def form_choice(form: FormData, field: str, choices: tuple[str, ...]) -> str | None:
    value = form.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or value not in choices:
        raise Unprocessable(f"{field} must be one of {', '.join(choices)}")
    return value


async def run_staged(db: Session, st: AppState, store: Callable[[StagedFiles], T]) -> T:
    """In the threadpool: ``store(staged)`` (it flushes), then commit the session and keep
    the staged files; on any error nothing stays stored (see ``StagedFiles``)."""

    def work() -> T:
        with StagedFiles(st.storage) as staged:
            result = store(staged)
            staged.commit(db)
        return result

    return await run_in_threadpool(work)


async def import_labels(
    db: Session,
    st: AppState,
    key: ApiKey,
    pool_id: int,
    fmt: str,
    do_import: Callable[[StagedFiles], CocoImportResult],
) -> CocoImportResult:
    """:func:`run_staged` of a label import, audited as ``labels.imported`` (format, images
    labeled) in the same transaction."""

    def store(staged: StagedFiles) -> CocoImportResult:
        result = do_import(staged)
        audit.record(
            db, key.name, "labels.imported", f"pool {pool_id}", format=fmt,
            images_labeled=result.images_labeled,
        )  # fmt: skip
        return result

    return await run_staged(db, st, store)


def json_download(body: Any, filename: str) -> JSONResponse:
    """``body`` as JSON, offered as the file ``filename`` (``Content-Disposition``)."""
    return JSONResponse(body, headers={"Content-Disposition": f'attachment; filename="{filename}"'})
