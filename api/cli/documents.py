"""Documents and questions: ingest, search, ask, and the `documents` group."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import fail, open_root
from core.settings import Settings
from core.vectorstore import StoreLocked
from retrieval.audit import purge
from workers.inprocess import InProcessWorker
from workers.submit import BrokerUnavailable, collect_files

documents_app = typer.Typer(help="Manage documents.", no_args_is_help=True)


def _describe(entry: dict) -> str:
    status = entry["status"]
    if status in ("indexed", "replaced"):
        return f"{status} ({entry['chunks']} chunks)"
    if status in ("rejected", "failed"):
        return f"{status}: {entry['reason']}"
    if status == "conflict":
        return f"conflict: {entry['reason'].removeprefix('conflict: ')}" if entry.get("reason") else status
    return status


def _wait(root, job_id: str, show_progress: bool, worker=None):
    def check_worker() -> None:
        if worker is not None and not worker.alive:
            raise RuntimeError("the in-process worker stopped unexpectedly; unfinished files stay queued for the next run")

    if not show_progress:
        while not root.jobs.is_finished(job_id):
            check_worker()
            time.sleep(0.2)
        return root.jobs.get(job_id)
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task("queued", total=1.0)
        while True:
            status, progress = root.jobs.summary(job_id)
            bar.update(task, completed=progress, description=status)
            if status in ("done", "failed"):
                return root.jobs.get(job_id)
            check_worker()
            time.sleep(0.2)


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders (recursive).")],
    collection: Annotated[str | None, typer.Option(help="Collection to ingest into.")] = None,
    strategy: Annotated[str | None, typer.Option(help="Chunking strategy.")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for every file's outcome.")] = True,
    no_replace: Annotated[
        bool, typer.Option("--no-replace", help="A file whose document has other content is a conflict, left as it is.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print outcomes as JSON.")] = False,
) -> None:
    """Ingest files and folders: each file ends indexed, unchanged, replaced, conflict (with --no-replace) or
    rejected (with the reason). A `.cairnignore` in a folder (gitignore syntax) leaves out what it matches."""
    settings = Settings()
    collection = collection or settings.collection
    strategy = strategy or settings.chunking.strategy
    if not wait and settings.in_process_worker:
        fail("--no-wait needs a queue and separate workers (set CAIRN_REDIS_URL and run `cairn worker`)")
    files = collect_files(paths, replace=not no_replace)
    if not files:
        fail("no files found under the given paths")
    root = open_root()
    worker = None
    try:
        if settings.in_process_worker:
            root.open_ingestion()  # a conflict over the embedded index is reported before any work
            worker = InProcessWorker(root.celery, settings.worker.concurrency)
            worker.start()
        job_id = root.submitter.submit(files, tenant=settings.tenant, collection=collection, strategy=strategy)
        if not wait:
            typer.echo(json.dumps({"job_id": job_id}) if as_json else f"queued job {job_id}")
            return
        view = _wait(root, job_id, show_progress=sys.stderr.isatty() and not as_json, worker=worker)
    except (StoreLocked, BrokerUnavailable, ValueError, RuntimeError) as exc:
        fail(str(exc))
    finally:
        if worker is not None:
            worker.stop()
        root.close()
    entries = [{k: d[k] for k in ("path", "document_id", "status", "chunks", "reason")} for d in view.documents]
    if as_json:
        typer.echo(json.dumps(entries, indent=2))
    else:
        for entry in entries:
            typer.echo(f"{entry['path']}: {_describe(entry)}")
    if any(d["status"] == "failed" for d in view.documents):
        raise typer.Exit(1)


def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=100, help="How many chunks.")] = 5,
    collection: Annotated[str | None, typer.Option(help="Collection to search.")] = None,
    strategy: Annotated[str | None, typer.Option(help="Which strategy's index.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Retrieval only: ranked chunks (hybrid dense + BM25) with scores and where they come from."""
    settings = Settings()
    root = open_root()
    try:
        hits = root.search.search(
            query, tenant=settings.tenant, collection=collection or settings.collection, strategy=strategy, top_k=top_k
        )
    except (StoreLocked, ValueError) as exc:
        fail(str(exc))
    finally:
        root.close()
    if as_json:
        typer.echo(json.dumps([h.as_dict() for h in hits], indent=2))
        return
    for rank, hit in enumerate(hits, start=1):
        where = f"{hit.source}" + (f", page {hit.page}" if hit.page else "")
        snippet = " ".join(hit.text.split())[:200]
        typer.echo(f"{rank}. [{hit.score:.3f}] {where} [{hit.start}:{hit.end}]\n   {snippet}")


@documents_app.command("list")
def documents_list(
    collection: Annotated[str | None, typer.Option(help="Only this collection.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List the documents of this tenant."""
    settings = Settings()
    root = open_root()
    rows = root.catalog.list(settings.tenant, collection, limit=100_000)
    items = [
        {
            "document_id": r.id, "collection": r.collection, "source": r.source, "title": r.title,
            "version": r.version, "content_hash": r.content_hash,
            "chunks": {e.strategy: e.chunks for e in root.catalog.index_entries(r.id)},
        }
        for r in rows
    ]
    if as_json:
        typer.echo(json.dumps(items, indent=2))
        return
    for item in items:
        chunks = ", ".join(f"{k}: {v}" for k, v in item["chunks"].items())
        typer.echo(f"{item['document_id']}  v{item['version']}  {item['source']}  ({chunks})")


@documents_app.command("delete")
def documents_delete(document_id: str) -> None:
    """Delete a document: every chunk of it leaves the index."""
    settings = Settings()
    root = open_root()
    try:
        deleted = root.ingest.delete(settings.tenant, document_id)
    except StoreLocked as exc:
        fail(str(exc))
    finally:
        root.close()
    if not deleted:
        fail(f"no document {document_id}", code=1)
    typer.echo(f"deleted {document_id}")


@documents_app.command("purge")
def documents_purge(document_id: str) -> None:
    """Erase a document and redact its quotes in past answer records (ids and quote hashes are kept)."""
    root = open_root()
    try:
        deleted, redacted = purge(root.ingest, root.answer_log, root.settings.tenant, document_id)
    except StoreLocked as exc:
        fail(str(exc))
    finally:
        root.close()
    if not deleted and not redacted:
        fail(f"no document {document_id}, and no answer quotes it", code=1)
    typer.echo(f"{'erased' if deleted else 'already erased'} {document_id}; quotes redacted in {redacted} answer record(s)")


def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    collection: Annotated[str | None, typer.Option(help="Collection to ask.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Answer a question from the knowledge base, with numbered citations and a confidence."""
    settings = Settings()
    root = open_root()
    try:
        answer = root.answers.answer(question, tenant=settings.tenant, collection=collection or settings.collection)
    except (StoreLocked, ValueError) as exc:
        fail(str(exc))
    finally:
        root.close()
    if as_json:
        typer.echo(json.dumps(answer.as_dict(), indent=2, ensure_ascii=False))
        return
    typer.echo(answer.answer)
    for c in answer.citations:
        where = c.source + (f", page {c.page}" if c.page else "")
        typer.echo(f"  [{c.index}] {where} [{c.start}:{c.end}] \"{c.quote}\"")
    typer.echo(f"confidence {answer.confidence:.2f}" + (f"; fallback: {answer.fallback.reason}" if answer.fallback else ""))
    if answer.review_id:
        typer.echo(f"sent to human review ({answer.review_id})")
