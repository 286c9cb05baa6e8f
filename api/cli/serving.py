"""Serving: the HTTP API and the Celery worker process."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import fail, open_root
from core.logs import configure_logging
from core.settings import Settings
from core.vectorstore import StoreLocked


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    ingest_paths: Annotated[list[Path] | None, typer.Option("--ingest", help="Ingest these paths at start-up.")] = None,
) -> None:
    """Run the HTTP API (the embedded profile also runs its worker in this process)."""
    import uvicorn

    from api.app import create_app  # start-up cost: only `cairn serve` loads the web application

    root = open_root()
    try:
        application = create_app(root, ingest_on_start=ingest_paths or None)
    except StoreLocked as exc:
        fail(str(exc))
    configure_logging(root.settings.log_format)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    typer.echo(f"Cairn on http://{shown}:{port}: console http://{shown}:{port}/console/ · API docs http://{shown}:{port}/docs",
               err=True)
    uvicorn.run(application, host=host, port=port, log_level="info", log_config=None, access_log=False)


def worker() -> None:
    """Run a Celery worker (server profile: needs CAIRN_REDIS_URL)."""
    settings = Settings()
    if settings.in_process_worker:
        fail("`cairn worker` needs a queue: set CAIRN_REDIS_URL (the embedded profile runs its worker in-process)")
    root = open_root()
    app_ = root.celery
    configure_logging(settings.log_format)
    app_.conf.worker_hijack_root_logger = False  # keep the JSON logs
    # The embedded index can be owned by one process only, so an Edge-backed worker is one process of threads that
    # share one index, model and parser, built up front; against a Qdrant server, prefork processes.
    pool = ["--pool", "prefork", "--concurrency", str(settings.worker.concurrency)]
    if settings.embedded_index:
        root.open_ingestion()
        pool = ["--pool", "threads", "--concurrency", str(settings.worker.concurrency)]
        root.resume_deletions()  # a deletion that a killed process left half-done (API processes do it otherwise)
    from celery.signals import worker_process_init, worker_shutdown

    sweeper = root.sweeper()
    if settings.embedded_index:
        sweeper.start()
    else:  # each pool process sweeps with its own connections (the parent's must not be shared across a fork)
        worker_process_init.connect(lambda **_: sweeper.start(), weak=False)

    @worker_shutdown.connect(weak=False)
    def _release(**_) -> None:  # stop the parser child and release the index, or the process cannot exit
        sweeper.stop()
        root.close()

    app_.worker_main(["worker", "--loglevel", "INFO", "-Q", settings.worker.queue, "--without-gossip", "--without-mingle", *pool])
