"""The abstention eval on a small SciFact slice, and the bound it reports on what any judge could reach."""

from __future__ import annotations

from core.settings import AnswerSettings, Settings
from eval import abstention
from tests.conftest import open_runtime
from tests.eval.test_beir import make_slice


def test_lowest_false_abstention_counts_claims_that_see_the_same_passages_both_ways():
    # 100 answerable, 100 evidence-removed, 40 off-topic: 90% recall needs 126 abstentions. With 26 claims whose
    # evidence is not read, at most 40 + 74 come free; 12 must come from those pairs, each also a false abstention.
    assert abstention.lowest_false_abstention(100, 100, 40, identical=26) == 0.12
    assert abstention.lowest_false_abstention(100, 100, 40, identical=14) == 0.0  # 40 + 86 = 126: reachable
    assert abstention.lowest_false_abstention(100, 100, 40, identical=15) == 0.01
    assert abstention.lowest_false_abstention(10, 10, 0, identical=10) == 0.9  # nothing read: no judge can tell


def test_abstention_eval_reports_per_claim_decisions_and_where_the_evidence_ranks(tmp_path, bge, parser):
    folder = make_slice(tmp_path / "scifact-slice", queries=12, others=36)
    # One passage read, so that some claims' evidence is not read: those must get the same answer both ways.
    settings = Settings(data_dir=tmp_path / "data", answer=AnswerSettings(passages=1), _env_file=None)
    with open_runtime(settings, bge, parser) as runtime:
        result = abstention.run(runtime, folder, limit=12)
    claims = result["claims"]
    assert len(claims) == result["answerable"] == result["unanswerable_evidence_removed"] == 12
    assert result["passages_read"] == 1
    read = [c["evidence_rank"] == 1 for c in claims]
    assert result["evidence_read"] == round(sum(read) / 12, 4) == result["evidence_within"]["1"]
    assert result["evidence_within"]["1"] <= result["evidence_within"]["4"] <= result["evidence_within"]["20"]
    unread = [c for c, r in zip(claims, read, strict=True) if not r]
    assert unread, "the slice should hold claims whose evidence is not the first passage"
    for c in unread:  # the evidence was not among the passages read, so removing it changes nothing
        assert c["answerable"] == c["evidence_removed"], c
    assert result["false_abstention"] == round(sum(c["answerable"]["abstained"] for c in claims) / 12, 4)
    assert result["lowest_false_abstention_at_target"] == abstention.lowest_false_abstention(
        12, 12, result["unanswerable_off_topic"], len(unread))
