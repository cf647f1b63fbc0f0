"""Predictions on demand: a ``predict`` job on the gpu queue; results per image are
returned by ``GET /images/{id}`` (``prediction``)."""

from __future__ import annotations

from fastapi import APIRouter

from alp.schemas_predictions import PredictionRequest, PredictionStarted
from alp.services import job_rows, predictions
from api.deps import DB, KEYED, Id, State

router = APIRouter(tags=["models"], dependencies=KEYED)


@router.post("/pools/{pool_id}/predictions", status_code=202, response_model=PredictionStarted)
def request_predictions(
    pool_id: Id, body: PredictionRequest, db: DB, st: State
) -> PredictionStarted:
    """Detections of the pool's best model (or ``cycle_id``'s) on ``image_ids`` (default:
    every unlabeled image); 404 for images of another pool or a cycle without a model."""
    job, cycle, count = predictions.request(db, st.storage, pool_id, body)
    db.commit()
    return PredictionStarted(job=job_rows.to_out(job), cycle_id=cycle.id, image_count=count)
