"""The FastAPI application: routers over the services of a composition root (`api.root.Root`); the embedded
profile runs its worker in this process."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from api.errors import document_errors, install_error_handlers
from api.middleware import Observe, RequestSizeLimit
from api.root import Root
from api.routers import answers, documents, evals, health, jobs, operations, search
from workers.inprocess import InProcessWorker
from workers.submit import collect_files

log = logging.getLogger("cairn.api")
CONSOLE = Path(__file__).parent / "console"  # the web console: static files, no build step


def create_app(root: Root, ingest_on_start: list[Path] | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        worker = None
        if root.settings.in_process_worker:
            root.open_ingestion()  # own the embedded index for the life of the server
        if root.settings.in_process_worker or not root.settings.embedded_index:  # not beside an index's one owner
            root.resume_deletions()  # a deletion that a killed process left half-done is finished before serving
        if root.settings.in_process_worker:
            worker = InProcessWorker(root.celery, root.settings.worker.concurrency)
            worker.start()
            root.submitter.enqueue(root.jobs.unfinished_items())  # work a previous run accepted but did not finish
            root.eval_runs.enqueue(root.eval_store.recover())
        if ingest_on_start:
            settings = root.settings
            job_id = root.submitter.submit(
                collect_files(ingest_on_start), tenant=settings.tenant, collection=settings.collection,
                strategy=settings.chunking.strategy,
            )
            log.warning("ingesting %s as job %s", ", ".join(map(str, ingest_on_start)), job_id)
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            root.close()

    # /docs (Swagger UI) and /redoc load their scripts from the package, not a CDN: they work offline.
    app = FastAPIOffline(title="Cairn", version="0.1.0", lifespan=lifespan, description="A RAG knowledge backend.")
    app.state.root = root
    install_error_handlers(app)

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi
    app.mount("/console", StaticFiles(directory=CONSOLE, html=True), name="console")
    for router in (health.router, documents.router, jobs.router, search.router, answers.router, evals.router,
                   operations.router):
        app.include_router(router)

    # The last added runs first: every request, a refused upload too, is observed.
    app.add_middleware(RequestSizeLimit, root=root)
    app.add_middleware(Observe, root=root)
    return app
