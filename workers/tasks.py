"""What one ingestion task does: run the pipeline on one job item and record its outcome, whatever happens."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from core.db import CONNECTION_ERRORS, DatabaseUnavailable
from core.types import DiskFull, DocumentLabels, Stage, TransientError, is_disk_full
from core.vectorstore import VectorStore
from ingest.catalog import DocumentCatalog
from ingest.pipeline import IngestService, IngestTarget, store_name
from workers.jobs import JobStore

log = logging.getLogger("cairn.worker")

# Stage changes are written at most this often per item by default (settings.worker.stage_write_interval_s).
STAGE_WRITE_INTERVAL_S = 0.5


class StageReporter:
    def __init__(self, jobs, item_id: str, interval_s: float = STAGE_WRITE_INTERVAL_S):
        self.jobs, self.item_id, self.interval_s = jobs, item_id, interval_s
        self._last = time.monotonic()  # `start` has just written the parsing stage

    def __call__(self, stage: Stage, progress: float) -> None:
        now = time.monotonic()
        if now - self._last >= self.interval_s:
            self.jobs.set_stage(self.item_id, stage, progress)
            self._last = now


def transient(exc: Exception) -> TransientError | None:
    """The failure as one that passes (the task is retried): a TransientError as it is, a full data disk as a
    DiskFull, a lost database connection as a DatabaseUnavailable; None for any other (the item fails)."""
    if isinstance(exc, TransientError):
        return exc
    if is_disk_full(exc):
        return DiskFull(f"the data disk is full: {exc}")
    if isinstance(exc, CONNECTION_ERRORS):
        return DatabaseUnavailable(f"the database connection failed: {type(exc).__name__}")
    return None


class ItemRunner:
    """Runs one ingestion job item (a Celery task's body) and records its outcome, whatever happens."""

    def __init__(self, jobs: JobStore, ingest: IngestService, catalog: DocumentCatalog, store: VectorStore, prefix: str,
                 stage_write_interval_s: float = STAGE_WRITE_INTERVAL_S):
        self.jobs = jobs
        self.stage_write_interval_s = stage_write_interval_s
        self.ingest = ingest
        self.catalog = catalog
        self.store = store
        self.prefix = prefix  # the Qdrant collection-name prefix

    def run(self, item_id: str, final_attempt: bool, claim: str | None = None) -> str:
        """Ingests one job item as task `claim` (the Celery task id). A full data disk or a lost database
        connection, wherever it is met (even while recording an outcome), is transient: the task is retried, and the
        item resumes once there is space or the database is back."""
        try:
            return self._run(item_id, final_attempt, claim)
        except Exception as exc:
            retried = transient(exc)
            if retried is None or retried is exc:
                raise
            raise retried from exc

    def _run(self, item_id: str, final_attempt: bool, claim: str | None) -> str:
        started = self.jobs.start(item_id, claim)
        if started is None:
            return "not-started"  # finished already, or another copy of this task has it
        item, job = started
        target = IngestTarget(job.tenant, job.collection, job.strategy, written_by=job.api_key_id)
        stored = Path(item.stored_path)
        try:
            outcome = self.ingest.ingest(
                stored,
                display=item.path,
                source=item.source,
                target=target,
                labels=DocumentLabels(tuple((item.labels or {}).get("tags", ())), (item.labels or {}).get("date")),
                on_stage=StageReporter(self.jobs, item_id, self.stage_write_interval_s),
                replace=item.replace,
                accepted_at=job.created_at,  # a delete after the upload wins over it
            )
        except Exception as exc:
            if transient(exc) is not None:
                if not final_attempt:
                    self._show_waiting(item_id, exc)
                    raise  # retried (run() makes it a TransientError)
                status, completed = "failed", self.jobs.fail(item_id, f"dependency unavailable after retries: {exc}")
            else:  # a defect or a broken dependency: this item fails, the worker carries on
                log.exception("ingesting %s failed", item.path)
                status, completed = "failed", self.jobs.fail(item_id, f"internal error: {type(exc).__name__}: {exc}")
            outcome = None
        else:
            status, completed = outcome.status.value, self.jobs.finish(item_id, outcome)
        # An upload stays only while it is a version's content; once the outcome is recorded, any other is removed.
        if outcome is None or not outcome.keeps_file:
            self.ingest.uploads.discard(stored)
        if completed:
            self._complete_job(job)
        return status

    def _show_waiting(self, item_id: str, exc: Exception) -> None:
        """Shows the item queued for its retry, with why (best effort: the database may be what failed)."""
        cause = "the data disk is full" if is_disk_full(exc) else f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        try:
            self.jobs.waiting_retry(item_id, f"waiting to retry: {cause}")
        except Exception:
            log.warning("could not mark %s as waiting to retry", item_id, exc_info=True)

    def _complete_job(self, job) -> None:
        """After a job's last item: record the corpus version, and let the store optimise after the bulk load."""
        self.catalog.record_corpus_version(job.tenant, job.collection)
        self.store.optimize(store_name(self.prefix, job.collection, job.strategy))
