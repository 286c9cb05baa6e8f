"""The abstention eval on a small SciFact slice, and the bound it reports on what any judge could reach."""

from __future__ import annotations

import json
from types import SimpleNamespace

from core.settings import AnswerSettings, RetrievalSettings, Settings
from eval import abstention
from tests.conftest import open_root
from tests.eval.test_beir import make_slice


def test_lowest_false_abstention_counts_claims_that_see_the_same_passages_both_ways():
    # 100 answerable, 100 evidence-removed, 40 off-topic: 90% recall needs 126 abstentions. With 26 claims whose
    # evidence is not read, at most 40 + 74 come free; 12 must come from those pairs, each also a false abstention.
    assert abstention.lowest_false_abstention(100, 100, 40, identical=26) == 0.12
    assert abstention.lowest_false_abstention(100, 100, 40, identical=14) == 0.0  # 40 + 86 = 126: reachable
    assert abstention.lowest_false_abstention(100, 100, 40, identical=15) == 0.01
    assert abstention.lowest_false_abstention(10, 10, 0, identical=10) == 0.9  # nothing read: no judge can tell


def test_answerable_claims_are_those_with_evidence_and_not_enough_info_claims_are_apart(tmp_path):
    data = SimpleNamespace(queries={"1": "a", "2": "b", "3": "c"}, corpus={"d1": {}, "d2": {}},
                           qrels={"1": {"d1": 1}, "2": {"d2": 1}, "3": {"d2": 1}})
    assert abstention.evidence_labels(tmp_path, data) == ({"1": {"d1"}, "2": {"d2"}, "3": {"d2"}}, [], "qrels")
    (tmp_path / "extra").mkdir()
    claims = [{"id": "1", "evidence": {"d1": [{"label": "SUPPORT", "sentences": [0]}]}},
              {"id": "2", "evidence": {}, "cited_doc_ids": ["d2"]},  # not enough info, though qrels list d2
              {"id": "3", "evidence": {"gone": [{"label": "CONTRADICT", "sentences": [1]}]}},  # evidence not in corpus
              {"id": "9", "evidence": {"d1": []}}]  # not a test claim
    (tmp_path / "extra" / "claims_dev.jsonl").write_text("".join(json.dumps(c) + "\n" for c in claims))
    assert abstention.evidence_labels(tmp_path, data) == ({"1": {"d1"}}, ["2", "3"], "extra/claims_dev.jsonl")


def test_abstention_eval_reports_per_claim_decisions_and_where_the_evidence_ranks(tmp_path, bge, parser):
    folder = make_slice(tmp_path / "scifact-slice", queries=12, others=36)  # 10 claims with evidence, 2 without
    # One passage read, so that some claims' evidence is not read: those must get the same answer both ways. Ranked
    # by RRF: DBSF (the default) puts every claim's evidence of this small slice first.
    settings = Settings(data_dir=tmp_path / "data", answer=AnswerSettings(passages=1), retrieval=RetrievalSettings(fusion="rrf"),
                        _env_file=None)
    with open_root(settings, bge, parser) as runtime:
        result = abstention.run(runtime.eval_services(), folder, limit=12)
    claims = result["claims"]
    assert result["evidence_labels"] == "extra/claims_dev.jsonl"
    assert len(claims) == result["answerable"] == result["unanswerable_evidence_removed"] == 10
    assert result["not_enough_info"] == 2 and result["abstention_not_enough_info"] in (0.0, 0.5, 1.0)
    assert result["passages_read"] == 1
    assert result["evidence_read"] == round(sum(c["evidence_read"] for c in claims) / 10, 4)
    assert result["evidence_within"]["1"] <= result["evidence_within"]["4"] <= result["evidence_within"]["20"]
    same = [c for c in claims if c["same_passages"]]
    assert same, "the slice should hold claims whose evidence is not the passage read"
    assert not any(c["evidence_read"] for c in same)  # reading the evidence, the removal must change what is read
    for c in same:  # the same passage read both ways: the same sentences and logits; only the search score differs,
        # and hiding documents the answer did not read can only lift the read passage in both rankings (RRF)
        assert c["evidence_removed"]["confidence"] >= c["answerable"]["confidence"], c
    assert result["same_passages_both_ways"] == len(same)
    assert result["false_abstention"] == round(sum(c["answerable"]["abstained"] for c in claims) / 10, 4)
    assert result["lowest_false_abstention_at_target"] == abstention.lowest_false_abstention(
        10, 10, result["unanswerable_off_topic"], len(same))
