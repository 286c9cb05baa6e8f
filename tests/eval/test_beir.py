"""The IR metrics, and a small SciFact slice through `eval.beir` as a quality gate: a change that lowers
retrieval quality fails here (thresholds a little below today's figures on this slice)."""

from __future__ import annotations

import json
import math

import pytest

from core.settings import Settings
from eval import beir
from eval.abstention import auroc
from tests.conftest import SHARED_DATA, open_root

SCIFACT = SHARED_DATA / "beir" / "scifact"
# Today's nDCG@10 on this slice (30 queries, their evidence plus 90 other abstracts): dense 0.985, sparse 0.894,
# hybrid 0.941. A small corpus is easy; the gate catches a broken embedder, tokenizer, fusion or chunk mapping.
GATE = {"dense": 0.95, "sparse": 0.86, "hybrid": 0.91}


def test_metrics_on_hand_made_rankings():
    relevant = {"a": 1, "b": 1}
    assert beir.ndcg_at(["a", "b", "c"], relevant) == pytest.approx(1.0)
    assert beir.ndcg_at(["c", "a"], relevant) == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert beir.ndcg_at(["c"], relevant) == 0.0
    assert beir.recall_at(["a", "c"], relevant) == 0.5 and beir.mrr_at(["c", "b"], relevant) == 0.5
    assert beir.mrr_at(["c"] * 10 + ["a"], relevant) == 0.0  # beyond the cut-off
    assert auroc([0.9, 0.8], [0.1, 0.2]) == 1.0 and auroc([0.1], [0.9]) == 0.0 and auroc([0.5], [0.5]) == 0.5


def make_slice(folder, queries: int = 30, others: int = 90):
    data = beir.load(SCIFACT, "test")
    chosen = sorted(data.queries)[:queries]
    keep = {d for q in chosen for d in data.qrels[q]}
    keep |= set([d for d in data.corpus if d not in keep][:others])
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(data.corpus[d]) + "\n" for d in sorted(keep)))
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": data.queries[q]}) + "\n" for q in chosen))
    rows = [f"{q}\t{d}\t{s}" for q in chosen for d, s in data.qrels[q].items()]
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\r\n" + "\r\n".join(rows) + "\r\n")
    (folder / "extra").mkdir()  # SciFact's own labels of the chosen claims (evidence or not enough info)
    labels = [line for line in (SCIFACT / "extra" / "claims_dev.jsonl").read_text().splitlines() if json.loads(line)["id"] in chosen]
    (folder / "extra" / "claims_dev.jsonl").write_text("".join(line + "\n" for line in labels))
    return folder


def test_scifact_slice_quality_gate(tmp_path, bge, parser):
    folder = make_slice(tmp_path / "scifact-slice")
    with open_root(Settings(data_dir=tmp_path / "data", _env_file=None), bge, parser) as runtime:
        result = beir.run(runtime.eval_services(), folder, modes=("dense", "sparse", "hybrid"))
    print(json.dumps(result["modes"]))
    assert result["queries"] == 30 and result["versions"]["strategy"] == "sentence"
    assert result["ndcg@10"] == result["modes"]["hybrid"]["ndcg@10"]  # hybrid is what search does by default
    for mode, floor in GATE.items():
        assert result["modes"][mode]["ndcg@10"] >= floor, (mode, result["modes"][mode])
