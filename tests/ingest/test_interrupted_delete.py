"""A deletion killed half-way (its chunks gone from the index, its catalog entry and upload still there) is finished
by the next process that opens the data: nothing is left listed without its chunks, nor kept after the delete."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from benchmarks.common import ROOT
from core.failpoints import Failpoints
from core.settings import FaultSettings
from ingest.pipeline import IngestTarget, store_name
from tests.conftest import open_root

TARGET = IngestTarget(tenant="default", collection="default", strategy="sentence")


def test_unknown_failpoints_are_refused():
    with pytest.raises(ValueError, match="unknown failpoint"):
        Failpoints(FaultSettings(hold_at={"nowhere"}))


@pytest.mark.integration
def test_a_delete_killed_half_way_is_finished_by_the_next_process(settings, bge, parser, tmp_path):
    keep, gone = tmp_path / "keep.md", tmp_path / "gone.md"
    keep.write_text("Cairn keeps the documents nobody deleted. " * 20)
    gone.write_text("This document is deleted while its process is killed. " * 20)
    with open_root(settings, bge, parser) as root:
        kept = root.ingest.ingest(keep, display=keep.name, source=str(keep), target=TARGET)
        doomed = root.ingest.ingest(gone, display=gone.name, source=str(gone), target=TARGET)

    marker = tmp_path / "failpoints.log"
    env = {**os.environ, "CAIRN_DATA_DIR": str(settings.data_dir), "CAIRN_FAULTS__HOLD_AT": '["delete"]',
           "CAIRN_FAULTS__MARKER": str(marker), "CAIRN_FAULTS__HOLD_S": "60"}
    deleting = subprocess.Popen([sys.executable, "-m", "api.cli", "documents", "delete", doomed.document_id], cwd=ROOT,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while not (marker.exists() and marker.read_text()):
        assert deleting.poll() is None and time.monotonic() < deadline, deleting.stdout.read().decode()[-2000:]
        time.sleep(0.05)
    assert json.loads(marker.read_text())["document_id"] == doomed.document_id
    os.killpg(deleting.pid, signal.SIGKILL)  # the chunks are gone, the catalog entry is not
    deleting.wait(30)

    name = store_name(settings.qdrant.prefix, TARGET.collection, TARGET.strategy)
    with open_root(settings, bge, parser) as root:
        assert root.catalog.get("default", doomed.document_id) is not None  # half-deleted: listed, no chunks
        assert root.store.count(name, doomed.document_id) == 0
        assert root.resume_deletions() == 1
        assert root.catalog.get("default", doomed.document_id) is None
        assert root.catalog.pending_deletions() == []
        assert root.resume_deletions() == 0
        assert root.catalog.get("default", kept.document_id) is not None
        assert root.store.count(name, kept.document_id) == kept.chunks
        assert root.store.count(name) == kept.chunks
