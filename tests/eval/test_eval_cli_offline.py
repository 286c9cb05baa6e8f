"""`cairn eval chunking` and `cairn eval beir` from the command line with the network cut off (ragas, matplotlib
and the models must not reach out), each writing its run folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import SHARED_DATA
from tests.eval.test_beir import make_slice
from tests.test_cli_ingest_docs import offline_prefix


def run_offline(tmp_path, *arguments: str) -> dict:
    env = {**os.environ, "CAIRN_DATA_DIR": str(tmp_path / "data")}
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "DO_NOT_TRACK", "RAGAS_DO_NOT_TRACK", "TIKTOKEN_CACHE_DIR"):
        env.pop(key, None)  # the code must switch these on itself
    out = tmp_path / "results"
    command = [*offline_prefix(), sys.executable, "-m", "api.cli", "eval", *arguments, "--out", str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    run = out / (out / "latest").read_text().strip()
    assert {"results.json", "report.md"} <= {p.name for p in run.iterdir()} and any(run.glob("*.png"))
    return json.loads((run / "results.json").read_text())


@pytest.mark.slow
def test_eval_chunking_and_beir_run_offline(tmp_path):
    chunking = run_offline(
        tmp_path, "chunking", str(SHARED_DATA / "chunking"), "--variants", "sentence-256-32",
        "--corpora", "state_of_the_union", "--limit", "3",
    )
    assert chunking["questions"] == 3 and chunking["variants"]["sentence-256-32"]["recall@k"] > 0
    beir = run_offline(tmp_path, "beir", str(make_slice(tmp_path / "scifact", queries=5, others=10)), "--modes", "hybrid")
    assert beir["queries"] == 5 and beir["ndcg@10"] > 0.5
