"""A real worker process SIGKILLed in the middle of a document, then restarted: no document is lost, none is
half-indexed, no chunk is duplicated. (`make reliability` repeats this many times with random kill points.)"""

from __future__ import annotations

import time

import pytest

from api.root import Root
from benchmarks.common import SPEECH
from benchmarks.faults import TcpProxy, WorkerKills, check_index, write_inbox
from workers.submit import collect_files


def wait_until(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.integration
@pytest.mark.slow
def test_a_worker_killed_mid_document_loses_and_duplicates_nothing(redis_url, tmp_path):
    inbox = tmp_path / "inbox"
    write_inbox(inbox, abstracts=6)
    worker = WorkerKills(tmp_path / "data", redis_url)
    producer = Root(worker.settings())  # queues and reads job state; never opens the index
    log = (tmp_path / "worker.log").open("w")
    try:
        job_id = producer.submitter.submit(collect_files([inbox]), tenant="default", collection="kills", strategy="sentence")
        worker.start(log)
        speech = lambda: next(d for d in producer.jobs.get(job_id).documents if d["path"].endswith(SPEECH.name))  # noqa: E731
        wait_until(lambda: speech()["status"] in ("chunking", "embedding", "indexing"), 180, "the speech to be in work")
        worker.kill()  # in the middle of a document: its task was taken but never acknowledged
        assert producer.jobs.get(job_id).status != "done"

        worker.start(log)  # the unacknowledged tasks come back after the visibility timeout
        view = wait_until(lambda: (v := producer.jobs.get(job_id)).status in ("done", "failed") and v, 240, "the job")
        worker.stop()
        statuses = {d["path"].rsplit("/", 1)[-1]: d["status"] for d in view.documents}
        assert set(statuses.values()) == {"indexed"}, statuses
        assert len(statuses) == 7
        found = check_index(tmp_path / "data", producer.catalog, "kills", "sentence")
        assert found["documents"] == 7 and found["chunks"] == sum(d["chunks"] for d in view.documents)
    finally:
        worker.stop()
        log.close()
        producer.close()
    assert worker.kills == 1, (tmp_path / "worker.log").read_text()[-3000:]


@pytest.mark.integration
@pytest.mark.slow
def test_redis_restarting_during_a_batch_loses_nothing(redis_url, tmp_path):
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    proxy = TcpProxy("127.0.0.1", port)
    inbox = tmp_path / "inbox"
    write_inbox(inbox, abstracts=6)
    worker = WorkerKills(tmp_path / "data", f"redis://127.0.0.1:{proxy.port}/11")
    producer = Root(worker.settings())
    log = (tmp_path / "worker.log").open("w")
    try:
        job_id = producer.submitter.submit(collect_files([inbox]), tenant="default", collection="outage", strategy="sentence")
        worker.start(log)
        done = lambda: sum(d["status"] == "indexed" for d in producer.jobs.get(job_id).documents)  # noqa: E731
        wait_until(lambda: done() >= 1, 180, "the first document")
        proxy.cut()  # Redis goes away in the middle of the batch...
        time.sleep(4)
        proxy = TcpProxy("127.0.0.1", port, port=proxy.port)  # ...and comes back on the same address
        view = wait_until(lambda: (v := producer.jobs.get(job_id)).status in ("done", "failed") and v, 240, "the job")
        assert worker.process.poll() is None  # the worker rode out the outage
        worker.stop()
        assert {d["status"] for d in view.documents} == {"indexed"}, view.documents
        found = check_index(tmp_path / "data", producer.catalog, "outage", "sentence")
        assert found["documents"] == 7
    finally:
        worker.stop()
        proxy.close()
        log.close()
        producer.close()



@pytest.mark.integration
@pytest.mark.slow
def test_postgres_restarting_during_a_batch_loses_nothing(redis_url, postgres_server_url, tmp_path):
    """The worker's database goes away for a few seconds in the middle of a batch and comes back on the same address:
    the worker reconnects, every file ends indexed, and none is left `queued` or half-way for ever."""
    host_port = postgres_server_url.split("@", 1)[1].split("/", 1)[0]
    host, port = host_port.split(":")
    proxy = TcpProxy(host, int(port))
    inbox = tmp_path / "inbox"
    write_inbox(inbox, abstracts=6)
    # A long visibility timeout: no task is delivered twice by the broker, so only the worker's own retries can
    # carry an item over the outage (with a short one, a redelivered copy finishes it by chance).
    worker = WorkerKills(tmp_path / "data", redis_url, visibility_s=600,
                         database_url=postgres_server_url.replace(host_port, f"127.0.0.1:{proxy.port}"))
    producer = Root(worker.settings(database_url=postgres_server_url))  # its own way to the database
    log = (tmp_path / "worker.log").open("w")
    try:
        job_id = producer.submitter.submit(collect_files([inbox]), tenant="default", collection="pg-outage", strategy="sentence")
        worker.start(log)
        done = lambda: sum(d["status"] == "indexed" for d in producer.jobs.get(job_id).documents)  # noqa: E731
        wait_until(lambda: done() >= 1, 180, "the first document")
        proxy.cut()  # Postgres goes away in the middle of the batch...
        time.sleep(5)
        proxy = TcpProxy(host, int(port), port=proxy.port)  # ...and comes back on the same address
        # Retried within seconds of the database's return (not rescued minutes later by the lost-task sweep).
        view = wait_until(lambda: (v := producer.jobs.get(job_id)).status in ("done", "failed") and v, 90, "the job")
        assert worker.process.poll() is None  # the worker rode out the outage
        worker.stop()
        assert {d["status"] for d in view.documents} <= {"indexed", "unchanged"}, view.documents
        text = (tmp_path / "worker.log").read_text()
        assert "OperationalError" in text  # the outage did hit the work...
        assert "raised unexpected" not in text  # ...and no task gave up on its item
        found = check_index(tmp_path / "data", producer.catalog, "pg-outage", "sentence")
        assert found["documents"] == 7
    finally:
        worker.stop()
        proxy.close()
        log.close()
        producer.close()
