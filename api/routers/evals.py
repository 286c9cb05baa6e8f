"""Evaluation runs as Celery jobs: start one, follow it, read its report and charts."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from api.deps import Admin, EvalRunsDep, EvalStoreDep, SettingsDep
from api.errors import ApiError
from api.schemas import EvalRequest, EvalRun, EvalRunList
from eval import runs
from eval.runs import EvalRunStore

router = APIRouter(prefix="/v1/evals", tags=["evals"])


def _run(store: EvalRunStore, request: Request, view) -> EvalRun:
    return EvalRun(
        **view.__dict__, files=store.files(view.id),
        status_url=str(request.url_for("eval_run", run_id=view.id).path),
    )


@router.get("/datasets")
def eval_datasets(settings: SettingsDep, who: Admin) -> dict:
    """The datasets a run can be started on (folders below CAIRN_EVAL__DATASETS_DIR), with their suite."""
    return {"datasets": runs.list_datasets(settings)}


@router.post("", response_model=EvalRun, status_code=202, name="start_eval")
def start_eval(body: EvalRequest, request: Request, evals: EvalRunsDep, who: Admin) -> EvalRun:
    try:
        run_id = evals.submit(who.tenant, body.suite, body.dataset, body.options.model_dump(exclude_none=True))
    except runs.EvalRequestError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
    return _run(evals.store, request, evals.store.get(run_id))


@router.get("", response_model=EvalRunList, name="list_evals")
def list_evals(request: Request, store: EvalStoreDep, who: Admin) -> EvalRunList:
    return EvalRunList(runs=[_run(store, request, v) for v in store.list(who.tenant)])


@router.get("/{run_id}", response_model=EvalRun, name="eval_run")
def eval_run(run_id: str, request: Request, store: EvalStoreDep, who: Admin) -> EvalRun:
    view = store.get(run_id, tenant=who.tenant)
    if view is None:
        raise ApiError(404, "not_found", f"no eval run {run_id}")
    return _run(store, request, view)


@router.get("/{run_id}/files/{name}", name="eval_file", response_class=FileResponse)
def eval_file(run_id: str, name: str, store: EvalStoreDep, who: Admin) -> FileResponse:
    """A file of the run: results.json, report.md or a PNG chart."""
    if store.get(run_id, tenant=who.tenant) is None or name not in store.files(run_id):
        raise ApiError(404, "not_found", f"no file {name!r} in eval run {run_id}")
    return FileResponse(store.folder(run_id) / name)
