"""The Celery app: Redis as the broker in the server profile, an in-memory broker for the in-process worker."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from celery import Celery

from core.settings import Settings
from core.types import TransientError
from workers.inprocess import MemoryTransport

INGEST_TASK = "cairn.ingest_item"
EVAL_TASK = "cairn.eval_run"


@dataclass(frozen=True)
class TaskHandlers:
    """What the tasks do, given by the composition root (which builds the services they use on first call)."""

    ingest_item: Callable[[str, bool, str | None], str]  # (item id, final attempt, claim) -> outcome
    eval_run: Callable[[str], str]  # run id -> outcome


def retry_delay(retries: int, base_s: float, most_s: float = 60.0) -> float:
    """Seconds before retry number `retries` + 1: doubling from `base_s` up to `most_s`, with "equal jitter" (between
    half and all of it). Never nearly zero, unlike full jitter: the retries span the outage (and the database's
    circuit breaker pause) instead of spending themselves in its first seconds."""
    step = min(most_s, base_s * 2**retries)
    return step / 2 + random.uniform(0, step / 2)


def make_celery(settings: Settings, handlers: TaskHandlers) -> Celery:
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
        # The same in-memory queues, with a worker that stops at once (workers.inprocess.MemoryTransport).
        **({"broker_transport": MemoryTransport} if in_memory else {}),
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

    # shared=False: each app (and its handlers) keeps its own task; a shared one would leak across apps.
    @app.task(bind=True, name=INGEST_TASK, shared=False, max_retries=settings.worker.task_retries)
    def ingest_item(task, item_id: str) -> str:
        final = task.request.retries >= (task.max_retries or 0)
        try:
            return handlers.ingest_item(item_id, final, task.request.id)
        except TransientError as exc:
            if final:
                raise
            raise task.retry(exc=exc, countdown=retry_delay(task.request.retries, settings.worker.retry_base_s))

    # An eval runs for minutes: acknowledged on receipt (a redelivery after the visibility timeout would start a
    # second copy), never retried; a failure is recorded on the run.
    @app.task(name=EVAL_TASK, shared=False, acks_late=False)
    def eval_run(run_id: str) -> str:
        return handlers.eval_run(run_id)

    return app

