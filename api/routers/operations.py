"""Operations: Prometheus metrics, the cost projection, the drift report, API keys, calibrations (admin routes)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Query
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.deps import (
    Admin,
    AnswerLogDep,
    CalibrationsDep,
    EmbedderDep,
    KeysDep,
    MetricsDep,
    ReviewDep,
    SettingsDep,
)
from api.errors import ApiError
from api.schemas import CalibrationRequest, KeyInfo, KeyRequest
from eval import cost as cost_report
from eval import drift as drift_report

router = APIRouter(tags=["operations"])


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics(metrics: MetricsDep, who: Admin):
    """Prometheus exposition: request counts and latency, `rag_stage_duration_seconds{stage}`, fallbacks by reason,
    review-queue depth, feedback, tokens and cost by model, ingestion items by status, queue length, drift."""
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/cost")
def cost(log: AnswerLogDep, settings: SettingsDep, who: Admin, days: float = Query(default=30, gt=0, le=3650)) -> dict:
    """The recorded request mix of the last `days`, priced, projected to 100 / 10,000 / 100,000 requests a day."""
    return cost_report.tenant_report(log, settings, who.tenant, days)


@router.get("/v1/drift")
def drift(
    log: AnswerLogDep, review: ReviewDep, embedder: EmbedderDep, metrics: MetricsDep, who: Admin,
    recent_days: float = Query(default=7, gt=0, le=365), reference_days: float = Query(default=28, gt=0, le=3650),
) -> dict:
    """Recent questions against the reference window before them; also published as `cairn_drift_*` metrics."""
    return drift_report.tenant_report(log, review, embedder, metrics, who.tenant, datetime.now(UTC), recent_days,
                                      reference_days)


@router.post("/v1/keys", response_model=KeyInfo, status_code=201)
def create_key(body: KeyRequest, keys: KeysDep, who: Admin):
    """A new key for the caller's tenant (an admin cannot mint keys for another tenant)."""
    row, key = keys.create(who.tenant, body.role, body.name)
    return KeyInfo.model_validate(row, from_attributes=True).model_copy(update={"key": key})


@router.get("/v1/keys", response_model=list[KeyInfo])
def list_keys(keys: KeysDep, who: Admin):
    return [KeyInfo.model_validate(row, from_attributes=True) for row in keys.list(who.tenant)]


@router.delete("/v1/keys/{key_id}")
def revoke_key(key_id: str, keys: KeysDep, who: Admin) -> dict:
    if not keys.revoke(key_id, tenant=who.tenant):
        raise ApiError(404, "not_found", f"no key {key_id}")
    return {"id": key_id, "revoked": True}


@router.get("/v1/calibrations/current")
def current_calibration(calibrations: CalibrationsDep, who: Admin) -> dict:
    """The calibration answers use now: its version, threshold, weights and what it was fitted on."""
    calibration = calibrations.current()
    if calibration is None:
        raise ApiError(404, "not_found", "answers are not calibrated (CAIRN_ANSWER__CALIBRATE=false, or none was fitted)")
    return calibration.as_dict()


@router.post("/v1/calibrations")
def refit_calibration(body: CalibrationRequest, calibrations: CalibrationsDep, who: Admin) -> dict:
    """Refits the calibration on the labels the current one was fitted on plus the review queue's decisions
    (approved = right, edited or rejected = wrong, an approved fallback = unanswerable); answers use it at once.
    Returns the new version and threshold with before/after figures on held-back labels."""
    try:
        return calibrations.refit(who.tenant, body.max_false_abstention)
    except ValueError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
