"""Celery ingestion: the in-process worker (embedded profile) and a real `cairn worker` process on real Redis."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest

from api.root import Root
from core.settings import Settings
from core.vectorstore.edge import EdgeVectorStore
from ingest.pipeline import store_name
from tests.conftest import DOCS
from workers.celery_app import retry_delay
from workers.inprocess import InProcessWorker
from workers.submit import collect_files


def wait_for(runtime, job_id, timeout_s=240):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        view = runtime.jobs.get(job_id)
        if view.finished:
            return view
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {runtime.jobs.get(job_id)}")


def test_in_process_worker_ingests_a_folder(runtime, tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    shutil.copy(DOCS / "fake-memo.pdf", folder)
    shutil.copy(DOCS / "password.pdf", folder)
    (folder / "empty.txt").write_bytes(b"")
    worker = InProcessWorker(runtime.celery, concurrency=2)
    worker.start()
    try:
        job_id = runtime.submitter.submit(collect_files([folder]), tenant="default", collection="inbox", strategy="sentence")
        view = wait_for(runtime, job_id)
    finally:
        worker.stop()
    outcomes = {os.path.basename(d["path"]): (d["status"], d["reason"]) for d in view.documents}
    assert outcomes["fake-memo.pdf"][0] == "indexed"
    assert outcomes["password.pdf"] == ("rejected", "encrypted: the PDF is password-protected")
    assert outcomes["empty.txt"] == ("rejected", "empty: the file is empty (0 bytes)")
    assert view.status == "done"
    assert runtime.catalog.corpus_version("default", "inbox") is not None


def test_work_left_by_a_process_that_died_is_resumed_at_start_up(runtime, tmp_path):
    """What `cairn serve` does at start-up: items the previous process started and never finished are queued
    again as the task that started them, the only one allowed to start them again."""
    (tmp_path / "moss.txt").write_text("Moss grows on the north side of trees in damp forests.")
    job_id, (item,) = runtime.jobs.create("default", "moss", "sentence", collect_files([tmp_path / "moss.txt"]))
    runtime.jobs.start(item, "task-of-the-dead-process")
    assert runtime.jobs.start(item, "another-task") is None
    worker = InProcessWorker(runtime.celery)
    worker.start()
    try:
        runtime.submitter.enqueue(runtime.jobs.unfinished_items())
        view = wait_for(runtime, job_id, timeout_s=60)
    finally:
        worker.stop()
    assert [d["status"] for d in view.documents] == ["indexed"]


@pytest.mark.integration
@pytest.mark.slow
def test_real_worker_process_on_redis(redis_url, tmp_path):
    data_dir = tmp_path / "data"
    queue = f"cairn-test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "CAIRN_DATA_DIR": str(data_dir),
        "CAIRN_REDIS_URL": redis_url,
        "CAIRN_WORKER__QUEUE": queue,
        "CAIRN_INGEST__PARSE_TIMEOUT_S": "60",
    }
    settings = Settings(data_dir=data_dir, redis_url=redis_url, worker={"queue": queue}, _env_file=None)
    producer = Root(settings)  # queues work only: never opens the index, which the worker owns
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(DOCS / "fake-email.eml", inbox)
    (inbox / "broken.pdf").write_bytes(b"%PDF-1.4\n garbage that is not a pdf")
    shutil.copy(DOCS / "handbook-1p.docx", inbox)
    job_id = producer.submitter.submit(collect_files([inbox]), tenant="default", collection="redis", strategy="sentence")

    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen([sys.executable, "-m", "api.cli", "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        view = wait_for(producer, job_id)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
        log.close()
    statuses = {os.path.basename(d["path"]): d["status"] for d in view.documents}
    assert statuses == {"broken.pdf": "rejected", "fake-email.eml": "indexed", "handbook-1p.docx": "indexed"}, (
        tmp_path / "worker.log"
    ).read_text()[-3000:]

    store = EdgeVectorStore(data_dir / "qdrant")  # the worker has exited: the index is ours to inspect
    try:
        expected = sum(d["chunks"] for d in view.documents)
        assert store.count(store_name("cairn", "redis", "sentence")) == expected > 0
    finally:
        store.close()
        producer.close()


def test_retries_back_off_and_span_an_outage():
    """Each wait is half to all of a doubling step (capped at a minute): never nearly zero, so the default eight
    retries cover minutes of a database or broker outage, not its first seconds."""
    for retries in range(10):
        step = min(60.0, 2.0 * 2**retries)
        assert all(step / 2 <= retry_delay(retries, 2.0) <= step for _ in range(200))
    assert sum(min(60.0, 2.0 * 2**r) / 2 for r in range(Settings(_env_file=None).worker.task_retries)) >= 120
