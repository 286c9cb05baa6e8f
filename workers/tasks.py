"""What one ingestion task does: run the pipeline on one job item and record its outcome, whatever happens."""

from __future__ import annotations

import logging
from pathlib import Path

from core.types import TransientError
from ingest.pipeline import IngestTarget, store_name

log = logging.getLogger("cairn.worker")


def run_item(runtime, item_id: str, final_attempt: bool) -> str:
    found = runtime.jobs.item(item_id)
    if found is None:
        return "missing"
    item, job = found
    if not runtime.jobs.start_attempt(item_id):
        return "already-done"
    target = IngestTarget(job.tenant, job.collection, job.strategy)
    try:
        outcome = runtime.ingest.ingest(
            Path(item.stored_path),
            display=item.path,
            source=item.source,
            target=target,
            on_stage=lambda stage, progress: runtime.jobs.set_stage(item_id, stage, progress),
        )
    except TransientError as exc:
        if not final_attempt:
            raise
        runtime.jobs.fail(item_id, f"dependency unavailable after retries: {exc}")
        return "failed"
    except Exception as exc:  # a defect or a broken dependency: this item fails, the worker carries on
        log.exception("ingesting %s failed", item.path)
        runtime.jobs.fail(item_id, f"internal error: {type(exc).__name__}: {exc}")
        return "failed"
    runtime.jobs.finish(item_id, outcome)
    _finish_job_if_complete(runtime, job)
    return outcome.status.value


def _finish_job_if_complete(runtime, job) -> None:
    if not runtime.jobs.is_finished(job.id):
        return
    runtime.catalog.record_corpus_version(job.tenant, job.collection)
    runtime.store.optimize(store_name(runtime.settings.qdrant.prefix, job.collection, job.strategy))
