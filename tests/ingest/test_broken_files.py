"""Generated broken files of every kind through the real in-process Celery worker: each file gets an outcome (indexed
or rejected with a reason, never a system failure), and the worker lives on to ingest a good file afterwards."""

from __future__ import annotations

import collections
import os

import pytest

from benchmarks.brokenfiles import KINDS, generate
from tests.conftest import DOCS
from tests.workers.test_celery import wait_for
from workers.inprocess import InProcessWorker
from workers.submit import collect_files


@pytest.mark.slow
def test_every_broken_file_gets_an_outcome_and_the_worker_survives(runtime, tmp_path):
    paths = generate(tmp_path / "broken", count=2 * len(KINDS), seed=11, huge_bytes=60_000)
    worker = InProcessWorker(runtime.celery, concurrency=2)
    worker.start()
    try:
        view = wait_for(runtime, runtime.submitter.submit(collect_files([tmp_path / "broken"]), tenant="default",
                                        collection="broken", strategy="sentence"), timeout_s=400)
        good = wait_for(runtime, runtime.submitter.submit(collect_files([DOCS / "fake-memo.pdf"]), tenant="default",
                                        collection="broken", strategy="sentence"))
    finally:
        worker.stop()
    top_level = {os.path.basename(d["path"]): d for d in view.documents if "::" not in d["path"]}
    assert set(top_level) == {p.name for p in paths}
    outcomes = collections.Counter(d["status"] for d in view.documents)
    assert set(outcomes) <= {"indexed", "rejected"}, [d for d in view.documents if d["status"] not in ("indexed", "rejected")]
    for d in view.documents:
        if d["status"] == "rejected":
            assert d["reason"] and ":" in d["reason"] and "Traceback" not in d["reason"], d
    by_kind = {name: d for name, d in top_level.items()}
    for name, d in by_kind.items():
        if "zip_bomb" in name or "nested_zip" in name:
            assert d["status"] == "rejected" and d["reason"].startswith("archive_limit"), d
        if "nul_bytes" in name:
            assert d["status"] == "rejected", d
    unsafe = [d for d in view.documents if "zip_unsafe_names" in d["path"] and "::" in d["path"]]
    assert any(d["reason"] and d["reason"].startswith("unsafe_name") for d in unsafe), unsafe
    assert good.documents[0]["status"] == "indexed"  # the worker (and its parser) lived through all of it
