"""Ingestion jobs: status, stage and progress of every file."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import JobsDep, Reader
from api.errors import ApiError
from api.schemas import JobStatus

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.get("/{job_id}", response_model=JobStatus, name="job_status")
def job_status(job_id: str, jobs: JobsDep, who: Reader) -> JobStatus:
    view = jobs.get(job_id, tenant=who.tenant)
    if view is None:
        raise ApiError(404, "not_found", f"no job {job_id}")
    return JobStatus(**view.as_dict())
