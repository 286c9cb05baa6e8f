"""`cairn ingest ../shared/data/docs --json`, with the network cut off: every file gets an outcome, bad ones a
specific reason, and a second run re-embeds nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import DOCS

EXPECTED_REJECTIONS = {
    "empty.txt": "empty:",
    "fake-text-all-whitespace.txt": "no_text:",
    "password.pdf": "encrypted:",
}


def offline_prefix() -> list[str]:
    """`unshare -n` gives the command a network namespace with no interfaces: any download attempt fails."""
    if shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0:
        return ["unshare", "-n"]
    pytest.fail("cannot cut the network off here (`unshare -n` failed); the offline guarantee would go unchecked")


def run_cli(data_dir, *arguments: str):
    env = {**os.environ, "CAIRN_DATA_DIR": str(data_dir)}
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "DO_NOT_TRACK", "SCARF_NO_ANALYTICS"):
        env.pop(key, None)  # the code must switch these on itself
    command = [*offline_prefix(), sys.executable, "-m", "api.cli", *arguments, "--json"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Traceback" not in done.stderr, done.stderr[-4000:]
    return json.loads(done.stdout)


def run_ingest(data_dir) -> list[dict]:
    return run_cli(data_dir, "ingest", str(DOCS))


@pytest.mark.slow
def test_every_messy_document_gets_an_outcome_offline_and_rerun_is_unchanged(tmp_path):
    first = run_ingest(tmp_path / "data")
    by_name = {entry["path"].removeprefix(str(DOCS) + "/"): entry for entry in first}
    files = sorted(p.name for p in DOCS.iterdir())
    assert len(files) == 34
    assert set(files) <= set(by_name), set(files) - set(by_name)
    for entry in first:
        assert entry["status"] in {"indexed", "rejected"}, entry
        if entry["status"] == "rejected":
            assert entry["reason"] and "Traceback" not in entry["reason"]
        else:
            assert entry["chunks"] > 0
    for name, prefix in EXPECTED_REJECTIONS.items():
        assert by_name[name]["status"] == "rejected" and by_name[name]["reason"].startswith(prefix), by_name[name]
    indexed = {name for name, e in by_name.items() if e["status"] == "indexed"}
    assert len(indexed) >= 28  # every readable format: PDF, DOCX, ODT, RTF, PPTX, HTML, EML, MSG, EPUB, XLSX, CSV...
    assert {"simple.zip::ideas-page.html", "simple.zip::stanley-cups.csv"} <= indexed

    second = run_ingest(tmp_path / "data")
    again = {entry["path"].removeprefix(str(DOCS) + "/"): entry for entry in second}
    assert {name for name, e in again.items() if e["status"] == "unchanged"} == indexed
    assert sum(e["chunks"] for e in second) == 0
    assert {name: again[name]["status"] for name in EXPECTED_REJECTIONS} == dict.fromkeys(EXPECTED_REJECTIONS, "rejected")

    # asking works offline too (reranker and sentence model load from packages), with an exact citation
    answer = run_cli(tmp_path / "data", "ask", "When was Iwan Roberts born?")
    assert set(answer) >= {"id", "answer", "citations", "confidence", "fallback", "review_id", "timings_ms"}
    assert answer["citations"] and "1968" in answer["answer"], answer
