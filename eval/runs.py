"""Running an eval suite outside the CLI: runs requested through the API are rows in the SQL store, executed by a
Celery worker, and leave the same run folder (results.json, report.md, charts) as `cairn eval`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from core.db import Database, EvalRunRow, utcnow
from core.settings import Settings
from eval import beir, chunking
from eval.report import new_run_id, save_run
from eval.services import EvalServices, OpenServices

SUITES = ("chunking", "beir")


class EvalRequestError(ValueError):
    """The request names no dataset this deployment offers, or options the suite does not take."""


@dataclass(frozen=True)
class EvalRunView:
    id: str
    suite: str
    dataset: str
    options: dict
    status: str
    result: dict | None
    error: str | None
    created_at: str
    finished_at: str | None


def _view(row: EvalRunRow) -> EvalRunView:
    return EvalRunView(
        row.id, row.suite, row.dataset, row.options, row.status, row.result, row.error, row.created_at.isoformat(),
        row.finished_at.isoformat() if row.finished_at else None,
    )


class EvalRunStore:
    def __init__(self, db: Database, runs_dir: Path):
        self.db = db
        self.runs_dir = runs_dir  # one folder per run

    def create(self, tenant: str, suite: str, dataset: str, options: dict) -> str:
        run_id = new_run_id(suite)
        with self.db.session() as s:
            s.add(EvalRunRow(id=run_id, tenant=tenant, suite=suite, dataset=dataset, options=options))
        return run_id

    def get(self, run_id: str, tenant: str | None = None) -> EvalRunView | None:
        with self.db.session() as s:
            row = s.get(EvalRunRow, run_id)
            if row is None or (tenant is not None and row.tenant != tenant):
                return None
            return _view(row)

    def list(self, tenant: str, limit: int = 50) -> list[EvalRunView]:
        with self.db.session() as s:
            rows = s.scalars(
                select(EvalRunRow).where(EvalRunRow.tenant == tenant).order_by(EvalRunRow.created_at.desc()).limit(limit)
            )
            return [_view(r) for r in rows]

    def _set(self, run_id: str, **values) -> None:
        with self.db.session() as s:
            row = s.get(EvalRunRow, run_id)
            for key, value in values.items():
                setattr(row, key, value)

    def start(self, run_id: str) -> EvalRunView | None:
        """Marks a queued run running and returns it; None when it is not queued (already taken or finished)."""
        with self.db.session() as s:
            row = s.get(EvalRunRow, run_id)
            if row is None or row.status != "queued":
                return None
            row.status = "running"
            return _view(row)

    def recover(self) -> list[str]:
        """At start-up of a process that is the only one running evals (the embedded profile): a run it left
        `running` died with it and is marked failed; `queued` ones (lost with the in-memory broker) are returned to
        be queued again."""
        with self.db.session() as s:
            rows = list(s.scalars(select(EvalRunRow).where(EvalRunRow.status.in_(("queued", "running")))))
            for row in rows:
                if row.status == "running":
                    row.status, row.error, row.finished_at = "failed", "interrupted: the process running it stopped", utcnow()
            return [row.id for row in rows if row.status == "queued"]

    def succeed(self, run_id: str, result: dict) -> None:
        self._set(run_id, status="succeeded", result=result, finished_at=utcnow())

    def fail(self, run_id: str, error: str) -> None:
        self._set(run_id, status="failed", error=error, finished_at=utcnow())

    def folder(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def files(self, run_id: str) -> list[str]:
        folder = self.folder(run_id)
        return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def resolve_dataset(settings: Settings, dataset: str, suite: str) -> Path:
    """A dataset named by a request: a folder below `eval.datasets_dir`, never outside it."""
    if suite not in SUITES:
        raise EvalRequestError(f"unknown suite {suite!r}; choose one of {', '.join(SUITES)}")
    root = settings.eval.datasets_dir
    if root is None:
        raise EvalRequestError("this deployment offers no eval datasets (set CAIRN_EVAL__DATASETS_DIR)")
    root = root.resolve()
    folder = (root / dataset).resolve()
    if not folder.is_relative_to(root) or not folder.is_dir():
        raise EvalRequestError(f"no dataset {dataset!r} under the eval datasets folder")
    marker = "questions.csv" if suite == "chunking" else "corpus.jsonl"
    if not (folder / marker).is_file():
        raise EvalRequestError(f"dataset {dataset!r} is not a {suite} dataset (no {marker})")
    return folder


def list_datasets(settings: Settings) -> list[dict]:
    """The datasets below `eval.datasets_dir` a run can name, with the suite each one is for."""
    root = settings.eval.datasets_dir
    if root is None or not root.is_dir():
        return []
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for suite, marker in (("chunking", "questions.csv"), ("beir", "corpus.jsonl")):
            if (folder / marker).is_file():
                found.append({"dataset": folder.name, "suite": suite})
    return found


EVAL_TENANT = "cairn-eval"


def eval_settings(settings: Settings, dataset: Path) -> Settings:
    """Evaluations keep their own index and caches (under the data dir), apart from the served collections, and
    their own tenant: with a shared database or Qdrant server (server profile) eval documents stay out of every
    served tenant's lists and searches."""
    return settings.model_copy(
        update={"data_dir": settings.resolved_data_dir / "eval" / dataset.resolve().name, "tenant": EVAL_TENANT}
    )


def run_suite(services: EvalServices, suite: str, folder: Path, options: dict) -> dict:
    """Runs one suite on the services of an eval deployment (see eval_settings)."""
    if suite == "chunking":
        return chunking.run(
            services, folder, variants=chunking.parse_variants(options.get("variants") or ()), corpora=tuple(options.get("corpora") or ()),
            limit=options.get("limit"), k=options.get("k") or chunking.K,
            budget=options.get("budget") or chunking.BUDGET_TOKENS, llm_judge=bool(options.get("llm_judge")),
        )
    return beir.run(services, folder, modes=beir.check_modes(options.get("modes") or ("dense", "sparse", "hybrid")),
                    limit=options.get("limit"))


def check_options(suite: str, options: dict) -> None:
    if suite == "chunking":
        chunking.parse_variants(options.get("variants") or ())
        if options.get("modes"):
            raise EvalRequestError("`modes` belongs to the beir suite")
    else:
        beir.check_modes(options.get("modes") or ())
        if options.get("variants") or options.get("corpora"):
            raise EvalRequestError("`variants` and `corpora` belong to the chunking suite")


# (ids, unsent) -> None: queues one eval task per run id; `unsent(id)` records one the broker did not take.
SendRuns = Callable[[list[str], Callable[[str], object]], None]


class EvalRuns:
    """Eval runs requested through the API: validated and queued now, executed by a worker later on an eval
    deployment of their own (`open_services`), one at a time per process (an embedded eval index opens once)."""

    def __init__(self, settings: Settings, store: EvalRunStore, send: SendRuns, open_services: OpenServices):
        self.settings = settings
        self.store = store
        self._send = send
        self._open_services = open_services
        self._lock = threading.Lock()

    def submit(self, tenant: str, suite: str, dataset: str, options: dict) -> str:
        """Validates the request now (a bad one is refused, not queued to fail later) and queues the run."""
        resolve_dataset(self.settings, dataset, suite)
        try:
            check_options(suite, options)
        except ValueError as exc:
            raise EvalRequestError(str(exc)) from None
        run_id = self.store.create(tenant, suite, dataset, options)
        self.enqueue([run_id])
        return run_id

    def enqueue(self, run_ids: list[str]) -> None:
        self._send(run_ids, lambda run_id: self.store.fail(run_id, "the queue is unavailable; the run was not started, submit again"))

    def execute(self, run_id: str) -> str:
        """The Celery task's body: run, store the result and the run folder; any failure is recorded, never raised."""
        view = self.store.start(run_id)
        if view is None:
            return "skipped"
        try:
            folder = resolve_dataset(self.settings, view.dataset, view.suite)
            with self._lock, self._open_services(eval_settings(self.settings, folder)) as services:
                result = run_suite(services, view.suite, folder, view.options)
            result["run_id"] = run_id
            save_run(result, self.store.folder(run_id))
        except Exception as exc:  # a bad dataset or a defect: the run fails with its reason, the worker carries on
            self.store.fail(run_id, f"{type(exc).__name__}: {exc}")
            return "failed"
        self.store.succeed(run_id, result)
        return "succeeded"
