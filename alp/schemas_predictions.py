"""Schemas of on-demand predictions (``POST /pools/{id}/predictions``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from alp.db.tables import MAX_ID
from alp.schemas import Box
from alp.schemas_cycles import JobOut

MAX_PREDICTION_IMAGES = 100_000


class PredictionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image_ids: list[int] | None = Field(
        None, max_length=MAX_PREDICTION_IMAGES,
        description="Images of the pool to predict; default: every unlabeled image.",
    )  # fmt: skip
    cycle_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="Whose model; default: the pool's best model."
    )


class PredictionStarted(BaseModel):
    """Answer of ``POST /pools/{id}/predictions`` (HTTP 202)."""

    job: JobOut
    cycle_id: int = Field(description="The cycle whose model predicts.")
    image_count: int


class ModelExportStarted(BaseModel):
    """Answer of ``GET .../model?format=onnx`` while the file is being made (HTTP 202):
    poll ``GET /jobs/{id}`` (``Location``), then ask for the model again."""

    job: JobOut
    cycle_id: int = Field(description="The cycle whose model is exported.")
    format: str = "onnx"


class ImagePredictionOut(BaseModel):
    """The latest on-demand detections of an image (``GET /images/{id}``)."""

    model_config = ConfigDict(from_attributes=True)

    cycle_id: int | None
    job_id: int | None
    boxes: list[Box] = Field(description="Boxes in image pixels with label names and scores.")
    created_at: datetime
