"""The `cairn` command line: the same services as the HTTP API, for files, folders and terminals."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from core.offline import configure_offline

configure_offline()

from core.logs import configure_logging  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.vectorstore import StoreLocked  # noqa: E402

app = typer.Typer(help="Cairn: a RAG knowledge backend.", no_args_is_help=True, add_completion=False)
documents_app = typer.Typer(help="Manage documents.", no_args_is_help=True)
app.add_typer(documents_app, name="documents")
eval_app = typer.Typer(help="Evaluation suites (results.json per run).", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
keys_app = typer.Typer(help="API keys (each bound to a tenant and a role).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
review_app = typer.Typer(help="The human-review queue.", no_args_is_help=True)
app.add_typer(review_app, name="review")
db_app = typer.Typer(help="The SQL store.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _runtime():
    from workers.runtime import Runtime

    return Runtime(Settings())


def _describe(entry: dict) -> str:
    status = entry["status"]
    if status in ("indexed", "replaced"):
        return f"{status} ({entry['chunks']} chunks)"
    if status in ("rejected", "failed"):
        return f"{status}: {entry['reason']}"
    if status == "conflict":
        return f"conflict: {entry['reason'].removeprefix('conflict: ')}" if entry.get("reason") else status
    return status


def _wait(runtime, job_id: str, show_progress: bool, worker=None):
    def check_worker() -> None:
        if worker is not None and not worker.alive:
            raise RuntimeError("the in-process worker stopped unexpectedly; unfinished files stay queued for the next run")

    if not show_progress:
        while not runtime.jobs.is_finished(job_id):
            check_worker()
            time.sleep(0.2)
        return runtime.jobs.get(job_id)
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task("queued", total=1.0)
        while True:
            status, progress = runtime.jobs.summary(job_id)
            bar.update(task, completed=progress, description=status)
            if status in ("done", "failed"):
                return runtime.jobs.get(job_id)
            check_worker()
            time.sleep(0.2)


@app.command()
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
    from workers.submit import BrokerUnavailable, collect_files, submit

    settings = Settings()
    collection = collection or settings.collection
    strategy = strategy or settings.chunking.strategy
    if not wait and settings.in_process_worker:
        _fail("--no-wait needs a queue and separate workers (set CAIRN_REDIS_URL and run `cairn worker`)")
    files = collect_files(paths, replace=not no_replace)
    if not files:
        _fail("no files found under the given paths")
    runtime = _runtime()
    worker = None
    try:
        if settings.in_process_worker:
            from workers.inprocess import InProcessWorker

            runtime.open_ingestion()  # a conflict over the embedded index is reported before any work
            worker = InProcessWorker(runtime.celery, settings.worker.concurrency)
            worker.start()
        job_id = submit(runtime, files, tenant=settings.tenant, collection=collection, strategy=strategy)
        if not wait:
            typer.echo(json.dumps({"job_id": job_id}) if as_json else f"queued job {job_id}")
            return
        view = _wait(runtime, job_id, show_progress=sys.stderr.isatty() and not as_json, worker=worker)
    except (StoreLocked, BrokerUnavailable, ValueError, RuntimeError) as exc:
        _fail(str(exc))
    finally:
        if worker is not None:
            worker.stop()
        runtime.close()
    entries = [{k: d[k] for k in ("path", "document_id", "status", "chunks", "reason")} for d in view.documents]
    if as_json:
        typer.echo(json.dumps(entries, indent=2))
    else:
        for entry in entries:
            typer.echo(f"{entry['path']}: {_describe(entry)}")
    if any(d["status"] == "failed" for d in view.documents):
        raise typer.Exit(1)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=100, help="How many chunks.")] = 5,
    collection: Annotated[str | None, typer.Option(help="Collection to search.")] = None,
    strategy: Annotated[str | None, typer.Option(help="Which strategy's index.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Retrieval only: ranked chunks (hybrid dense + BM25) with scores and where they come from."""
    settings = Settings()
    runtime = _runtime()
    try:
        hits = runtime.search.search(
            query, tenant=settings.tenant, collection=collection or settings.collection, strategy=strategy, top_k=top_k
        )
    except (StoreLocked, ValueError) as exc:
        _fail(str(exc))
    finally:
        runtime.close()
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
    runtime = _runtime()
    rows = runtime.catalog.list(settings.tenant, collection, limit=100_000)
    items = [
        {
            "document_id": r.id, "collection": r.collection, "source": r.source, "title": r.title,
            "version": r.version, "content_hash": r.content_hash,
            "chunks": {e.strategy: e.chunks for e in runtime.catalog.index_entries(r.id)},
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
    runtime = _runtime()
    try:
        deleted = runtime.ingest.delete(settings.tenant, document_id)
    except StoreLocked as exc:
        _fail(str(exc))
    finally:
        runtime.close()
    if not deleted:
        _fail(f"no document {document_id}", code=1)
    typer.echo(f"deleted {document_id}")


@documents_app.command("purge")
def documents_purge(document_id: str) -> None:
    """Erase a document and redact its quotes in past answer records (ids and quote hashes are kept)."""
    from retrieval.audit import purge

    runtime = _runtime()
    try:
        deleted, redacted = purge(runtime.ingest, runtime.answer_log, runtime.settings.tenant, document_id)
    except StoreLocked as exc:
        _fail(str(exc))
    finally:
        runtime.close()
    if not deleted and not redacted:
        _fail(f"no document {document_id}, and no answer quotes it", code=1)
    typer.echo(f"{'erased' if deleted else 'already erased'} {document_id}; quotes redacted in {redacted} answer record(s)")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    collection: Annotated[str | None, typer.Option(help="Collection to ask.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Answer a question from the knowledge base, with numbered citations and a confidence."""
    settings = Settings()
    runtime = _runtime()
    try:
        answer = runtime.answers.answer(question, tenant=settings.tenant, collection=collection or settings.collection)
    except (StoreLocked, ValueError) as exc:
        _fail(str(exc))
    finally:
        runtime.close()
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


def _eval_runtime(dataset: Path):
    """Evaluations keep their own index and caches (under the data dir), apart from the served collections."""
    from eval.runs import eval_settings
    from workers.runtime import Runtime

    return Runtime(eval_settings(Settings(), dataset))


def _write_results(result: dict, out: Path) -> None:
    """Each run gets its own folder under `out` (results.json, report.md, charts); `out/latest` names the newest."""
    from eval import report

    folder = report.save_run(result, out / report.new_run_id(result["suite"]))
    (out / "latest").write_text(folder.name + "\n")
    typer.echo(json.dumps(result, indent=2))
    typer.echo(f"written to {folder} (results.json, report.md, charts)", err=True)


@eval_app.command("beir")
def eval_beir(
    folder: Annotated[Path, typer.Argument(help="A BEIR-layout folder (corpus.jsonl, queries.jsonl, qrels/).")],
    split: Annotated[str, typer.Option(help="Which qrels split.")] = "test",
    modes: Annotated[str, typer.Option(help="Comma-separated: dense, sparse, hybrid, hybrid+rerank.")] = "dense,sparse,hybrid",
    limit: Annotated[int | None, typer.Option(help="Only the first N queries.")] = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("eval-results/beir"),
) -> None:
    """nDCG@10, Recall@100 and MRR@10 over documents, per retrieval mode (the corpus is indexed first)."""
    from eval import beir

    try:
        chosen = beir.check_modes(modes.split(","))
    except ValueError as exc:
        _fail(str(exc))
    if not (folder / "corpus.jsonl").is_file():
        _fail(f"{folder} is not a BEIR folder (no corpus.jsonl)")
    runtime = _eval_runtime(folder)
    try:
        result = beir.run(runtime, folder, split=split, modes=chosen, limit=limit)
    finally:
        runtime.close()
    _write_results(result, out)


@eval_app.command("chunking")
def eval_chunking(
    folder: Annotated[Path, typer.Argument(help="A chunking benchmark folder (corpora/*.md, questions.csv).")],
    variants: Annotated[
        str | None, typer.Option(help="Comma-separated STRATEGY-SIZE-OVERLAP (or STRATEGY); default: every strategy and size variants.")
    ] = None,
    corpora: Annotated[str | None, typer.Option(help="Comma-separated corpus ids (file stems); default: all.")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
    k: Annotated[int, typer.Option(help="Returned chunks scored at a fixed count.")] = 5,
    budget: Annotated[int, typer.Option(help="Token budget scored (chunks in rank order, the last one cut).")] = 1000,
    llm_judge: Annotated[
        bool, typer.Option("--llm-judge", help="Also ragas's LLM-judged context precision (needs CAIRN_LLM__BASE_URL).")
    ] = False,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("eval-results/chunking"),
) -> None:
    """Token-level recall/precision/IoU and ragas context metrics per chunking strategy (one collection each)."""
    from eval import chunking

    if not (folder / "questions.csv").is_file() or not (folder / "corpora").is_dir():
        _fail(f"{folder} is not a chunking benchmark folder (corpora/ and questions.csv)")
    try:
        chosen = chunking.parse_variants(variants.split(",") if variants else ())
        names = tuple(c.strip() for c in corpora.split(",") if c.strip()) if corpora else ()
        runtime = _eval_runtime(folder)
        try:
            result = chunking.run(
                runtime, folder, variants=chosen, corpora=names, limit=limit, k=k, budget=budget, llm_judge=llm_judge
            )
        finally:
            runtime.close()
    except ValueError as exc:
        _fail(str(exc))
    _write_results(result, out)


@app.command()
def calibrate(
    datasets: Annotated[
        list[Path] | None, typer.Argument(help="Folders to label answers with: a chunking benchmark, a BEIR SciFact folder.")
    ] = None,
    from_review: Annotated[bool, typer.Option("--from-review", help="Add the review queue's decisions as labels.")] = False,
    max_false_abstention: Annotated[float, typer.Option(min=0.0, max=1.0, help="Answerable questions that may abstain.")] = 0.05,
    fit_corpora: Annotated[str, typer.Option(help="Corpora (file stems) fitted on; the others are held back.")] = "chatlogs",
    limit: Annotated[int | None, typer.Option(help="Only the first N questions of each corpus.")] = None,
    out: Annotated[Path, typer.Option(help="Where the report and the reliability diagram go.")] = Path("eval-results/calibration"),
    write: Annotated[Path | None, typer.Option(help="Also write the calibration file here (e.g. retrieval/calibration.json).")] = None,
) -> None:
    """Fit the answer confidence's calibration and threshold from labelled answers; answers use it from then on."""
    from eval import calibrate as fitting
    from eval.reliability import reliability_diagram

    if not datasets and not from_review:
        _fail("give a dataset folder, --from-review, or both")
    runtime = _runtime()
    examples: list = []
    sources = []
    try:
        for dataset in datasets or []:
            if not dataset.is_dir():
                _fail(f"{dataset} is not a folder")
            eval_runtime = _eval_runtime(dataset)
            try:
                examples += fitting.examples_from_dataset(eval_runtime, dataset, set(fit_corpora.split(",")), limit)
            finally:
                eval_runtime.close()
            sources.append(str(dataset))
        calibration, report, examples = fitting.recalibrate(
            runtime, examples, sources, from_review=from_review, max_false_abstention=max_false_abstention)
    except ValueError as exc:
        _fail(str(exc))
    finally:
        runtime.close()
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"version": calibration.version, **report}, indent=2) + "\n")
    shown = [e for e in examples if e.held_back] or examples
    reliability_diagram([calibration.confidence(e.signals) for e in shown], [e.right for e in shown],
                        f"{calibration.version}, held-back labels", out / "reliability.png")
    if write is not None:
        write.write_text(json.dumps(calibration.as_dict(), indent=2, sort_keys=True) + "\n")
        fitting.write_examples(examples, write.with_name(write.stem + "_examples.jsonl"))
    typer.echo(json.dumps({"version": calibration.version, "threshold": calibration.threshold, **report}, indent=2))
    typer.echo(f"calibration {calibration.version} in use; report and reliability diagram in {out}", err=True)


@eval_app.command("ragas")
def eval_ragas(
    dataset: Annotated[Path, typer.Argument(help="JSONL questions (see eval/answers.py), or a chunking benchmark folder.")],
    corpus: Annotated[
        Path | None, typer.Option(help="Index this folder first and ask it; default: the dataset's own corpora, else the served collection.")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("eval-results/ragas"),
) -> None:
    """Answers every question through the answering service; scores answers and citations against references."""
    from eval import answers
    from workers.runtime import Runtime

    if not dataset.exists():
        _fail(f"{dataset} does not exist")
    if corpus is not None and not corpus.is_dir():
        _fail(f"{corpus} is not a folder")
    try:
        # A corpus to index gets an eval index of its own; otherwise the served collection is asked.
        runtime = _eval_runtime(dataset) if (corpus or answers.bundled_corpus(dataset)) else Runtime(Settings())
        try:
            result = answers.run(runtime, dataset, corpus=corpus, limit=limit)
        finally:
            runtime.close()
    except (ValueError, StoreLocked) as exc:
        _fail(str(exc))
    _write_results(result, out)


@eval_app.command("compare")
def eval_compare(
    run_a: Annotated[Path, typer.Argument(help="A run folder (or its results.json): the baseline.")],
    run_b: Annotated[Path, typer.Argument(help="Another run of the same suite.")],
    all_rows: Annotated[bool, typer.Option("--all", help="Also list metrics that did not change.")] = False,
) -> None:
    """Prints every metric of two runs side by side with the delta (B - A), and the versions that differ."""
    from eval import report

    try:
        first, second = report.load_run(run_a), report.load_run(run_b)
        rows, versions = report.compare(first, second), report.changed_versions(first, second)
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    width = max((len(r[0]) for r in rows), default=10)
    typer.echo(f"{'metric':<{width}}  {'A':>10}  {'B':>10}  {'B - A':>10}")
    for key, a, b, delta in rows:
        if all_rows or abs(delta) > 1e-12:
            typer.echo(f"{key:<{width}}  {a:>10.4f}  {b:>10.4f}  {delta:>+10.4f}")
    for key, a, b in versions:
        typer.echo(f"version {key}: {a} -> {b}")


@eval_app.command("abstention")
def eval_abstention(
    folder: Annotated[Path, typer.Argument(help="The BEIR SciFact folder.")],
    limit: Annotated[int | None, typer.Option(help="Claims used (each asked with and without its evidence); default all.")] = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("eval-results/abstention"),
) -> None:
    """Abstention precision/recall and confidence AUROC on answerable vs unanswerable questions."""
    from eval import abstention

    if not (folder / "corpus.jsonl").is_file():
        _fail(f"{folder} is not a BEIR folder (no corpus.jsonl)")
    runtime = _eval_runtime(folder)
    try:
        result = abstention.run(runtime, folder, limit=limit)
    finally:
        runtime.close()
    _write_results(result, out)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="What the key is for (shown in lists).")],
    role: Annotated[str, typer.Option(help="reader, editor or admin.")] = "reader",
    tenant: Annotated[str | None, typer.Option(help="Tenant the key acts for (default: CAIRN_TENANT).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a key and print it (once: only its hash is stored). The first key closes an open embedded API."""
    from core.access import Role

    if role not in {r.value for r in Role}:
        _fail(f"role must be one of {', '.join(r.value for r in Role)}, not {role!r}")
    runtime = _runtime()
    try:
        row, key = runtime.keys.create(tenant or runtime.settings.tenant, role, name)
    except ValueError as exc:
        _fail(str(exc))
    finally:
        runtime.close()
    if as_json:
        typer.echo(json.dumps({"id": row.id, "tenant": row.tenant, "role": row.role, "name": row.name, "key": key}))
    else:
        typer.echo(f"{key}\n(id {row.id}, tenant {row.tenant}, role {row.role}; keep the key: it is not shown again)")


@keys_app.command("list")
def keys_list(tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None) -> None:
    runtime = _runtime()
    try:
        for row in runtime.keys.list(tenant):
            state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
            typer.echo(f"{row.id}  {row.prefix}...  {row.tenant}  {row.role}  {row.name}  {state}")
    finally:
        runtime.close()


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    runtime = _runtime()
    try:
        if not runtime.keys.revoke(key_id):
            _fail(f"no key {key_id}", 1)
        typer.echo(f"revoked {key_id}")
    finally:
        runtime.close()


@review_app.command("export")
def review_export(
    out: Annotated[Path, typer.Argument(help="JSONL file to write (`cairn eval ragas` reads it).")],
    tenant: Annotated[str | None, typer.Option(help="Tenant (default: CAIRN_TENANT).")] = None,
) -> None:
    """Approved and corrected answers as an eval dataset."""
    runtime = _runtime()
    try:
        rows = runtime.review.export(tenant or runtime.settings.tenant)
    finally:
        runtime.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    typer.echo(f"{len(rows)} reviewed answers written to {out}")


@app.command()
def cost(
    days: Annotated[float, typer.Option(help="Answers of the last N days make the request mix.")] = 30,
    tenant: Annotated[str | None, typer.Option(help="One tenant (default: all).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Project monthly LLM cost at 100, 10,000 and 100,000 requests a day from the recorded request mix."""
    from eval import cost as cost_report

    runtime = _runtime()
    try:
        report = cost_report.tenant_report(runtime, tenant, days)
    finally:
        runtime.close()
    typer.echo(json.dumps(report, indent=2) if as_json else cost_report.format_report(report))


@app.command()
def drift(
    recent_days: Annotated[float, typer.Option(help="The recent window: the last N days.")] = 7,
    reference_days: Annotated[float, typer.Option(help="The reference window: N days before the recent one.")] = 28,
    tenant: Annotated[str | None, typer.Option(help="Tenant (default: CAIRN_TENANT).")] = None,
) -> None:
    """Compare recent questions with a reference window (exit code 3 when drift is found, for alerting)."""
    from datetime import UTC, datetime

    from eval import drift as drift_report

    runtime = _runtime()
    try:
        result = drift_report.tenant_report(runtime, tenant or runtime.settings.tenant, datetime.now(UTC),
                                            recent_days, reference_days)
    finally:
        runtime.close()
    typer.echo(json.dumps(result, indent=2))
    if result["drifted"]:
        raise typer.Exit(3)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the SQL store's migrations (every process also does this at start-up)."""
    runtime = _runtime()
    try:
        runtime.db  # migrates
        typer.echo(f"database at the newest revision: {runtime.settings.sqlalchemy_url.split('@')[-1]}")
    finally:
        runtime.close()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    ingest_paths: Annotated[list[Path] | None, typer.Option("--ingest", help="Ingest these paths at start-up.")] = None,
) -> None:
    """Run the HTTP API (the embedded profile also runs its worker in this process)."""
    import uvicorn

    from api.app import create_app

    runtime = _runtime()
    try:
        application = create_app(runtime, ingest_on_start=ingest_paths or None)
    except StoreLocked as exc:
        _fail(str(exc))
    configure_logging(runtime.settings.log_format)
    uvicorn.run(application, host=host, port=port, log_level="info", log_config=None, access_log=False)


@app.command()
def worker() -> None:
    """Run a Celery worker (server profile: needs CAIRN_REDIS_URL)."""
    settings = Settings()
    if settings.in_process_worker:
        _fail("`cairn worker` needs a queue: set CAIRN_REDIS_URL (the embedded profile runs its worker in-process)")
    runtime = _runtime()
    app_ = runtime.celery
    configure_logging(settings.log_format)
    app_.conf.worker_hijack_root_logger = False  # keep the JSON logs
    # The embedded index can be owned by one process only, so an Edge-backed worker is one process of threads that
    # share one index, model and parser, built up front; against a Qdrant server, prefork processes.
    pool = ["--pool", "prefork", "--concurrency", str(settings.worker.concurrency)]
    if settings.embedded_index:
        runtime.open_ingestion()
        pool = ["--pool", "threads", "--concurrency", str(settings.worker.concurrency)]
    from celery.signals import worker_process_init, worker_shutdown

    from workers.requeue import LostTaskSweeper

    sweeper = LostTaskSweeper(runtime, settings.worker.requeue_after_s)
    if settings.embedded_index:
        sweeper.start()
    else:  # each pool process sweeps with its own connections (the parent's must not be shared across a fork)
        worker_process_init.connect(lambda **_: sweeper.start(), weak=False)

    @worker_shutdown.connect(weak=False)
    def _release(**_) -> None:  # stop the parser child and release the index, or the process cannot exit
        sweeper.stop()
        runtime.close()

    app_.worker_main(["worker", "--loglevel", "INFO", "-Q", settings.worker.queue, "--without-gossip", "--without-mingle", *pool])


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # `python -m api.cli`
    app()
