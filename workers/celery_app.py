"""The Celery app: Redis as the broker in the server profile, an in-memory broker for the in-process worker."""

from __future__ import annotations

from typing import TYPE_CHECKING

from celery import Celery

from core.settings import Settings
from core.types import TransientError

if TYPE_CHECKING:
    from workers.runtime import Runtime

INGEST_TASK = "cairn.ingest_item"
EVAL_TASK = "cairn.eval_run"


def make_celery(settings: Settings, runtime: Runtime | None = None) -> Celery:
    """`runtime` is the process's services; when absent (a `cairn worker` process) it is built on first use."""
    app = Celery("cairn", broker=settings.broker_url, set_as_current=False)
    in_memory = settings.broker_url.startswith("memory://")
    app.conf.update(
        task_default_queue=settings.worker.queue,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # Redis hands a worker its next task as soon as it asks (BRPOP). The in-memory broker is polled, so its
        # worker keeps a few tasks in hand instead of idling a poll interval between tasks; they are the same
        # process's own tasks, and unfinished items are re-queued at start-up anyway.
        worker_prefetch_multiplier=4 if in_memory else 1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=5,
        # A task whose worker was killed goes back to the queue after this long (Redis has no per-consumer acks).
        broker_transport_options={
            "visibility_timeout": int(settings.worker.visibility_timeout_s or settings.ingest.parse_timeout_s * 3 + 300),
            # Virtual transports (the in-process one) poll; the default 1 s idles a worker between tasks.
            "polling_interval": 0.01,
            # Tasks of a worker that died unacknowledged are put back by any live worker's sweep, once older than the
            # visibility timeout; kombu's default sweeps every 10th interval (about 100 s), this every 10 s.
            "unacked_restore_throttle": 1,
            # A Redis that accepts connections but does not answer must fail a publish, not hang it.
            "socket_connect_timeout": 5,
            "socket_timeout": 10,
        },
    )
    holder = _RuntimeHolder(settings, runtime)
    app.cairn_runtime = holder

    @app.task(
        bind=True,
        name=INGEST_TASK,
        shared=False,  # each app (and its runtime) keeps its own task; a shared one would leak across apps
        autoretry_for=(TransientError,),
        retry_backoff=2,
        retry_backoff_max=60,
        retry_jitter=True,
        max_retries=settings.worker.task_retries,
    )
    def ingest_item(task, item_id: str) -> str:
        from workers.tasks import run_item

        final = task.request.retries >= (task.max_retries or 0)
        return run_item(holder.get(), item_id, final_attempt=final, claim=task.request.id)

    # An eval runs for minutes: acknowledged on receipt (a redelivery after the visibility timeout would start a
    # second copy), never retried; a failure is recorded on the run.
    @app.task(name=EVAL_TASK, shared=False, acks_late=False)
    def eval_run(run_id: str) -> str:
        from eval.runs import execute

        return execute(holder.get(), run_id)

    return app


class _RuntimeHolder:
    """The services a task uses: the submitting process's own (in-process worker), or built once per worker process."""

    def __init__(self, settings: Settings, runtime: Runtime | None):
        self._settings = settings
        self._runtime = runtime

    def get(self) -> Runtime:
        if self._runtime is None:
            from workers.runtime import Runtime

            self._runtime = Runtime(self._settings)
        return self._runtime
