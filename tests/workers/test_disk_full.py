"""A data disk that fills up while a document is being ingested (a tmpfs-limited data dir): the item is retried,
not failed as a defect nor left hanging, reads go on serving, the index is not corrupted, and the document is
indexed once there is space again (issue 24, item 3)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid

import pytest
from celery.signals import task_retry

from core.settings import Settings
from core.types import DiskFull, TransientError, is_disk_full
from ingest.pipeline import store_name
from tests.conftest import open_root
from workers.inprocess import InProcessWorker
from workers.submit import collect_files

MOSS = "Moss grows on the north side of trees in damp forests."
LICHEN = "Lichen is a partnership of a fungus and an alga, living together on bare rock. " * 1500


def test_full_disk_errors_are_recognised():
    assert is_disk_full(OSError(28, "No space left on device"))
    assert is_disk_full(RuntimeError("(sqlite3.OperationalError) database or disk is full"))
    try:
        try:
            raise OSError(28, "No space left on device")
        except OSError as inner:
            raise RuntimeError("the shard could not be written") from inner
    except RuntimeError as outer:
        assert is_disk_full(outer)
    assert not is_disk_full(ValueError("not a disk problem")) and issubclass(DiskFull, TransientError)


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"a tmpfs cannot be mounted here ({done.stderr.strip()}); run the test command as root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(mount, leave: int) -> os.PathLike:
    filler = mount / f"filler-{uuid.uuid4().hex}"
    with open(filler, "wb") as sink:
        try:
            while True:
                sink.write(b"\0" * (1 << 20))
                sink.flush()
        except OSError:
            pass
    os.truncate(filler, max(0, os.path.getsize(filler) - leave))
    return filler


@pytest.mark.slow
def test_a_full_disk_mid_document_is_retried_and_resumes_once_there_is_space(small_disk, tmp_path, bge, parser):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "moss.txt").write_text(MOSS)
    (docs / "lichen.txt").write_text(LICHEN)
    settings = Settings(data_dir=small_disk / "data", worker={"concurrency": 1}, _env_file=None)
    with open_root(settings, bge, parser) as root:
        worker = InProcessWorker(root.celery, 1)
        root.open_ingestion()
        worker.start()
        try:
            def submit(path) -> str:
                return root.submitter.submit(collect_files([path]), tenant="default", collection="default", strategy="sentence")

            first = submit(docs / "moss.txt")
            deadline = time.monotonic() + 60
            while not root.jobs.is_finished(first):
                assert time.monotonic() < deadline
                time.sleep(0.1)
            retried = threading.Event()
            reasons: list[str] = []

            def on_retry(request=None, reason=None, **_):
                reasons.append(str(reason))
                retried.set()

            task_retry.connect(on_retry, weak=False)
            filler = fill(small_disk, leave=40_000)  # the job's rows fit; the document's text and vectors do not
            with pytest.raises(OSError):  # the disk is full indeed for anything the size of the document
                (small_disk / "probe").write_bytes(bytes(100_000))
            (small_disk / "probe").unlink()
            second = submit(docs / "lichen.txt")
            assert retried.wait(120), root.jobs.get(second)  # the attempt met the full disk: retried, not failed
            assert "disk is full" in reasons[0], reasons
            assert not root.jobs.is_finished(second)
            assert [h.source for h in root.search.search("moss", tenant="default", collection="default")][:1] == [
                str((docs / "moss.txt").resolve())]  # reads go on
            os.unlink(filler)
            deadline = time.monotonic() + 180
            while not root.jobs.is_finished(second):
                assert time.monotonic() < deadline, root.jobs.get(second)
                time.sleep(0.2)
            (outcome,) = root.jobs.get(second).documents
            assert outcome["status"] == "indexed", outcome
            hits = root.search.search("lichen fungus alga", tenant="default", collection="default")
            assert hits and hits[0].source.endswith("lichen.txt")
            document = root.catalog.get("default", outcome["document_id"])
            name = store_name(settings.qdrant.prefix, "default", "sentence")
            assert root.store.count(name, document.id) == outcome["chunks"] == len(root.store.chunks(name, document.id))
        finally:
            task_retry.disconnect(on_retry)
            worker.stop()
