"""Re-queues ingestion items whose task was lost on the way to a worker.

Redis hands a task to a worker by popping it from the queue (BRPOP); if the connection drops at that instant the
task is gone, and its item would wait `queued` for ever (acks_late only protects a task a worker has received).
Every worker process sweeps now and then: when the queue is empty, an item still queued after `after_s` has no
task left anywhere, and gets a new one. A copy of a task that was not lost after all is harmless: whichever copy
comes first starts the item, and the other finds it taken (workers.jobs.JobStore.start)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from workers.celery_app import INGEST_TASK
from workers.jobs import JobStore
from workers.submit import BrokerUnavailable, TaskQueue

log = logging.getLogger("cairn.worker")


class LostTaskSweeper:
    def __init__(self, jobs: JobStore, queue: TaskQueue, queue_length: Callable[[], dict[str, int]], after_s: float,
                 every_s: float | None = None):
        self.jobs = jobs
        self.queue = queue
        self.queue_length = queue_length  # tasks waiting in the broker, by queue
        self.after_s = after_s
        self.every_s = every_s if every_s is not None else max(1.0, min(60.0, after_s / 4))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep(self) -> list[str]:
        """Queues a new task for every item that has waited longer than `after_s` while the queue is empty (a busy
        queue may still hold their tasks); returns their ids."""
        if any(self.queue_length().values()):
            return []
        items = self.jobs.take_waiting(self.after_s)
        if items:
            # Not sent: they stay queued and are taken again after another `after_s`.
            self.queue.send(INGEST_TASK, items, lambda _: None)
            log.warning("re-queued %d ingestion item(s) whose task was lost", len(items))
        return items

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="cairn-lost-task-sweeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.sweep()
            except BrokerUnavailable as exc:
                log.warning("lost-task sweep: %s", exc)
            except Exception:  # the database or Redis is down: try again at the next sweep
                log.exception("lost-task sweep failed")
