"""The FastAPI application: routers over the services of a composition root (`api.root.Root`); the embedded
profile runs its worker in this process."""

from __future__ import annotations

import logging
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from opentelemetry.trace import SpanKind

from api.errors import document_errors, install_error_handlers
from api.root import Root
from api.routers import answers, documents, evals, health, jobs, operations, search
from core.logs import bind_request
from core.tracing import trace_id
from workers.inprocess import InProcessWorker
from workers.submit import collect_files

log = logging.getLogger("cairn.api")
CONSOLE = Path(__file__).parent / "console"  # the web console: static files, no build step
access = logging.getLogger("cairn.access")  # one structured record per request (uvicorn's access log is off)


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

    @app.middleware("http")
    async def request_size_limit(request: Request, call_next):
        """An upload request over the whole-request limit is refused before its body is read; under it, every file
        is judged on its own (a file over the per-file limit is rejected alone)."""
        limit = root.settings.ingest.max_request_bytes
        if request.method in ("POST", "PUT") and request.url.path.startswith("/v1/documents"):
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                return JSONResponse(
                    {"error": {"code": "too_large", "message": f"the request is larger than the limit of {limit} bytes"}},
                    status_code=413,
                )
        return await call_next(request)

    @app.middleware("http")
    async def observe(request: Request, call_next):
        """Counts and times every request by route template, and tags its logs (and response) with a request id."""
        started = time.perf_counter()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        status = 500
        with root.tracer.start_as_current_span(f"{request.method} {request.url.path}", kind=SpanKind.SERVER) as span:
            bind_request(request_id, trace_id())
            try:
                response = await call_next(request)
                status = response.status_code
                response.headers["X-Request-ID"] = request_id
                return response
            finally:
                route = request.scope.get("route")
                path = getattr(route, "path", "unmatched")
                span.update_name(f"{request.method} {path}")
                span.set_attributes({"http.request.method": request.method, "http.route": path,
                                     "http.response.status_code": status, "cairn.request_id": request_id})
                root.metrics.requests.labels(request.method, path, str(status)).inc()
                seconds = time.perf_counter() - started
                root.metrics.request_seconds.labels(request.method, path).observe(seconds)
                access.info("request", extra={"method": request.method, "route": path, "status": status,
                                              "ms": round(seconds * 1000, 2)})

    return app
