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


def batch_through_outage(tmp_path, host: str, port: int, worker_for, producer_url: str | None, outage_s: float,
                         within_s: float) -> tuple[list[dict], str]:
    """A batch ingests while a service (host:port, reached through a proxy) goes away for `outage_s` and comes back on
    the same address. `worker_for(proxy_port)` makes the worker that uses it; the producer reaches the database at
    `producer_url` (unset: as the worker does). Returns the job's documents and the worker's log once the job ended
    (within `within_s` of the return) and the index was checked."""
    proxy = TcpProxy(host, port)
    inbox = tmp_path / "inbox"
    write_inbox(inbox, abstracts=6)
    worker = worker_for(proxy.port)
    producer = Root(worker.settings(database_url=producer_url))
    log = (tmp_path / "worker.log").open("w")
    try:
        job_id = producer.submitter.submit(collect_files([inbox]), tenant="default", collection="outage", strategy="sentence")
        worker.start(log)
        done = lambda: sum(d["status"] == "indexed" for d in producer.jobs.get(job_id).documents)  # noqa: E731
        wait_until(lambda: done() >= 1, 180, "the first document")
        proxy.cut()  # the service goes away in the middle of the batch...
        time.sleep(outage_s)
        proxy = TcpProxy(host, port, port=proxy.port)  # ...and comes back on the same address
        view = wait_until(lambda: (v := producer.jobs.get(job_id)).status in ("done", "failed") and v, within_s, "the job")
        assert worker.process.poll() is None  # the worker rode out the outage
        worker.stop()
        found = check_index(tmp_path / "data", producer.catalog, "outage", "sentence")
        assert found["documents"] == 7
        return view.documents, (tmp_path / "worker.log").read_text()
    finally:
        worker.stop()
        proxy.close()
        log.close()
        producer.close()


@pytest.mark.integration
@pytest.mark.slow
def test_redis_restarting_during_a_batch_loses_nothing(redis_url, tmp_path):
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    documents, _ = batch_through_outage(
        tmp_path, "127.0.0.1", port, lambda proxied: WorkerKills(tmp_path / "data", f"redis://127.0.0.1:{proxied}/11"),
        None, outage_s=4, within_s=240)
    assert {d["status"] for d in documents} == {"indexed"}, documents


@pytest.mark.integration
@pytest.mark.slow
def test_postgres_restarting_during_a_batch_loses_nothing(redis_url, postgres_server_url, tmp_path):
    """The worker's database goes away for a few seconds in the middle of a batch and comes back on the same address:
    the worker reconnects, every file ends indexed, and none is left `queued` or half-way for ever."""
    host_port = postgres_server_url.split("@", 1)[1].split("/", 1)[0]
    host, port = host_port.split(":")
    # A long visibility timeout: no task is delivered twice by the broker, so only the worker's own retries can
    # carry an item over the outage (with a short one, a redelivered copy finishes it by chance).
    documents, log = batch_through_outage(
        tmp_path, host, int(port),
        lambda proxied: WorkerKills(tmp_path / "data", redis_url, visibility_s=600,
                                    database_url=postgres_server_url.replace(host_port, f"127.0.0.1:{proxied}")),
        postgres_server_url, outage_s=5,
        within_s=90)  # retried within seconds of the database's return, not rescued minutes later by the sweep
    assert {d["status"] for d in documents} <= {"indexed", "unchanged"}, documents
    assert "OperationalError" in log  # the outage did hit the work...
    assert "raised unexpected" not in log  # ...and no task gave up on its item
