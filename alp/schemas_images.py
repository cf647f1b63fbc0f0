"""Pydantic schemas of the images API: upload results, pages, image detail, COCO import.

Kept apart from :mod:`alp.schemas` (owned by the pools API) so the two evolve independently.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, PrivateAttr

from alp.schemas import Box, ImageOut
from alp.schemas_predictions import ImagePredictionOut


class AcceptedFile(BaseModel):
    filename: str
    image_id: int
    sha256: str
    width: int
    height: int


class DuplicateFile(BaseModel):
    filename: str
    image_id: int = Field(description="The image that already holds this content.")


class RejectedFile(BaseModel):
    filename: str
    reason: str


class UploadResult(BaseModel):
    """Per-file outcome. A zip member is reported as ``archive.zip/path/in/zip``."""

    accepted: list[AcceptedFile] = Field(default_factory=list)
    duplicates: list[DuplicateFile] = Field(default_factory=list)
    rejected: list[RejectedFile] = Field(default_factory=list)
    _statuses: list[int] = PrivateAttr(default_factory=list)  # HTTP status per rejection

    def status_code(self) -> int:
        """201 if anything new was stored, 200 if only duplicates (or nothing); when every
        file was rejected: 413 if all hit a size limit, else 422."""
        if self.accepted:
            return 201
        if self.duplicates or not self.rejected:
            return 200
        return 413 if self._statuses and all(s == 413 for s in self._statuses) else 422

    def body(self) -> dict[str, Any]:
        """The JSON body; an error status also gets ``detail`` summarising the rejections."""
        out = self.model_dump()
        if self.status_code() >= 400:
            reasons = "; ".join(f"{r.filename}: {r.reason}" for r in self.rejected[:5])
            more = f" (and {len(self.rejected) - 5} more)" if len(self.rejected) > 5 else ""
            out = {"detail": f"no file was accepted: {reasons}{more}", **out}
        return out


class ImagePage(BaseModel):
    items: list[ImageOut]
    next_cursor: str | None = Field(
        None, description="Pass as ?cursor= for the next page; null on the last page."
    )


class ImageDetail(ImageOut):
    boxes: list[Box] | None = Field(
        None, description="Boxes of the latest annotation when the image is labeled."
    )
    annotation_source: str | None = None
    content_url: str = Field(description="Signed, expiring URL of the content (no key needed).")
    prediction: ImagePredictionOut | None = Field(
        None, description="Latest on-demand detections (POST /pools/{id}/predictions)."
    )


class CocoImportResult(BaseModel):
    images_labeled: int = Field(description="Images that received an import annotation.")
    images_from_archive: int = Field(0, description="New images stored from the archive.")
    annotations: int = Field(description="Boxes imported.")
    classes_added: list[str] = Field(default_factory=list)
    skipped_crowd: int = Field(0, description="iscrowd=1 annotations (not imported).")
    problems: list[str] = Field(
        default_factory=list, description="What was skipped and why (strict=false only)."
    )
    upload: UploadResult | None = Field(None, description="Outcome of the archive's members.")
