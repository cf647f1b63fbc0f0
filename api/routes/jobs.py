"""Jobs: progress, message, heartbeat and error of one stage of work."""

from __future__ import annotations

from fastapi import APIRouter

from alp.schemas_cycles import JobOut
from alp.services import job_rows
from api.deps import DB, KEYED, Id

router = APIRouter(tags=["jobs"], dependencies=KEYED)


@router.get("/jobs/{job_id}", response_model=JobOut)
def get_job(job_id: Id, db: DB) -> JobOut:
    return job_rows.to_out(job_rows.get_job(db, job_id))
