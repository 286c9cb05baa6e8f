"""The job store: stages, progress and outcomes of every file."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from core.db import Database
from core.types import DocumentStatus, IngestOutcome, Stage
from workers.jobs import FileToIngest, JobStore


@pytest.fixture
def jobs(database_url):
    """The job store on each SQL backend (its statements are built once and must run on both)."""
    db = Database(database_url)
    db.migrate()
    yield JobStore(db)
    db.dispose()


def files(n):
    return [FileToIngest(display=f"f{i}.txt", stored_path=f"/tmp/f{i}.txt", source=f"/tmp/f{i}.txt") for i in range(n)]


def test_job_moves_through_stages_to_done(jobs):
    job_id, items = jobs.create("acme", "c", "sentence", files(2))
    view = jobs.get(job_id)
    assert (view.status, view.progress) == ("queued", 0.0)

    jobs.set_stage(items[0], Stage.EMBEDDING, 0.5)
    view = jobs.get(job_id)
    assert view.status == "embedding" and 0 < view.progress < 1
    assert jobs.summary(job_id) == (view.status, view.progress)  # the cheap aggregate agrees
    assert not jobs.is_finished(job_id)

    assert not jobs.finish(items[0], IngestOutcome("f0.txt", "doc-0", DocumentStatus.INDEXED, chunks=3))
    assert jobs.finish(items[1], IngestOutcome("f1.txt", None, DocumentStatus.REJECTED, reason="empty: the file is empty"))
    view = jobs.get(job_id)
    assert view.status == "done" and view.progress == 1.0
    assert jobs.summary(job_id) == ("done", 1.0) and jobs.is_finished(job_id)
    assert [(d["status"], d["chunks"], d["reason"]) for d in view.documents] == [
        ("indexed", 3, None),
        ("rejected", 0, "empty: the file is empty"),
    ]


def test_a_finished_item_is_not_started_again(jobs):
    job_id, items = jobs.create("acme", "c", "sentence", files(1))
    item, job = jobs.start(items[0])
    assert (item.attempts, item.status, job.id) == (1, "parsing", job_id)
    assert jobs.finish(items[0], IngestOutcome("f0.txt", "d", DocumentStatus.UNCHANGED))
    assert jobs.start(items[0]) is None  # a redelivered task does nothing
    # and its outcome is recorded once: the job is not completed a second time
    assert not jobs.finish(items[0], IngestOutcome("f0.txt", "d", DocumentStatus.UNCHANGED))
    jobs.set_stage(items[0], Stage.PARSING, 0.1)  # and cannot move it back
    assert jobs.get(job_id).documents[0]["status"] == "unchanged"


def test_all_failed_is_failed_and_jobs_are_tenant_scoped(jobs):
    job_id, items = jobs.create("acme", "c", "sentence", files(1))
    assert jobs.fail(items[0], "internal error: boom")  # the last outcome completes the job
    assert jobs.get(job_id).status == "failed"
    assert jobs.get(job_id, tenant="globex") is None


def test_unfinished_items_are_found_for_recovery_with_the_task_that_started_them(jobs):
    _, items = jobs.create("acme", "c", "sentence", files(3))
    jobs.finish(items[1], IngestOutcome("f1.txt", "d", DocumentStatus.INDEXED, chunks=1))
    jobs.start(items[2], "task-2")
    assert jobs.unfinished_items() == {items[0]: None, items[2]: "task-2"}


def test_a_started_item_is_started_again_only_by_its_own_task(jobs):
    _, items = jobs.create("acme", "c", "sentence", files(1))
    item, _ = jobs.start(items[0], "task-a")  # the first copy of the task to arrive takes it
    assert (item.claimed_by, item.attempts) == ("task-a", 1)
    assert jobs.start(items[0], "task-b") is None  # a re-queued copy finds it taken
    assert jobs.start(items[0]) is None
    item, _ = jobs.start(items[0], "task-a")  # its own task, redelivered after its worker died
    assert (item.claimed_by, item.attempts) == ("task-a", 2)
    jobs.finish(items[0], IngestOutcome("f0.txt", "d", DocumentStatus.INDEXED, chunks=1))
    assert jobs.start(items[0], "task-a") is None


def test_items_waiting_too_long_are_taken_once(jobs):
    _, items = jobs.create("acme", "c", "sentence", files(3))
    jobs.start(items[1], "task-1")  # started: its task is not lost
    assert jobs.take_waiting(older_than_s=3600) == []  # queued only just now
    time.sleep(0.05)
    assert sorted(jobs.take_waiting(older_than_s=0.01)) == sorted([items[0], items[2]])
    assert jobs.take_waiting(older_than_s=0.01) == []  # each was marked as queued again just now
    time.sleep(0.05)
    assert len(jobs.take_waiting(older_than_s=0.01, most=1)) == 1  # at most `most` per sweep
    item, _ = jobs.start(items[0], "task-0")  # a re-queued task starts it like the first one
    assert item.status == "parsing"


def test_an_archive_item_lists_its_members_under_it(jobs):
    job_id, items = jobs.create("acme", "c", "sentence", [FileToIngest("a.zip", "/tmp/a.zip", "/tmp/a.zip")])
    members = [
        IngestOutcome("a.zip::x.txt", "dx", DocumentStatus.INDEXED, chunks=2),
        IngestOutcome("a.zip::y.bin", None, DocumentStatus.REJECTED, reason="unsupported: binary"),
    ]
    assert jobs.finish(items[0], IngestOutcome("a.zip", None, DocumentStatus.INDEXED, chunks=2, members=members))
    assert [(d["path"], d["status"], d["chunks"], d["parent"]) for d in jobs.get(job_id).documents] == [
        ("a.zip", "indexed", 2, None),
        ("a.zip::x.txt", "indexed", 2, "a.zip"),
        ("a.zip::y.bin", "rejected", 0, "a.zip"),
    ]


def test_of_items_finishing_at_once_exactly_one_completes_the_job(jobs):
    job_id, items = jobs.create("acme", "c", "sentence", files(12))
    outcome = IngestOutcome("f.txt", "d", DocumentStatus.INDEXED, chunks=1)
    with ThreadPoolExecutor(4) as pool:
        completed = list(pool.map(lambda item: jobs.finish(item, outcome), items))
    assert completed.count(True) == 1 and jobs.is_finished(job_id)
