"""A task Redis popped but no worker received (the connection dropped at that instant) is queued again by the
workers' sweep; a copy of a task that was not lost is harmless. Real Redis, a real Celery worker."""

from __future__ import annotations

import time
import uuid

import pytest
import redis
from sqlalchemy import select

from benchmarks.common import SPEECH
from core.db import JobItemRow
from core.settings import Settings, WorkerSettings
from tests.conftest import open_root
from tests.workers.test_worker_kill import wait_until
from workers.celery_app import INGEST_TASK
from workers.inprocess import InProcessWorker
from workers.requeue import LostTaskSweeper
from workers.submit import collect_files


@pytest.mark.integration
def test_lost_tasks_are_queued_again_and_a_duplicate_task_does_nothing(redis_url, tmp_path, bge, parser):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "lichen.txt").write_text("Lichen is a partnership of a fungus and an alga living together.")
    # Seconds of embedding: its second copy arrives while the first is still at it.
    (inbox / SPEECH.name).write_text(SPEECH.read_text(encoding="utf-8"), encoding="utf-8")
    queue = f"cairn-test-{uuid.uuid4().hex[:8]}"
    settings = Settings(data_dir=tmp_path / "data", redis_url=redis_url, worker=WorkerSettings(queue=queue), _env_file=None)
    with open_root(settings, bge, parser) as runtime:
        job_id = runtime.submitter.submit(collect_files([inbox]), tenant="default", collection="moss", strategy="sentence")
        sweeper = LostTaskSweeper(runtime.jobs, runtime.queue, runtime.queue_length, after_s=0.2)
        time.sleep(0.3)
        assert sweeper.sweep() == []  # the queue holds their tasks: nothing is lost
        assert redis.Redis.from_url(redis_url).delete(queue) == 1  # both tasks popped and lost
        items = sorted(runtime.jobs.unfinished_items())
        assert sorted(sweeper.sweep()) == items
        assert sweeper.sweep() == []  # queued again just now, and the queue is not empty
        with runtime.db.session() as s:
            speech = s.execute(select(JobItemRow.id).where(JobItemRow.job_id == job_id, JobItemRow.path.endswith(SPEECH.name))).scalar_one()
        runtime.queue.send(INGEST_TASK, [speech], lambda _: None)  # a second copy of one, as if it had not been lost
        assert runtime.queue_length() == {queue: 3}

        worker = InProcessWorker(runtime.celery, concurrency=2)
        worker.start()
        try:
            wait_until(lambda: runtime.jobs.is_finished(job_id) and not any(runtime.queue_length().values()), 120,
                       "the job to finish and the queue to empty")
            time.sleep(0.5)  # the duplicate, popped last, has had its turn
        finally:
            worker.stop()
        view = runtime.jobs.get(job_id)
        assert view.status == "done" and [d["status"] for d in view.documents] == ["indexed", "indexed"]
        with runtime.db.session() as s:
            attempts = s.execute(select(JobItemRow.attempts).where(JobItemRow.job_id == job_id)).scalars().all()
        # The second copy of the speech's task came while the first was embedding it, found it taken and did nothing.
        assert attempts == [1, 1]
