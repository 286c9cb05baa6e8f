"""A Celery worker running on a thread of this process: the embedded profile's worker, which shares the process
that owns the Qdrant Edge shard."""

from __future__ import annotations

import socket
import threading
from time import monotonic

from celery import Celery
from celery.worker import WorkController
from celery.worker import state as worker_state
from kombu.transport import memory

# How often a waiting worker looks whether it was told to stop.
_STOP_CHECK_S = 0.05


class MemoryTransport(memory.Transport):
    """kombu's in-memory transport (same queues), whose waiting worker stops at once when told to: Celery's worker
    loop waits up to 2 s for a message before it looks again, which made every stop of an in-process worker take
    4 s (about 5 minutes of the test suite, whose apps each start and stop one)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stopping = threading.Event()

    def drain_events(self, connection, timeout=None):
        deadline = None if timeout is None else monotonic() + timeout
        while not self.stopping.is_set():
            step = _STOP_CHECK_S if deadline is None else min(_STOP_CHECK_S, max(deadline - monotonic(), 0.0))
            try:
                return super().drain_events(connection, timeout=step)
            except socket.timeout:
                if deadline is not None and monotonic() >= deadline:
                    raise
        raise socket.timeout()


class _Controller(WorkController):
    def __init__(self, *args, **kwargs):
        self.ready = threading.Event()
        super().__init__(*args, **kwargs)

    def on_consumer_ready(self, consumer) -> None:
        self.ready.set()


class InProcessWorker:
    def __init__(self, app: Celery, concurrency: int = 1):
        self.app = app
        # Threads, not processes: they share the one Edge shard this process owns. While one thread embeds,
        # another parses (in the parser's child process) or writes, so the cores stay busy.
        self.concurrency = concurrency
        self._controller: _Controller | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout_s: float = 30.0) -> None:
        self.app.finalize()
        # The worker looks tasks up on the current app; this process's app must be it.
        self.app.set_current()
        self.app.set_default()
        self._controller = _Controller(
            app=self.app,
            pool="threads" if self.concurrency > 1 else "solo",
            concurrency=self.concurrency,
            queues=[self.app.conf.task_default_queue],
            loglevel="WARNING",
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
        )
        self._thread = threading.Thread(target=self._controller.start, name="cairn-worker", daemon=True)
        self._thread.start()
        if not self._controller.ready.wait(timeout_s):
            raise RuntimeError("the in-process worker did not start")

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout_s: float = 30.0) -> None:
        if self._thread is None:
            return
        worker_state.should_terminate = 0
        transport = getattr(getattr(self._controller.consumer, "connection", None), "transport", None)
        if isinstance(transport, MemoryTransport):
            transport.stopping.set()
        self._thread.join(timeout_s)
        worker_state.should_terminate = None
        self._thread = None
